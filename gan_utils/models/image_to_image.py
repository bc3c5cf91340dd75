"""Image-to-image networks of pix2pix (Isola et al., 2017): a U-Net generator and a PatchGAN discriminator.

- ``build_unet_generator``: input image [B, H, W, C_in] -> output image [B, H, W, C_out]
  in [-1, 1]. An encoder halves the size twice, a decoder doubles it back, and each
  decoder level is joined to the encoder level of the same size (skip connections),
  so fine detail of the input need not squeeze through the bottleneck.
- ``build_patchgan_discriminator``: ``[image, condition]`` -> a map of logits
  [B, H / 2**k, W / 2**k, 1], one per overlapping patch: "is this patch of the image
  real, given this patch of the input?"

Both work at any size divisible by 4 (by ``2**downsamples`` for the discriminator) and
any channel count. The builders here are sized for 28 x 28 digits on a CPU.
"""

from __future__ import annotations

import keras
from keras import layers

from .common import check_image_shape, check_positive, generator_batch_norm

NORMS = ("batch", None)


def _check_size(shape, factor: int, what: str) -> tuple[int, int, int]:
    shape = check_image_shape(shape)
    if shape[0] % factor or shape[1] % factor:
        raise ValueError(f"{what} {shape} must have a height and width divisible by {factor} (it is halved "
                         f"{factor.bit_length() - 1} times); pad or crop the images, e.g. 28 or 32, not 30")
    return shape


def _check_dropout(dropout) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a rate in [0, 1), got {dropout!r}")
    return float(dropout)


def build_unet_generator(input_shape=(28, 28, 1), output_channels: int | None = None, width: int = 32,
                         bottleneck_convs: int = 1, dropout: float = 0.0, name: str = "unet_generator") -> keras.Model:
    """A U-Net (Ronneberger et al., 2015) in pix2pix's style: input image -> output image.

    Encoder (LeakyReLU 0.2): 3x3 conv (``width``) at full size, then two 4x4 stride-2
    convs (2 and 4 x ``width``) with BatchNorm; ``bottleneck_convs`` 3x3 convs at a quarter size.
    Decoder (ReLU): two 4x4 stride-2 transposed convs (2 and 1 x ``width``) with BatchNorm,
    each fed the previous level joined to the encoder's output of the same size; a
    final 3x3 conv to ``output_channels`` with tanh.

    Args:
        input_shape: (H, W, C_in), H and W divisible by 4.
        output_channels: C_out (default C_in).
        width: channels of the first level (the others are 2x and 4x).
        bottleneck_convs: 3x3 convs (with BatchNorm, ReLU) at a quarter size. Each widens what
            one bottleneck unit sees by 8 pixels: 12 x 12 after the encoder, 20 x 20 with 1,
            28 x 28 (a whole MNIST digit) with 2.
        dropout: dropout rate after the bottleneck and the first decoder level
            (pix2pix uses 0.5 as its only source of noise; 0 gives a deterministic map).

    Returns:
        A functional model: float32 [B, H, W, C_in] in [-1, 1] -> float32 [B, H, W, C_out] in [-1, 1].
    """
    h, w, c = _check_size(input_shape, 4, "the U-Net's input_shape")
    out_c = check_positive("output_channels", c if output_channels is None else output_channels)
    width = check_positive("width", width)
    dropout = _check_dropout(dropout)
    if isinstance(bottleneck_convs, bool) or not isinstance(bottleneck_convs, int) or bottleneck_convs < 0:
        raise ValueError(f"bottleneck_convs must be an integer >= 0, got {bottleneck_convs!r}")

    x = keras.Input((h, w, c), name="input_image")
    e0 = layers.LeakyReLU(0.2, name="enc0_act")(layers.Conv2D(width, 3, padding="same", name="enc0_conv")(x))
    e1 = _down(e0, 2 * width, "enc1")
    e2 = _down(e1, 4 * width, "enc2")
    b = e2
    for i in range(bottleneck_convs):
        b = layers.Conv2D(4 * width, 3, padding="same", use_bias=False, name=f"bottleneck{i}_conv")(b)
        b = layers.ReLU(name=f"bottleneck{i}_act")(generator_batch_norm(f"bottleneck{i}_bn")(b))
    if dropout:
        b = layers.Dropout(dropout, name="bottleneck_dropout")(b)
    d1 = _up(layers.Concatenate(name="skip2")([b, e2]), 2 * width, "dec1")
    if dropout:
        d1 = layers.Dropout(dropout, name="dec1_dropout")(d1)
    d0 = _up(layers.Concatenate(name="skip1")([d1, e1]), width, "dec0")
    y = layers.Conv2D(out_c, 3, padding="same", name="output_conv")(layers.Concatenate(name="skip0")([d0, e0]))
    y = layers.Activation("tanh", dtype="float32", name="output_image")(y)
    return keras.Model(x, y, name=name)


def _down(x, filters: int, name: str):
    x = layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return layers.LeakyReLU(0.2, name=f"{name}_act")(generator_batch_norm(f"{name}_bn")(x))


def _up(x, filters: int, name: str):
    x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False, name=f"{name}_deconv")(x)
    return layers.ReLU(name=f"{name}_act")(generator_batch_norm(f"{name}_bn")(x))


def patch_receptive_field(downsamples: int) -> int:
    """Pixels (per side) of the input each logit of ``build_patchgan_discriminator`` sees.

    ``downsamples`` 4x4 stride-2 convs, then one 3x3 stride-1 conv: 28 x 28 digits with
    2 downsamples give 7 x 7 logits of 18 x 18 pixels each.
    """
    check_positive("downsamples", downsamples)
    field, jump = 1, 1
    for kernel, stride in [(4, 2)] * downsamples + [(3, 1)]:
        field += (kernel - 1) * jump
        jump *= stride
    return field


def build_patchgan_discriminator(image_shape=(28, 28, 1), condition_shape=None, width: int = 32,
                                 downsamples: int = 2, norm: str | None = "batch",
                                 name: str = "patchgan_discriminator") -> keras.Model:
    """A conditional PatchGAN (Isola et al., 2017, sec. 3.2.2): ``[image, condition]`` -> logits per patch.

    The image (real target or generator output) and the condition (the generator's
    input) are stacked along channels; ``downsamples`` 4x4 stride-2 convs (LeakyReLU 0.2,
    widths ``width``, 2 x ``width`` ...; BatchNorm after all but the first) and a 3x3 conv
    to one channel give a map of logits, each judging one patch of
    ``patch_receptive_field(downsamples)`` pixels. The loss averages over the patches.

    Args:
        image_shape: (H, W, C_out) of the generator's output, H and W divisible by ``2**downsamples``.
        condition_shape: (H, W, C_in) of the generator's input (default ``image_shape``);
            same height and width as the image.
        width: channels of the first conv.
        downsamples: stride-2 convs (more: larger patches, fewer logits).
        norm: "batch" or None.

    Returns:
        A functional model: ``[image float32 [B, H, W, C_out], condition float32 [B, H, W, C_in]]``
        -> logits float32 [B, H / 2**downsamples, W / 2**downsamples, 1].
    """
    downsamples = check_positive("downsamples", downsamples)
    h, w, c = _check_size(image_shape, 2**downsamples, "the PatchGAN's image_shape")
    cond = check_image_shape(image_shape if condition_shape is None else condition_shape)
    if cond[:2] != (h, w):
        raise ValueError(f"condition_shape {cond} must have the image's height and width {(h, w)}: the "
                         "PatchGAN stacks the two along channels. Resize the input to the output's size")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    width = check_positive("width", width)

    image = keras.Input((h, w, c), name="image")
    condition = keras.Input(cond, name="condition")
    x = layers.Concatenate(name="image_and_condition")([image, condition])
    for i in range(downsamples):
        x = layers.Conv2D(width * 2**i, 4, strides=2, padding="same", use_bias=norm is None or i == 0,
                          name=f"patch{i}_conv")(x)
        if norm == "batch" and i > 0:
            x = layers.BatchNormalization(name=f"patch{i}_bn")(x)
        x = layers.LeakyReLU(0.2, name=f"patch{i}_act")(x)
    logits = layers.Conv2D(1, 3, padding="same", dtype="float32", name="patch_logits")(x)
    return keras.Model([image, condition], logits, name=name)
