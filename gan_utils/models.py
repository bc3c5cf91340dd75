"""Generator and discriminator builders.

Every builder returns a plain functional ``keras.Model``:
- generators map z: float32 [B, latent_dim] to images float32 [B, H, W, C] in
  [-1, 1] (tanh output);
- discriminators map images [B, H, W, C] to one logit per image, [B, 1] (no
  sigmoid: the losses work on logits).
Any pair with these signatures, built by hand with Keras, trains through
``gan_utils.GAN`` too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers


def check_image_shape(image_shape) -> tuple[int, int, int]:
    """Validate ``(height, width, channels)`` and return it as a tuple of ints."""
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
    if shape is None or len(shape) != 3 or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
    ):
        raise ValueError(
            f"image_shape must be (height, width, channels) of positive ints, got {image_shape!r}; "
            "MNIST is (28, 28, 1)"
        )
    return shape  # type: ignore[return-value]


def check_positive(name: str, value) -> int:
    """Validate a positive integer hyper-parameter."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_widths(name: str, widths: Sequence[int]) -> tuple[int, ...]:
    widths = tuple(widths)
    if not widths:
        raise ValueError(f"{name} needs at least one hidden layer width")
    for w in widths:
        check_positive(f"each of {name}", w)
    return widths


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
    widths = _check_widths("hidden", hidden)
    z = keras.Input((latent_dim,), name="z")
    x = z
    for i, width in enumerate(widths):
        x = layers.Dense(width, name=f"dense_{i}")(x)
        if batch_norm and i > 0:
            x = layers.BatchNormalization(momentum=0.8, name=f"bn_{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu_{i}")(x)
    x = layers.Dense(math.prod(shape), activation="tanh", name="to_pixels")(x)
    # Output in float32 so that samples stay float32 under mixed precision.
    image = layers.Reshape(shape, name="image", dtype="float32")(x)
    return keras.Model(z, image, name=name)


def build_mlp_discriminator(
    image_shape: Sequence[int] = (28, 28, 1),
    hidden: Sequence[int] = (512, 256),
    dropout: float = 0.3,
    name: str = "mlp_discriminator",
) -> keras.Model:
    """Fully connected discriminator: image -> Dense/LeakyReLU(0.2)/Dropout -> one logit.

    Args:
        image_shape: (H, W, C) of the input images, float in [-1, 1].
        hidden: widths of the hidden Dense layers.
        dropout: dropout rate after every hidden layer (0 turns it off).
        name: model name.

    Returns:
        keras.Model: float32 [B, H, W, C] -> logits float32 [B, 1].
    """
    shape = check_image_shape(image_shape)
    widths = _check_widths("hidden", hidden)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    image = keras.Input(shape, name="image")
    x = layers.Flatten(name="flatten")(image)
    for i, width in enumerate(widths):
        x = layers.Dense(width, name=f"dense_{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    logit = layers.Dense(1, name="logit", dtype="float32")(x)
    return keras.Model(image, logit, name=name)
