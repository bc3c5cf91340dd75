"""InfoGAN (Chen et al., 2016): a GAN whose latent codes must be recoverable from its images.

The generator reads a categorical code c (and optionally continuous codes u) off
z with a ``CategoricalCode`` layer; the discriminator gets a head Q that shares
its body and guesses the codes from an image. Both D (with Q) and G add
lambda * L_I to their losses, L_I = E[-log Q(c, u | G(z))], the variational
bound on the mutual information I(c, u; G(z)) (their Lemma 5.1). With
``labelled=(images, labels)``, D's loss also adds lambda times Q's cross-entropy
on a few real images whose label is the code they should get: the
semi-supervised InfoGAN of Spurr et al. (2017).
"""

from __future__ import annotations

import numbers

import keras
import numpy as np
import tensorflow as tf

from ..models.common import check_count
from ..models.layers import CategoricalCode, continuous_codes, latent_codes
from . import losses
from .checks import check_weight
from .gan import GAN
from .wgan_gp import WGANGP


def code_layers(generator: keras.Model) -> list[CategoricalCode]:
    """The ``CategoricalCode`` layers anywhere in ``generator`` (nested models included)."""
    return [layer for layer in generator._flatten_layers(include_self=False) if isinstance(layer, CategoricalCode)]


def categorical_code_sizes(generator: keras.Model) -> list[int]:
    """The ``num_codes`` of every ``CategoricalCode`` layer in ``generator``."""
    return [layer.num_codes for layer in code_layers(generator)]


class InfoGAN(GAN):
    """A GAN with InfoGAN's codes and their mutual-information term.

    Args:
        generator: z [B, latent_dim] -> images, reading its codes with one
            ``CategoricalCode(categorical, continuous)`` layer
            (``build_dcgan_generator(..., categorical_code=k, continuous_codes=m)``).
        discriminator: images -> logits [B, 1]; Q reads its last feature layer
            (``losses.default_feature_layer``).
        categorical: k, the categories of the categorical code (10 for MNIST).
        continuous: m, the continuous codes (InfoGAN uses 2 on MNIST; 0: none).
        info_weight: lambda, the weight of L_I in both losses (1 in the paper).
        continuous_weight: the weight of the continuous codes' Gaussian term within L_I.
        labelled: optional (images, labels): a few real images (uint8, or floats in
            [-1, 1]) and the categorical code each should get, every code present
            (``labelled_subset`` draws some per class).
        labelled_batch: labelled images per D update.
        **kwargs: ``GAN``'s other arguments (or ``WGANGP``'s, in ``InfoWGANGP``).

    Q predicts the categorical code's logits and, for each continuous code, the mean of
    a unit-variance Gaussian Q(u | x) = N(mean, 1), so the continuous term is
    (u - mean)^2 / 2 plus a constant.

    Metrics: the base class's (``d_loss`` and ``g_loss`` include lambda * L_I),
    ``info_loss`` (L_I of the G updates) and, with ``labelled``, ``labelled_loss``.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, categorical: int = 10,
                 continuous: int = 0, info_weight: float = 1.0, continuous_weight: float = 1.0, labelled=None,
                 labelled_batch: int = 16, **kwargs):
        found = [(layer.num_codes, layer.continuous) for layer in code_layers(generator)]
        if found and any(getattr(layer, "input", None) is not generator.inputs[0] for layer in code_layers(generator)
                         if layer in generator.layers):
            raise ValueError("the generator's CategoricalCode layer must read z itself: apply it directly to the "
                             "z input (keras.Input), so that the codes Q learns to recover are the ones G gets")
        if found != [(categorical, continuous)]:
            raise ValueError(
                f"InfoGAN(categorical={categorical}, continuous={continuous}) needs a generator that reads those codes "
                f"off z with one CategoricalCode({categorical}, continuous={continuous}) layer; it has "
                f"{found or 'none'}. Build it with build_dcgan_generator(..., categorical_code={categorical}, "
                f"continuous_codes={continuous})")
        super().__init__(generator, discriminator, **kwargs)
        if self.conditional:
            raise ValueError("InfoGAN learns its own categories; a conditional GAN is given the labels: use GAN")
        self.categorical, self.continuous = categorical, continuous
        self.info_weight = check_weight("info_weight", info_weight, "lambda; 1 in the paper")
        self.continuous_weight = check_weight("continuous_weight", continuous_weight, "e.g. 1")
        images, labels, self.labelled_batch = check_labelled(labelled, labelled_batch, categorical, self.image_shape)
        # Constants of the compiled step, not state: a resumed run passes the same images again.
        self.labelled = None if images is None else (tf.constant(images), tf.constant(labels))
        self.q_head, self.d_and_q = with_code_head(discriminator, categorical + continuous)
        self.add_metrics("info_loss", *(("labelled_loss",) if self.labelled is not None else ()))

    @property
    def discriminator_variables(self) -> list:
        return [*self.discriminator.trainable_variables, *self.q_head.trainable_variables]

    def q(self, images, training: bool = False):
        """Q's guess: (categorical logits float32 [B, k], means of the continuous codes float32 [B, m])."""
        _, out = self.d_and_q(images, training=training)
        out = tf.cast(out, tf.float32)
        return out[:, :self.categorical], out[:, self.categorical:]

    def information_loss(self, fake, z) -> tf.Tensor:
        """L_I: Q's cross-entropy on the categorical code plus the Gaussian term of the continuous codes."""
        logits, mean = self.q(fake, training=True)
        loss = losses.info_loss(logits, latent_codes(z, self.categorical))
        if self.continuous:  # Q(u | x) = N(mean, 1): a fixed unit variance keeps the term bounded below
            codes = continuous_codes(z, self.categorical, self.continuous)
            loss += self.continuous_weight * losses.gaussian_code_loss(codes, mean, tf.zeros_like(mean))
        return loss

    def labelled_loss(self) -> tf.Tensor:
        """Q's cross-entropy on ``labelled_batch`` labelled images drawn at random."""
        images, codes = self.labelled
        pick = tf.random.stateless_uniform([self.labelled_batch], seed=self.next_seed(), minval=0,
                                           maxval=tf.shape(codes)[0], dtype=tf.int32)
        logits, _ = self.q(tf.gather(images, pick), training=True)
        loss = losses.info_loss(logits, tf.gather(codes, pick))
        self.track(labelled_loss=loss)
        return loss

    def discriminator_loss(self, real, fake, labels=None, z=None) -> tf.Tensor:
        info = self.information_loss(fake, z)
        if self.labelled is not None:
            info += self.labelled_loss()
        return super().discriminator_loss(real, fake, labels, z) + self.info_weight * info

    def generator_loss(self, real, fake, labels=None, z=None) -> tf.Tensor:
        info = self.information_loss(fake, z)
        self.track(info_loss=info)
        return super().generator_loss(real, fake, labels, z) + self.info_weight * info

    def checkpoint_items(self) -> dict:
        return {**super().checkpoint_items(), "q_head": self.q_head}


class InfoWGANGP(InfoGAN, WGANGP):
    """InfoGAN's codes on a WGAN-GP: the critic loss and penalty of ``WGANGP``, plus lambda * L_I.

    Arguments: ``InfoGAN``'s, then ``WGANGP``'s (``d_steps``, ``gp_weight``, ``fresh_real_batches``).
    """


def with_code_head(discriminator: keras.Model, outputs: int) -> tuple[keras.layers.Layer, keras.Model]:
    """(head, model): Q's layer, and D's inputs -> [D's logits, Q's outputs float32 [B, outputs]].

    The model shares every weight of ``discriminator``; Q is one Dense layer on D's
    last feature layer (``losses.default_feature_layer``, the input of its final Dense).
    """
    features = discriminator.get_layer(losses.default_feature_layer(discriminator)).output
    head = keras.layers.Dense(outputs, dtype="float32", name="q_head")
    inputs = discriminator.inputs if len(discriminator.inputs) > 1 else discriminator.inputs[0]
    model = keras.Model(inputs, [discriminator.outputs[0], head(features)], name=f"{discriminator.name}_with_q")
    return head, model


def check_labelled(labelled, batch_size, categorical: int, image_shape: tuple):
    """Validate ``InfoGAN``'s ``labelled`` and ``labelled_batch``.

    Returns (images float32 [N, H, W, C] in [-1, 1], labels int32 [N], batch size),
    or (None, None, batch size) without labelled images.
    """
    from ..data import to_float_images

    batch_size = check_count("labelled_batch (labelled images per discriminator update)", batch_size,
                             "0 is allowed only without labelled images; e.g. 16")
    if labelled is None:
        return None, None, batch_size
    if not isinstance(labelled, (tuple, list)) or len(labelled) != 2:
        raise ValueError("labelled must be a pair (images, labels): a few real images and, for each, the "
                         "code in [0, k) it should get (for MNIST with categorical=10, its digit); build it with "
                         "gan_utils.labelled_subset(x_train, y_train, per_class)")
    if not batch_size:
        raise ValueError("labelled_batch must be >= 1 (labelled images per discriminator update, e.g. 16)")
    images, labels = to_float_images(labelled[0]), np.asarray(labelled[1])
    if images.shape[1:] != tuple(image_shape):
        raise ValueError(f"labelled images have shape {images.shape[1:]} each, the discriminator takes "
                         f"{tuple(image_shape)}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labelled labels must be integers [N] = [{len(images)}] (one code per image), got "
                         f"{labels.dtype} {labels.shape}")
    missing = sorted(set(range(categorical)) - set(labels.tolist()))
    outside = sorted(set(labels.tolist()) - set(range(categorical)))
    if outside or missing:
        raise ValueError(f"labelled labels must be codes in [0, {categorical}) and give every code at least one "
                         f"image; {f'got {outside} outside that range' if outside else f'no image for {missing}'}")
    return images, labels.astype(np.int32), batch_size



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
    from ..data import to_uint8_images

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
