"""MLP generator and discriminator (Goodfellow et al., 2014): fully connected networks on flattened images."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers

from .common import (
    check_bools,
    check_image_shape,
    check_positive,
    check_widths,
    generator_batch_norm,
    spectral,
)
from .layers import MinibatchStdDev


def build_mlp_generator(
    latent_dim: int = 100,
    image_shape: Sequence[int] = (28, 28, 1),
    hidden: Sequence[int] = (256, 512, 1024),
    batch_norm: bool = True,
    name: str = "mlp_generator",
) -> keras.Model:
    """Fully connected generator: z -> Dense/LeakyReLU(0.2) x len(hidden) -> tanh image.

    Args:
        latent_dim: size of z.
        image_shape: (H, W, C) of the images to produce.
        hidden: widths of the hidden Dense layers, first to last.
        batch_norm: BatchNorm after every hidden layer but the first.
        name: model name.

    Returns:
        keras.Model: float32 [B, latent_dim] -> float32 [B, H, W, C] in [-1, 1].
    """
    check_positive("latent_dim", latent_dim)
    shape = check_image_shape(image_shape)
    widths = check_widths("hidden", hidden)
    z = keras.Input((latent_dim,), name="z")
    x = z
    for i, width in enumerate(widths):
        x = layers.Dense(width, name=f"dense_{i}")(x)
        if batch_norm and i > 0:
            x = generator_batch_norm(f"bn_{i}", momentum=0.8)(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu_{i}")(x)
    x = layers.Dense(math.prod(shape), activation="tanh", name="to_pixels")(x)
    # Output in float32 so that samples stay float32 under mixed precision.
    image = layers.Reshape(shape, name="image", dtype="float32")(x)
    return keras.Model(z, image, name=name)


def mlp_discriminator_head(x, widths: Sequence[int], dropout: float = 0.0, spectral_norm: bool = False,
                           minibatch_std: bool = False):
    """Dense/LeakyReLU(0.2)/Dropout blocks then Dense(1), applied to features ``x`` [B, F]: returns the logits.

    Shared by ``build_mlp_discriminator`` and the 2-D toy discriminator (``gan_utils.toy``).
    ``spectral_norm`` wraps every Dense in ``SpectralNorm``; ``minibatch_std`` puts a
    ``MinibatchStdDev`` ("minibatch_std") before the logit layer.
    """
    for i, width in enumerate(widths):
        x = spectral(layers.Dense(width, name=f"dense_{i}"), spectral_norm)(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    if minibatch_std:
        x = MinibatchStdDev(name="minibatch_std")(x)
    return spectral(layers.Dense(1, name="logit", dtype="float32"), spectral_norm)(x)


def build_mlp_discriminator(
    image_shape: Sequence[int] = (28, 28, 1),
    hidden: Sequence[int] = (512, 256),
    dropout: float = 0.0,
    name: str = "mlp_discriminator",
    spectral_norm: bool = False,
    minibatch_std: bool = False,
) -> keras.Model:
    """Fully connected discriminator: image -> Dense/LeakyReLU(0.2)/Dropout -> one logit.

    Args:
        image_shape: (H, W, C) of the input images, float in [-1, 1].
        hidden: widths of the hidden Dense layers.
        dropout: dropout rate after every hidden layer (0 turns it off).
        name: model name.
        spectral_norm: wrap every Dense layer in ``SpectralNorm`` (Miyato et al., 2018);
            the wrappers keep the layers' names.
        minibatch_std: append the minibatch standard deviation as one more feature
            before the logit layer (``MinibatchStdDev``, Karras et al., 2018).

    Returns:
        keras.Model: float32 [B, H, W, C] -> logits float32 [B, 1].
    """
    shape = check_image_shape(image_shape)
    widths = check_widths("hidden", hidden)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    check_bools(spectral_norm=spectral_norm, minibatch_std=minibatch_std)
    image = keras.Input(shape, name="image")
    x = layers.Flatten(name="flatten")(image)
    logit = mlp_discriminator_head(x, widths, dropout, spectral_norm, minibatch_std)
    return keras.Model(image, logit, name=name)

