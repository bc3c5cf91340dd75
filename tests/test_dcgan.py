"""DCGAN builders, the dtype-policy toggle (mixed precision) and XLA, on CPU."""

import keras
import numpy as np
import pytest

from gan_utils import (
    GAN,
    build_conditional_generator,
    build_dcgan_discriminator,
    build_dcgan_generator,
    losses,
    make_dataset,
)
from gan_utils.config import dtype_policy
from gan_utils.models import upsampling_plan
from gan_utils.models.layers import SpectralNorm


@pytest.mark.parametrize("size, plan", [(28, (7, 2)), (32, (4, 3)), (64, (4, 4)), (14, (7, 1)), (16, (4, 2))])
def test_upsampling_plan(size, plan):
    assert upsampling_plan(size) == plan


@pytest.mark.parametrize("size", [27, 7, 5])
def test_upsampling_plan_refuses_sizes_it_cannot_reach(size):
    with pytest.raises(ValueError, match="even size"):
        upsampling_plan(size)


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (16, 16, 2)])
def test_dcgan_shapes_and_range(shape):
    g = build_dcgan_generator(latent_dim=10, image_shape=shape, width=8)
    d = build_dcgan_discriminator(image_shape=shape, width=8)
    z = np.random.default_rng(0).standard_normal((3, 10)).astype(np.float32) * 5
    images = np.asarray(g(z, training=False))
    assert images.shape == (3, *shape) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1
    assert d(images).shape == (3, 1)


def test_dcgan_width_sets_the_channels():
    g = build_dcgan_generator(10, (32, 32, 1), width=8)
    # 4x4 grid with 8 * 2**2 channels, then 16, 8, and the image's 1 channel
    assert g.get_layer("to_grid").output.shape[1:] == (4, 4, 32)
    assert g.get_layer("up_0").output.shape[1:] == (8, 8, 16)
    assert g.get_layer("up_1").output.shape[1:] == (16, 16, 8)
    d = build_dcgan_discriminator((32, 32, 1), width=8)
    assert [d.get_layer(f"down_{i}").output.shape[-1] for i in range(3)] == [8, 16, 32]


def test_extra_convs_add_shape_keeping_blocks_at_every_hidden_resolution():
    plain = build_dcgan_generator(10, (28, 28, 1), width=8)
    deep = build_dcgan_generator(10, (28, 28, 1), width=8, extra_convs=2)
    # Two 3x3 stride-1 blocks at 7x7 (16 channels) and at 14x14 (8 channels); none at 28x28.
    for name, side, channels in (("grid", 7, 16), ("up_0", 14, 8)):
        for j in range(2):
            conv = deep.get_layer(f"{name}_conv{j}")
            assert conv.kernel_size == (3, 3) and conv.strides == (1, 1)
            assert conv.output.shape[1:] == (side, side, channels)
    extra = [layer for layer in deep.layers if layer.name.endswith(("_conv0", "_conv1"))]
    assert len(extra) == 4
    # Each block: a 3x3 kernel without bias (BatchNorm shifts), 9 * C * C weights, and BatchNorm's 4 numbers per channel.
    added = 2 * (9 * 16 * 16 + 4 * 16) + 2 * (9 * 8 * 8 + 4 * 8)
    assert deep.count_params() - plain.count_params() == added
    images = np.asarray(deep(np.zeros((2, 10), np.float32), training=False))
    assert images.shape == (2, 28, 28, 1) and np.abs(images).max() <= 1
    # The default is Radford et al.'s generator: no extra layers.
    assert not any(layer.name.endswith("_conv0") for layer in plain.layers)


@pytest.mark.parametrize("value", [-1, 1.5, True, "1"])
def test_extra_convs_bad_values(value):
    with pytest.raises(ValueError, match="extra_convs must be an integer >= 0"):
        build_dcgan_generator(10, (28, 28, 1), width=8, extra_convs=value)
    with pytest.raises(ValueError, match="extra_convs must be an integer >= 0"):
        build_conditional_generator(10, (28, 28, 1), width=8, extra_convs=value)


def test_extra_convs_in_the_conditional_generator_and_numpy_ints():
    plain = build_conditional_generator(10, (28, 28, 1), width=8)
    deep = build_conditional_generator(10, (28, 28, 1), width=8, extra_convs=np.int64(1))
    assert deep.get_layer("grid_conv0").output.shape[1:] == (7, 7, 16)
    assert deep.get_layer("up_0_conv0").output.shape[1:] == (14, 14, 8)
    assert deep.count_params() - plain.count_params() == (9 * 16 * 16 + 4 * 16) + (9 * 8 * 8 + 4 * 8)


@pytest.mark.parametrize("norm, layer_type", [("batch", keras.layers.BatchNormalization),
                                              ("layer", keras.layers.LayerNormalization)])
def test_discriminator_norm_choice(norm, layer_type):
    d = build_dcgan_discriminator((28, 28, 1), width=4, norm=norm)
    norms = [layer for layer in d.layers if isinstance(layer, layer_type)]
    assert len(norms) == 1  # not after the first block
    none = build_dcgan_discriminator((28, 28, 1), width=4, norm=None)
    assert not any(isinstance(layer, (keras.layers.BatchNormalization, keras.layers.LayerNormalization))
                   for layer in none.layers)


def test_discriminator_hidden_layer():
    plain = build_dcgan_discriminator((28, 28, 1), width=4)
    deep = build_dcgan_discriminator((28, 28, 1), width=4, hidden=np.int64(16))
    # Flattened 7x7x8 features -> Dense(16) with bias -> LeakyReLU -> Dense(1): the logit now reads 16 values.
    features = 7 * 7 * 8
    assert deep.get_layer("hidden").output.shape[1:] == (16,)
    assert deep.count_params() - plain.count_params() == (features * 16 + 16) + (16 + 1) - (features + 1)
    logits = np.asarray(deep(np.zeros((3, 28, 28, 1), np.float32), training=False))
    assert logits.shape == (3, 1)
    # The default is Radford et al.'s discriminator; feature matching reads the hidden layer when there is one.
    assert "hidden" not in [layer.name for layer in plain.layers]
    assert losses.default_feature_layer(deep) == "hidden_lrelu"
    assert losses.default_feature_layer(plain) == "flatten"
    sn = build_dcgan_discriminator((28, 28, 1), width=4, hidden=8, spectral_norm=True, norm=None)
    assert isinstance(sn.get_layer("hidden"), SpectralNorm)


@pytest.mark.parametrize("norm, norm_weights", [("batch", 4), ("layer", 2), (None, 0)])
def test_discriminator_extra_convs_on_the_smallest_grid(norm, norm_weights):
    plain = build_dcgan_discriminator((28, 28, 1), width=4, norm=norm)
    deep = build_dcgan_discriminator((28, 28, 1), width=4, norm=norm, extra_convs=2)
    # Two 3x3 stride-1 blocks at 7x7 with 8 channels: 9 * 8 * 8 weights + 8 biases each, plus the norm's numbers.
    for j in range(2):
        conv = deep.get_layer(f"down_1_conv{j}")
        assert conv.output.shape[1:] == (7, 7, 8) and conv.kernel_size == (3, 3) and conv.strides == (1, 1)
    assert deep.count_params() - plain.count_params() == 2 * (9 * 8 * 8 + 8 + norm_weights * 8)
    assert deep.get_layer("flatten").output.shape[1:] == plain.get_layer("flatten").output.shape[1:]
    assert not any("_conv" in layer.name for layer in plain.layers)
    with pytest.raises(ValueError, match="extra_convs must be an integer >= 0"):
        build_dcgan_discriminator((28, 28, 1), width=4, extra_convs=-1)


@pytest.mark.parametrize("value", [-1, 2.0, True, "512"])
def test_discriminator_hidden_bad_values(value):
    with pytest.raises(ValueError, match="hidden must be an integer >= 0"):
        build_dcgan_discriminator((28, 28, 1), width=4, hidden=value)


@pytest.mark.parametrize("kwargs, match", [
    ({"norm": "group"}, "norm must be"),
    ({"image_shape": (28, 14, 1)}, "square"),
    ({"width": 0}, "width"),
    ({"dropout": 1.0}, "dropout"),
])
def test_dcgan_discriminator_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_dcgan_discriminator(**kwargs)


def test_dcgan_generator_bad_arguments():
    with pytest.raises(ValueError, match="square"):
        build_dcgan_generator(image_shape=(28, 32, 1))
    with pytest.raises(ValueError, match="kernel_size"):
        build_dcgan_generator(kernel_size=0)


def _tiny_dcgan(precision, **compile_kwargs):
    keras.utils.set_random_seed(0)
    with dtype_policy(precision):
        g = build_dcgan_generator(8, (16, 16, 1), width=4)
        d = build_dcgan_discriminator((16, 16, 1), width=4)
        gan = GAN(g, d, seed=0, ema_decay=0.9)
    gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5), **compile_kwargs)
    return gan


def _square_images(n=64, size=16):
    rng = np.random.default_rng(1)
    x = np.zeros((n, size, size, 1), np.uint8)
    for img, (r, c) in zip(x, rng.integers(0, size - 6, size=(n, 2))):
        img[r : r + 6, c : c + 6] = 255
    return x


@pytest.mark.parametrize("precision, compute", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_step_is_finite_and_policy_is_restored(precision, compute):
    before = keras.mixed_precision.global_policy().name
    gan = _tiny_dcgan(precision)
    assert keras.mixed_precision.global_policy().name == before
    assert gan.generator.get_layer("up_0").compute_dtype == compute
    assert gan.generator.get_layer("image").compute_dtype == "float32"
    assert all(v.dtype == "float32" for v in gan.generator.trainable_variables)
    # float16 needs loss scaling; bfloat16 has float32's exponent range and does not.
    scaled = isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (compute == "float16")
    hist = gan.fit(make_dataset(_square_images(), batch_size=16), epochs=2, verbose=0)
    assert all(np.isfinite(v).all() for v in hist.history.values())
    assert gan.g_optimizer.iterations.numpy() == 8
    samples = np.asarray(gan.sampler(np.zeros((2, 8), np.float32), training=False))
    assert samples.dtype == np.float32 and np.isfinite(samples).all()


def test_xla_and_steps_per_execution_train_on_cpu():
    gan = _tiny_dcgan("float32", jit_compile=True, steps_per_execution=2)
    hist = gan.fit(make_dataset(_square_images(), batch_size=16), epochs=1, verbose=0)
    assert np.isfinite(hist.history["d_loss"][0])
    assert gan.d_optimizer.iterations.numpy() == 4
