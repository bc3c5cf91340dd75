"""InfoGAN's categorical code (Chen et al., 2016) for any GAN of the collection.

``GAN(..., info_codes=k)`` adds a head Q(c | x) to the discriminator (a Dense
layer with k outputs on D's last feature layer, sharing D's convolutions; with
``info_hidden=h`` a hidden Dense(h) + LeakyReLU before it) and a
term lambda * L_I to both losses, where L_I is the cross-entropy of Q's guess
against the code c = argmax(z_1 ... z_k) that produced G(z)
(``losses.info_loss``). With ``info_labelled=(images, labels)``, a few real
images whose label is the code they should get, D's loss adds lambda times Q's
cross-entropy on them too (semi-supervised InfoGAN, Spurr et al., 2017): code c
then means digit c instead of whatever split the run happens to find. The generator reads the same code off z with a
``layers.CategoricalCode(k)`` layer, so z stays N(0, I) and sampling, saving
and the command line are unchanged. This module checks the pair and builds the
head; the train step lives in ``gan.GAN``.
"""

from __future__ import annotations

import numbers
import warnings

import keras
import numpy as np

from .layers import CategoricalCode
from .losses import default_feature_layer
from .models import check_count


def categorical_code_sizes(generator: keras.Model) -> list[int]:
    """The ``num_codes`` of every ``CategoricalCode`` layer in ``generator`` (nested models included)."""
    return [layer.num_codes for layer in generator._flatten_layers(include_self=False)
            if isinstance(layer, CategoricalCode)]


def check_info_codes(info_codes, info_weight, generator: keras.Model, conditional: bool) -> tuple[int, float]:
    """Validate ``GAN``'s ``info_codes`` and ``info_weight`` against its generator; returns them as (int, float)."""
    if isinstance(info_codes, bool) or not isinstance(info_codes, numbers.Integral) or (
            info_codes != 0 and info_codes < 2):
        raise ValueError(f"info_codes must be 0 (off) or the number of categories k >= 2 (10 for MNIST), "
                         f"got {info_codes!r}")
    if (isinstance(info_weight, bool) or not isinstance(info_weight, numbers.Real)
            or not 0.0 <= float(info_weight) < float("inf")):
        raise ValueError(f"info_weight is lambda, the weight of the mutual-information term, a number >= 0 "
                         f"(InfoGAN uses 1 for a categorical code); got {info_weight!r}")
    info_codes = int(info_codes)
    if not info_codes:
        sizes = categorical_code_sizes(generator)
        if sizes:
            warnings.warn(
                f"the generator reads a categorical code off z with CategoricalCode({', '.join(map(str, sizes))}) but "
                f"info_codes=0, so "
                f"nothing trains the code to mean anything: pass info_codes={sizes[0]} to the GAN, or build the "
                f"generator without categorical_code", UserWarning, stacklevel=3)
        return 0, float(info_weight)
    if conditional:
        raise ValueError("info_codes is for unconditional GANs, which learn their own categories; a conditional "
                         "GAN is given the labels: drop info_codes")
    sizes = categorical_code_sizes(generator)
    if sizes != [info_codes]:
        raise ValueError(
            f"info_codes={info_codes} trains D's head to recover c = argmax(z[:, :{info_codes}]) from G(z), so the "
            f"generator must read that code off z with one CategoricalCode({info_codes}) layer; it has "
            f"{sizes or 'none'}. Build it with build_dcgan_generator(..., categorical_code={info_codes}) or add "
            f"gan_utils.layers.CategoricalCode({info_codes}) after its z input")
    return info_codes, float(info_weight)  # CategoricalCode itself checks that z is wider than the code


def check_info_hidden(info_hidden, info_codes: int) -> int:
    """Validate ``GAN``'s ``info_hidden`` (units of Q's hidden layer, 0 for none); returns it as an int."""
    info_hidden = check_count("info_hidden (units of the code head's hidden layer)", info_hidden,
                              "0: a linear head; InfoGAN uses 128")
    if info_hidden and not info_codes:
        raise ValueError(f"info_hidden={info_hidden} sizes the hidden layer of the code head, which only exists with "
                         "info_codes=k: pass info_codes too, or drop info_hidden")
    return info_hidden


def check_info_labelled(info_labelled, batch_size, info_codes: int, image_shape: tuple):
    """Validate ``GAN``'s ``info_labelled`` and ``info_labelled_batch``.

    Returns (images float32 [N, H, W, C] in [-1, 1], labels int32 [N], batch size),
    or (None, None, batch size) without labelled images.
    """
    from .data import to_float_images

    batch_size = check_count("info_labelled_batch (labelled images per discriminator update)", batch_size,
                             "e.g. 16")
    if info_labelled is None:
        return None, None, batch_size
    if not info_codes:
        raise ValueError("info_labelled guides the code head Q, which only exists with info_codes=k: pass "
                         "info_codes too, or drop info_labelled")
    if not isinstance(info_labelled, (tuple, list)) or len(info_labelled) != 2:
        raise ValueError("info_labelled must be a pair (images, labels): a few real images and, for each, the "
                         "code in [0, k) it should get (for MNIST with info_codes=10, its digit); build it with "
                         "gan_utils.labelled_subset(x_train, y_train, per_class)")
    if not batch_size:
        raise ValueError("info_labelled_batch must be >= 1 (labelled images per discriminator update, e.g. 16)")
    images, labels = to_float_images(info_labelled[0]), np.asarray(info_labelled[1])
    if images.shape[1:] != tuple(image_shape):
        raise ValueError(f"info_labelled images have shape {images.shape[1:]} each, the discriminator takes "
                         f"{tuple(image_shape)}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"info_labelled labels must be integers [N] = [{len(images)}] (one code per image), got "
                         f"{labels.dtype} {labels.shape}")
    missing = sorted(set(range(info_codes)) - set(labels.tolist()))
    outside = sorted(set(labels.tolist()) - set(range(info_codes)))
    if outside or missing:
        raise ValueError(f"info_labelled labels must be codes in [0, {info_codes}) and give every code at least one "
                         f"image; {f'got {outside} outside that range' if outside else f'no image for {missing}'}")
    return images, labels.astype(np.int32), batch_size


def with_code_head(discriminator: keras.Model, info_codes: int,
                   hidden: int = 0) -> tuple[keras.layers.Layer, keras.Model]:
    """(head, model): Q's layers, and D's inputs -> [D's logits, Q's logits float32 [B, k]].

    The model shares every weight of ``discriminator``; the head reads D's last
    feature layer (``losses.default_feature_layer``, the input of its final Dense),
    so one pass gives both outputs. ``hidden`` = 0: the head is one Dense layer
    (Q linear in D's features); ``hidden`` = h > 0: Dense(h), LeakyReLU(0.2), then
    Dense(k), like InfoGAN's Q (Chen et al., 2016, MNIST networks in the appendix: FC 128 before the
    output, there with BatchNorm, left out here so the head matches the critics).
    """
    features = discriminator.get_layer(default_feature_layer(discriminator)).output
    head = keras.layers.Dense(info_codes, dtype="float32", name="code_logits")
    if hidden:
        head = keras.Sequential([keras.layers.Dense(hidden, name="code_hidden"),
                                 keras.layers.LeakyReLU(0.2, name="code_hidden_lrelu"), head], name="code_head")
    inputs = discriminator.inputs if len(discriminator.inputs) > 1 else discriminator.inputs[0]
    model = keras.Model(inputs, [discriminator.outputs[0], head(features)], name=f"{discriminator.name}_with_codes")
    return head, model


def set_code(z, code: int, num_codes: int) -> np.ndarray:
    """A copy of z [B, D] whose categorical code is ``code``: float32 [B, D].

    In each row the entry at ``code`` swaps places with the largest of the first
    ``num_codes`` entries. A swap keeps the values, so z stays a sample of
    N(0, I) given that code, and the other D - k entries (the noise the
    generator reads beside the code) are unchanged.
    """
    if isinstance(num_codes, bool) or not isinstance(num_codes, numbers.Integral) or num_codes < 2:
        raise ValueError(f"num_codes must be an integer >= 2 (the generator's CategoricalCode size), got {num_codes!r}")
    z = np.array(z, np.float32)
    if z.ndim != 2 or z.shape[1] <= num_codes:
        raise ValueError(f"z must be [B, D] with D > {num_codes}, got shape {z.shape}")
    if isinstance(code, bool) or not isinstance(code, numbers.Integral) or not 0 <= code < num_codes:
        raise ValueError(f"code must be an integer in [0, {num_codes}), got {code!r}")
    rows = np.arange(len(z))
    top = np.argmax(z[:, :num_codes], axis=1)
    z[rows, top], z[rows, code] = z[rows, code], z[rows, top].copy()
    return z


def code_grid_images(generator: keras.Model, noise) -> np.ndarray:
    """Images of a generator with a ``CategoricalCode(k)`` for every (code, noise) pair: uint8 [k * M, H, W, C].

    Row c uses code c (``set_code``), column j ``noise[j]`` in every row: the rows
    show what each code learned, the columns what the rest of z does within a code.
    Show it with ``plot_class_grid(images, k)``.

    Args:
        generator: z -> images, with one ``CategoricalCode`` layer.
        noise: float32 [M, latent_dim], one vector per column.
    """
    from .data import to_uint8_images

    sizes = categorical_code_sizes(generator)
    if len(sizes) != 1:
        raise ValueError(f"code_grid_images needs a generator with one CategoricalCode layer, found {len(sizes)}; "
                         "build it with build_dcgan_generator(..., categorical_code=k)")
    k = sizes[0]
    latent_dim = int(generator.inputs[0].shape[-1])
    noise = np.asarray(noise, np.float32)
    if noise.ndim != 2 or noise.shape[1] != latent_dim:
        raise ValueError(f"noise must be [M, {latent_dim}] (the generator's latent size), got shape {noise.shape}")
    z = np.concatenate([set_code(noise, c, k) for c in range(k)])
    return to_uint8_images(np.asarray(generator(z, training=False)))
