"""DCGAN generator and discriminator (Radford et al., 2016): strided (transposed) convolutions.

Every builder returns a plain functional ``keras.Model``:
- generators map z: float32 [B, latent_dim] to images float32 [B, H, W, C] in
  [-1, 1] (tanh output);
- discriminators map images [B, H, W, C] to one logit per image, [B, 1] (no
  sigmoid: the losses work on logits).
Any pair with these signatures, built by hand with Keras, trains through
``gan_utils.GAN`` too.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from .common import (
    check_bools,
    check_count,
    check_image_shape,
    check_positive,
    generator_batch_norm,
    spectral,
)
from .layers import CategoricalCode, MinibatchStdDev


def upsampling_plan(size: int, max_base: int = 7) -> tuple[int, int]:
    """``(base, n)``: a generator starts at ``base x base`` and doubles ``n`` times to reach ``size``.

    Halve ``size`` while it is even and larger than ``max_base``: 28 -> (7, 2),
    32 -> (4, 3), 64 -> (4, 4). Sizes that cannot be halved even once (odd
    sizes, or sizes up to ``max_base``) are refused.
    """
    base, n = size, 0
    while base % 2 == 0 and base > max_base:
        base //= 2
        n += 1
    if n == 0:
        raise ValueError(
            f"image size {size} cannot be reached by stride-2 upsampling from a smaller grid; "
            "use an even size such as 28, 32 or 64"
        )
    return base, n


NORMS = ("batch", "layer", None)


def _norm_layer(norm: str, name: str):
    return layers.BatchNormalization(name=name) if norm == "batch" else layers.LayerNormalization(name=name)




def check_extra_convs(extra_convs) -> int:
    """Validate the number of extra stride-1 blocks per resolution (an integer >= 0)."""
    return check_count("extra_convs", extra_convs, "0: no extra blocks, the plain DCGAN")


def _refine(x, filters: int, extra_convs: int, name: str):
    """``extra_convs`` blocks of Conv2D(3x3, stride 1, 'same') + BatchNorm + ReLU that keep the shape."""
    for j in range(extra_convs):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{j}")(x)
        x = generator_batch_norm(f"{name}_conv{j}_bn")(x)
        x = layers.ReLU(name=f"{name}_conv{j}_relu")(x)
    return x


def dcgan_generator_body(x, image_shape, width: int = 64, kernel_size: int = 4, extra_convs: int = 0):
    """The DCGAN generator's layers applied to a latent tensor ``x`` [B, D]: returns the image tensor.

    Shared by ``build_dcgan_generator`` and the conditional generator (which
    feeds it z joined with a label embedding). ``image_shape`` must be square.
    ``extra_convs`` stride-1 3x3 blocks follow the projection and every hidden
    upsampling block (see ``build_dcgan_generator``).
    """
    extra_convs = check_extra_convs(extra_convs)
    height, _, channels = image_shape
    base, n = upsampling_plan(height)
    filters = width * 2 ** (n - 1)
    x = layers.Dense(base * base * filters, use_bias=False, name="project")(x)
    x = generator_batch_norm("project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    x = layers.Reshape((base, base, filters), name="to_grid")(x)
    x = _refine(x, filters, extra_convs, "grid")
    for i in range(n - 1):
        filters //= 2
        x = layers.Conv2DTranspose(filters, kernel_size, strides=2, padding="same", use_bias=False,
                                   name=f"up_{i}")(x)
        x = generator_batch_norm(f"up_{i}_bn")(x)
        x = layers.ReLU(name=f"up_{i}_relu")(x)
        x = _refine(x, filters, extra_convs, f"up_{i}")
    # The output layer computes in float32 so that samples stay float32 under mixed precision.
    return layers.Conv2DTranspose(channels, kernel_size, strides=2, padding="same", activation="tanh",
                                  dtype="float32", name="image")(x)


def dcgan_discriminator_features(x, width: int = 64, kernel_size: int = 4, norm: str | None = "batch",
                                 dropout: float = 0.0, spectral_norm: bool = False, minibatch_std: bool = False,
                                 extra_convs: int = 0):
    """The DCGAN discriminator's convolutional layers applied to an image tensor ``x``.

    Returns the flattened features [B, F] (F = (H / 2^n) * (W / 2^n) * width * 2^(n-1))
    that the last Dense layer reads. Shared with the conditional discriminators.
    ``spectral_norm`` wraps every Conv2D in ``SpectralNorm``; ``minibatch_std`` puts a
    ``MinibatchStdDev`` ("minibatch_std", one more channel) before the last convolution,
    as ProGAN does before its last block. ``extra_convs`` stride-1 3x3 blocks
    (Conv2D + the same normalisation + LeakyReLU(0.2), and Dropout if ``dropout``)
    follow the last stride-2 block.
    """
    extra_convs = check_extra_convs(extra_convs)
    _, n = upsampling_plan(int(x.shape[1]))
    for i in range(n):
        if minibatch_std and i == n - 1:
            x = MinibatchStdDev(name="minibatch_std")(x)
        conv = layers.Conv2D(width * 2**i, kernel_size, strides=2, padding="same", name=f"down_{i}")
        blocks = [(conv, f"down_{i}")]
        if i == n - 1:
            blocks += [(layers.Conv2D(width * 2**i, 3, padding="same", name=f"down_{i}_conv{j}"), f"down_{i}_conv{j}")
                       for j in range(extra_convs)]
        for layer, name in blocks:
            x = spectral(layer, spectral_norm)(x)
            if (i > 0 or layer is not conv) and norm is not None:
                x = _norm_layer(norm, f"{name}_{norm}norm")(x)
            x = layers.LeakyReLU(0.2, name=f"{name}_lrelu")(x)
            if dropout:
                x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return layers.Flatten(name="flatten")(x)


def check_dcgan_args(image_shape, width, kernel_size, norm=None, dropout=0.0) -> tuple[int, int, int]:
    """Validate the DCGAN builders' shared arguments; returns the image shape."""
    height, w, _ = shape = check_image_shape(image_shape)
    check_positive("width", width)
    check_positive("kernel_size", kernel_size)
    if norm not in NORMS:
        raise ValueError(f"norm must be 'batch', 'layer' or None, got {norm!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if height != w:
        raise ValueError(f"the DCGAN builders make square images; got {height}x{w}")
    upsampling_plan(height)
    return shape


def build_dcgan_generator(
    latent_dim: int = 100,
    image_shape: Sequence[int] = (28, 28, 1),
    width: int = 64,
    kernel_size: int = 4,
    name: str = "dcgan_generator",
    extra_convs: int = 0,
    categorical_code: int = 0,
    continuous_codes: int = 0,
) -> keras.Model:
    """DCGAN generator (Radford et al., 2015): project z, then stride-2 transposed convolutions.

    z -> Dense(base*base*width*2^(n-1)) -> BatchNorm -> ReLU -> reshape, then
    ``n`` blocks of Conv2DTranspose(stride 2, 'same') that halve the channels
    and double the side (BatchNorm + ReLU after each but the last), the last
    one going to ``C`` channels with tanh. ``base`` and ``n`` come from
    ``upsampling_plan``: 7x7 -> 14 -> 28 for MNIST, 4 -> 8 -> 16 -> 32 for 32x32.

    Args:
        latent_dim: size of z.
        image_shape: (H, W, C) with H == W, e.g. (28, 28, 1) or (32, 32, 3).
        width: channels of the last hidden block; earlier blocks double it.
        kernel_size: side of the transposed-convolution kernels (4 divides
            evenly by the stride 2, which avoids checkerboard artefacts).
        name: model name.
        extra_convs: stride-1 3x3 Conv2D + BatchNorm + ReLU blocks (same channels,
            same side) after the projection and after every upsampling block but the
            last: 0 is Radford et al.'s generator. They add depth where the digit's
            shape is decided, on small grids (7x7 and 14x14 for MNIST); one block per
            grid costs extra time per step.
        categorical_code: k > 1 reads a k-way categorical code off the first k entries
            of z (``layers.CategoricalCode``: their argmax, as a one-hot, replaces them);
            train with ``InfoGAN(categorical=k)`` so that the codes mean something.
            0 (default): z goes straight to the projection.
        continuous_codes: with ``categorical_code``, m continuous codes in [-1, 1] read off
            the next m entries of z (InfoGAN's MNIST model has 2).

    Returns:
        keras.Model: float32 [B, latent_dim] -> float32 [B, H, W, C] in [-1, 1].
    """
    check_positive("latent_dim", latent_dim)
    shape = check_dcgan_args(image_shape, width, kernel_size)
    categorical_code = check_count("categorical_code", categorical_code, "0: no code, z goes to the projection")
    continuous_codes = check_count("continuous_codes", continuous_codes, "0: none")
    if continuous_codes and not categorical_code:
        raise ValueError("continuous_codes are read with the categorical code: pass categorical_code=k as well")
    z = keras.Input((latent_dim,), name="z")
    x = CategoricalCode(categorical_code, continuous_codes, name="categorical_code")(z) if categorical_code else z
    return keras.Model(z, dcgan_generator_body(x, shape, width, kernel_size, extra_convs), name=name)


def build_dcgan_discriminator(
    image_shape: Sequence[int] = (28, 28, 1),
    width: int = 64,
    kernel_size: int = 4,
    norm: str | None = "batch",
    dropout: float = 0.0,
    name: str = "dcgan_discriminator",
    spectral_norm: bool = False,
    minibatch_std: bool = False,
    extra_convs: int = 0,
    hidden: int = 0,
) -> keras.Model:
    """DCGAN discriminator: stride-2 convolutions with LeakyReLU(0.2), then one logit.

    The mirror image of ``build_dcgan_generator``: ``n`` Conv2D(stride 2) blocks
    with ``width``, ``2*width``, ... channels, a normalisation layer after every
    block but the first (Radford et al. leave the input layer unnormalised),
    then ``extra_convs`` stride-1 blocks on the smallest grid, then
    Flatten -> [Dense(hidden) -> LeakyReLU(0.2)] -> Dense(1).

    Args:
        image_shape: (H, W, C) of the input images, float in [-1, 1].
        width: channels of the first block; each later block doubles it.
        kernel_size: side of the convolution kernels.
        norm: "batch" (DCGAN), "layer" (for WGAN-GP critics, where BatchNorm
            would couple the samples of a batch) or None.
        dropout: dropout rate after every block (0 turns it off).
        name: model name.
        spectral_norm: wrap every Conv2D and the logit Dense in ``SpectralNorm``
            (Miyato et al., 2018), keeping their names. SN-GAN uses it with no other
            normalisation (``norm=None``); it combines with ``norm="layer"`` too, and is
            allowed with BatchNorm but unusual: BatchNorm rescales the activations
            again, so D as a whole is no longer bounded to be 1-Lipschitz.
        minibatch_std: insert ``MinibatchStdDev`` (Karras et al., 2018) before the
            last convolution, which then sees one more channel.
        extra_convs: stride-1 3x3 Conv2D + normalisation + LeakyReLU(0.2) blocks
            (same channels, same side) after the last stride-2 block, the mirror of
            the generator's ``extra_convs``: 0 is Radford et al.'s discriminator.
        hidden: units of a fully connected layer ("hidden", Dense + LeakyReLU(0.2),
            spectrally normalised with ``spectral_norm``) between the flattened
            features and the logit; 0 (default) is Radford et al.'s discriminator.
            InfoGAN's MNIST discriminator has one of 1024 units (Chen et al., 2016).

    Returns:
        keras.Model: float32 [B, H, W, C] -> logits float32 [B, 1].
    """
    shape = check_dcgan_args(image_shape, width, kernel_size, norm, dropout)
    check_bools(spectral_norm=spectral_norm, minibatch_std=minibatch_std)
    hidden = check_count("hidden", hidden, "units of the Dense layer before the logit; 0: none")
    image = keras.Input(shape, name="image")
    x = dcgan_discriminator_features(image, width, kernel_size, norm, dropout, spectral_norm, minibatch_std,
                                     extra_convs)
    if hidden:
        x = spectral(layers.Dense(hidden, name="hidden"), spectral_norm)(x)
        x = layers.LeakyReLU(0.2, name="hidden_lrelu")(x)
    logit = spectral(layers.Dense(1, dtype="float32", name="logit"), spectral_norm)(x)
    return keras.Model(image, logit, name=name)
