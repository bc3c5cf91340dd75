"""Conditional DCGAN builders (Mirza & Osindero, 2014): G(z, y) and D(x, y).

A conditional generator takes ``[z, labels]`` (float32 [B, latent_dim], int32
[B]) and a conditional discriminator ``[images, labels]``; ``gan_utils.GAN``
sees the two inputs and trains them as a conditional pair, through the same
train step as every other model.

Two ways of giving D the label:

- ``"channel"``: embed y, map the embedding to one H x W plane and stack it on
  the image as an extra channel, so every convolution sees the label. Simple
  and common; the label enters at the input.
- ``"projection"`` (Miyato & Koyama, 2018): D(x, y) = psi(phi(x)) + embed(y) . phi(x),
  where phi(x) are D's features, psi a linear layer and embed(y) a learned
  vector per class. This is the form the logit takes when the class-conditional
  densities are log-linear in phi(x), so the label acts on the final features
  as an inner product rather than being learned from a concatenation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

from .common import check_bools, check_positive, spectral
from .dcgan import check_dcgan_args, dcgan_discriminator_features, dcgan_generator_body

LABEL_MODES = ("channel", "projection")


def _labels_input() -> keras.KerasTensor:
    return keras.Input((), dtype="int32", name="labels")


def build_conditional_generator(
    latent_dim: int = 100,
    image_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    width: int = 64,
    kernel_size: int = 4,
    embed_dim: int = 50,
    name: str = "conditional_generator",
    extra_convs: int = 0,
) -> keras.Model:
    """G(z, y): z joined with a learned label embedding, then the DCGAN generator.

    ``[z, y] -> concat(z, Embedding(num_classes, embed_dim)(y)) -> Dense -> BN -> ReLU
    -> reshape -> Conv2DTranspose blocks -> tanh`` (see ``build_dcgan_generator``).

    Args:
        latent_dim: size of z.
        image_shape: (H, W, C), square, e.g. (28, 28, 1) or (32, 32, 3).
        num_classes: number of labels; labels are ints in [0, num_classes).
        width, kernel_size: as in ``build_dcgan_generator``.
        embed_dim: size of the label embedding joined to z.
        name: model name.
        extra_convs: stride-1 3x3 blocks per hidden resolution, as in ``build_dcgan_generator``.

    Returns:
        keras.Model: ``[z float32 [B, latent_dim], labels int32 [B]]`` ->
        float32 [B, H, W, C] in [-1, 1].
    """
    check_positive("latent_dim", latent_dim)
    check_positive("num_classes", num_classes)
    check_positive("embed_dim", embed_dim)
    shape = check_dcgan_args(image_shape, width, kernel_size)
    z = keras.Input((latent_dim,), name="z")
    labels = _labels_input()
    embedded = layers.Embedding(num_classes, embed_dim, name="label_embedding")(labels)
    x = layers.Concatenate(name="z_and_label")([z, embedded])
    return keras.Model([z, labels], dcgan_generator_body(x, shape, width, kernel_size, extra_convs), name=name)


def build_conditional_discriminator(
    image_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    width: int = 64,
    kernel_size: int = 4,
    norm: str | None = "batch",
    dropout: float = 0.0,
    label_mode: str = "channel",
    embed_dim: int = 50,
    name: str = "conditional_discriminator",
    spectral_norm: bool = False,
    minibatch_std: bool = False,
) -> keras.Model:
    """D(x, y): the DCGAN discriminator told the label, as an extra channel or by projection.

    Args:
        image_shape: (H, W, C) of the input images, float in [-1, 1].
        num_classes: number of labels.
        width, kernel_size, norm, dropout: as in ``build_dcgan_discriminator``.
        label_mode: "channel" (embedding -> Dense(H*W) -> one extra input
            channel) or "projection" (logit = psi(phi(x)) + embed(y) . phi(x)).
        embed_dim: embedding size of the "channel" mode (the projection's
            embedding has the size of phi(x)).
        name: model name.
        spectral_norm: wrap every weight layer of D in ``SpectralNorm`` (keeping its
            name): the convolutions, the Dense layers and the label embeddings too,
            as Miyato & Koyama (2018) do for the projection's embedding (an
            embedding is the linear map one_hot(y) -> vector, so it has a spectral norm).
        minibatch_std: insert ``MinibatchStdDev`` before the last convolution (see
            ``build_dcgan_discriminator``).

    Returns:
        keras.Model: ``[images float32 [B, H, W, C], labels int32 [B]]`` -> logits float32 [B, 1].
    """
    check_positive("num_classes", num_classes)
    check_positive("embed_dim", embed_dim)
    if label_mode not in LABEL_MODES:
        raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {label_mode!r}")
    shape = check_dcgan_args(image_shape, width, kernel_size, norm, dropout)
    check_bools(spectral_norm=spectral_norm, minibatch_std=minibatch_std)
    image = keras.Input(shape, name="image")
    labels = _labels_input()
    sn = spectral_norm
    if label_mode == "channel":
        plane = spectral(layers.Embedding(num_classes, embed_dim, name="label_embedding"), sn)(labels)
        plane = spectral(layers.Dense(math.prod(shape[:2]), name="label_to_plane"), sn)(plane)
        plane = layers.Reshape((*shape[:2], 1), name="label_plane")(plane)
        x = layers.Concatenate(name="image_and_label")([image, plane])
        features = dcgan_discriminator_features(x, width, kernel_size, norm, dropout, sn, minibatch_std)
        logit = spectral(layers.Dense(1, dtype="float32", name="logit"), sn)(features)
    else:
        features = dcgan_discriminator_features(image, width, kernel_size, norm, dropout, sn, minibatch_std)
        # The head computes in float32 (like every discriminator's last layer here): the inner product
        # sums thousands of terms, which float16 could overflow.
        unconditional = spectral(layers.Dense(1, dtype="float32", name="psi"), sn)(features)
        class_vector = spectral(layers.Embedding(num_classes, int(features.shape[-1]), dtype="float32",
                                                 name="label_projection"), sn)(labels)
        projection = layers.Dot(axes=-1, dtype="float32", name="projection")([class_vector, features])
        logit = layers.Add(dtype="float32", name="logit")([unconditional, projection])
    return keras.Model([image, labels], logit, name=name)


def label_embedding_walk(generator: keras.Model, z, start: int, end: int, steps: int = 10) -> np.ndarray:
    """Images along the straight line between two class embeddings, for one noise vector each.

    For a generator built by ``build_conditional_generator``: the label enters
    only through its learned embedding e(y), so ``G(z, (1 - t) e(start) + t e(end))``
    is defined for every t in [0, 1], not just for the two classes. The layers
    after the join of z and the embedding are re-applied to each point.

    Args:
        generator: a generator from ``build_conditional_generator``.
        z: float32 [latent_dim] or [M, latent_dim]: one walk per noise vector.
        start, end: the two classes.
        steps: points per walk, ends included.

    Returns:
        float32 [M * steps, H, W, C] in [-1, 1], walk after walk.
    """
    names = [layer.name for layer in generator.layers]
    if "label_embedding" not in names or "z_and_label" not in names:
        raise ValueError("label_embedding_walk needs a generator from build_conditional_generator "
                         "(layers 'label_embedding' and 'z_and_label')")
    check_positive("steps", steps)
    table = keras.ops.convert_to_numpy(generator.get_layer("label_embedding").embeddings)
    for name, label in (("start", start), ("end", end)):
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < len(table):
            raise ValueError(f"{name} label {label!r} must be an int in [0, {len(table)})")
    z = np.atleast_2d(np.asarray(z, np.float32))
    latent_dim = int(generator.inputs[0].shape[-1])
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"z must be [{latent_dim}] or [M, {latent_dim}] (the generator's latent size), "
                         f"got shape {np.shape(z)}")
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    path = (1.0 - t) * table[start] + t * table[end]                       # [steps, embed_dim]
    x = np.concatenate([np.repeat(z, steps, axis=0), np.tile(path, (len(z), 1))], axis=1)
    x = keras.ops.convert_to_tensor(x.astype(np.float32))
    for layer in generator.layers[names.index("z_and_label") + 1:]:
        x = layer(x, training=False)
    return keras.ops.convert_to_numpy(x).astype(np.float32)
