"""Pix2Pix: the U-Net and PatchGAN builders, the loss on known values, training through gu.train, bad input."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import gan_utils as gu
from gan_utils.data.corruptions import RandomHole
from gan_utils.data.paired import make_paired_dataset
from gan_utils.gans.pix2pix import Pix2Pix, check_image_generator, translate
from gan_utils.models.image_to_image import (
    build_patchgan_discriminator,
    build_unet_generator,
    patch_receptive_field,
)


def squares(n=64, size=8, seed=0):
    """uint8 [n, size, size, 1]: a bright 3x3 square at a random place in each image."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, size, size, 1), np.uint8)
    for img, (r, c) in zip(x, rng.integers(0, size - 2, size=(n, 2))):
        img[r:r + 3, c:c + 3] = 255
    return x


def tiny_pix2pix(shape=(8, 8, 1), input_shape=None, gan_weight=1.0, seed=1):
    keras.utils.set_random_seed(0)
    input_shape = input_shape or shape
    g = build_unet_generator(input_shape, output_channels=shape[-1], width=4)
    d = build_patchgan_discriminator(shape, input_shape, width=4)
    gan = Pix2Pix(g, d, gan_weight=gan_weight, seed=seed)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    return gan


# ------------------------------------------------------------------ builders
@pytest.mark.parametrize("shape,out_channels", [((28, 28, 1), None), ((8, 12, 3), 2), ((32, 32, 2), 1)])
def test_unet_maps_images_to_images_in_tanh_range(shape, out_channels):
    g = build_unet_generator(shape, output_channels=out_channels, width=4)
    x = np.random.default_rng(0).uniform(-1, 1, (3, *shape)).astype(np.float32)
    y = np.asarray(g(x, training=False))
    assert y.shape == (3, *shape[:2], out_channels or shape[-1])
    assert np.abs(y).max() <= 1.0


def test_unet_refuses_a_size_not_divisible_by_4():
    with pytest.raises(ValueError, match="divisible by 4"):
        build_unet_generator((30, 28, 1))


def test_patchgan_gives_one_logit_per_patch_of_the_stated_size():
    d = build_patchgan_discriminator((28, 28, 1), (28, 28, 3), width=4)
    logits = d([np.zeros((2, 28, 28, 1), np.float32), np.zeros((2, 28, 28, 3), np.float32)])
    assert logits.shape == (2, 7, 7, 1)
    assert patch_receptive_field(2) == 18 and patch_receptive_field(1) == 8
    assert build_patchgan_discriminator((32, 32, 1), downsamples=3, width=4).output_shape == (None, 4, 4, 1)


def test_patchgan_receptive_field_is_what_the_network_sees():
    # Change one input pixel: only the logits whose patch covers it may change.
    d = build_patchgan_discriminator((32, 32, 1), width=4, norm=None)
    x = np.zeros((1, 32, 32, 1), np.float32)
    y = x.copy()
    y[0, 0, 0, 0] = 1.0
    changed = np.abs(np.asarray(d([y, x])) - np.asarray(d([x, x])))[0, ..., 0] > 0
    rows, cols = np.nonzero(changed)
    # Logit (i, j) sees pixels around 4i + 1.5 +- 9 (stride 4 overall, 18 pixels wide, 'same' padding).
    assert changed[0, 0] and rows.max() * 4 - 9 < 1 and cols.max() * 4 - 9 < 1


def test_patchgan_refuses_a_condition_of_another_size():
    with pytest.raises(ValueError, match="height and width"):
        build_patchgan_discriminator((28, 28, 1), (7, 7, 1))


# ------------------------------------------------------------------ the loss
def constant_discriminator(shape, value):
    """[image, condition] -> a 2x2 map of logits all equal to ``value``."""
    image, cond = keras.Input(shape), keras.Input(shape)
    x = keras.layers.Concatenate()([image, cond])
    x = keras.layers.AveragePooling2D(shape[0] // 2)(x)
    logits = keras.layers.Conv2D(1, 1, kernel_initializer="zeros",
                                 bias_initializer=keras.initializers.Constant(value))(x)
    return keras.Model([image, cond], logits)


@pytest.mark.parametrize("gan_weight", [1.0, 0.5, 0.0])
def test_losses_on_known_values(gan_weight):
    shape = (8, 8, 1)
    gan = Pix2Pix(build_unet_generator(shape, width=4), constant_discriminator(shape, 0.0), l1_weight=10.0,
                  gan_weight=gan_weight)
    real = np.full((2, *shape), 0.5, np.float32)
    fake = np.full((2, *shape), -0.25, np.float32)
    inputs = np.zeros((2, *shape), np.float32)
    # D(.) = sigmoid(0) = 1/2 on every patch: -log D(G(x)) = log 2; L1 = |0.5 + 0.25| = 0.75.
    g_loss = float(gan.generator_loss(real, fake, inputs))
    assert g_loss == pytest.approx(gan_weight * np.log(2) + 10.0 * 0.75, rel=1e-6)
    if gan_weight:  # D's loss, halved: (log 2 + log 2) / 2 (L1 alone never trains D)
        assert float(gan.discriminator_loss(real, fake, inputs)) == pytest.approx(np.log(2), rel=1e-6)
    assert float(gan.trackers["l1"].result()) == pytest.approx(0.75)


def test_l1_alone_leaves_the_discriminator_untouched_and_reports_no_d_metrics():
    gan = tiny_pix2pix(gan_weight=0.0)
    before = [w.copy() for w in gan.discriminator.get_weights()]
    history = gan.fit(make_paired_dataset(squares(), RandomHole(4), batch_size=16), epochs=1, verbose=0).history
    assert sorted(history) == ["g_loss", "l1"]
    for a, b in zip(before, gan.discriminator.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_training_lowers_the_l1_error():
    gan = tiny_pix2pix()
    data = make_paired_dataset(squares(128), RandomHole(4), batch_size=16)
    history = gan.fit(data, epochs=4, verbose=0).history
    assert history["l1"][-1] < history["l1"][0]
    assert {"d_loss", "g_loss", "d_real", "d_fake", "g_gan", "l1"} <= set(history)


@pytest.mark.parametrize("kwargs,match", [({"l1_weight": 0.0, "gan_weight": 0.0}, "both 0"),
                                          ({"l1_weight": -1.0}, "l1_weight"), ({"d_steps": 2}, "d_steps")])
def test_bad_weights_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Pix2Pix(build_unet_generator((8, 8, 1), width=4), build_patchgan_discriminator((8, 8, 1), width=4), **kwargs)


# ------------------------------------------------------------ bad networks
def test_generator_output_that_differs_from_the_target_is_refused():
    g = build_unet_generator((8, 8, 1), output_channels=3, width=4)
    d = build_patchgan_discriminator((8, 8, 1), width=4)
    with pytest.raises(ValueError, match=r"generator outputs images of shape \(8, 8, 3\).*judges images of shape"):
        Pix2Pix(g, d)


def test_a_noise_generator_or_unconditional_discriminator_is_refused():
    with pytest.raises(ValueError, match="one input image"):
        Pix2Pix(gu.build_mlp_generator(8, (8, 8, 1), hidden=(8,)), build_patchgan_discriminator((8, 8, 1), width=4))
    with pytest.raises(ValueError, match="two inputs"):
        Pix2Pix(build_unet_generator((8, 8, 1), width=4), gu.build_mlp_discriminator((8, 8, 1), hidden=(8,)))


# ------------------------------------------------------- the training path
def test_train_writes_grids_of_input_output_target_and_resumes_exactly(tmp_path):
    data = make_paired_dataset(squares(), RandomHole(4), batch_size=16, seed=3)
    straight = gu.train(tiny_pix2pix(), data, tmp_path / "straight", epochs=3, verbose=0, grid_size=5)
    gu.train(tiny_pix2pix(), data, tmp_path / "resumed", epochs=1, verbose=0, grid_size=5)
    resumed_gan = tiny_pix2pix()
    resumed = gu.train(resumed_gan, data, tmp_path / "resumed", epochs=3, verbose=0, grid_size=5)
    assert resumed.resumed_from == 1 and resumed.epochs == 3
    assert resumed.history["l1"] == straight.history["l1"]
    assert resumed.history["d_loss"] == straight.history["d_loss"]
    # Three rows (inputs, outputs, targets) of the 5 fixed pairs, 1-pixel gaps.
    frame = plt_read(straight.frames[-1])
    assert frame.shape[:2] == (3 * 9 - 1, 5 * 9 - 1)
    assert straight.gif_path.is_file() and (straight.out_dir / "losses.png").is_file()
    record = json.loads((straight.out_dir / "history.json").read_text())
    assert len(record["l1"]) == 3
    g = gu.load_generator(straight.out_dir, check=check_image_generator)
    x = np.asarray(next(iter(data))[1])
    np.testing.assert_allclose(translate(g, x), translate(resumed_gan.sampler, x), atol=1e-6)


def plt_read(path):
    from PIL import Image

    return np.asarray(Image.open(path))


def test_train_refuses_unpaired_batches_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=r"\(targets, inputs\) pairs"):
        gu.train(tiny_pix2pix(), gu.make_dataset(squares(), batch_size=16), out, epochs=1, verbose=0)
    assert not out.exists()


def test_train_refuses_inputs_the_generator_does_not_take_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    data = make_paired_dataset(squares(), gu.data.corruptions.Downsample(2, upsample=None), batch_size=16)
    with pytest.raises(ValueError, match=r"inputs have shape \(4, 4, 1\).*generator takes \(8, 8, 1\)"):
        gu.train(tiny_pix2pix(), data, out, epochs=1, verbose=0)
    assert not out.exists()


def test_train_refuses_targets_of_another_shape_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    data = make_paired_dataset(squares(size=12), RandomHole(4), batch_size=16)
    with pytest.raises(ValueError, match="image batches of shape"):
        gu.train(tiny_pix2pix(), data, out, epochs=1, verbose=0)
    assert not out.exists()


def test_small_inputs_train_with_a_generator_that_upsamples(tmp_path):
    # 4x4 inputs (Downsample(2, upsample=None)) -> 8x8 targets: a hand-built generator, the same training path.
    x = keras.Input((4, 4, 1))
    y = keras.layers.Conv2D(1, 3, padding="same", activation="tanh")(keras.layers.UpSampling2D(2)(x))
    d = build_patchgan_discriminator((8, 8, 1), (8, 8, 1), width=4)
    cond = keras.Input((4, 4, 1))
    image = keras.Input((8, 8, 1))
    d_small = keras.Model([image, cond], d([image, keras.layers.UpSampling2D(2)(cond)]))
    gan = Pix2Pix(keras.Model(x, y), d_small, seed=0)
    gan.compile()
    data = make_paired_dataset(squares(), gu.data.corruptions.Downsample(2, upsample=None), batch_size=16)
    result = gu.train(gan, data, tmp_path / "run", epochs=1, verbose=0, grid_size=4)
    assert plt_read(result.frames[0]).shape[:2] == (3 * 9 - 1, 4 * 9 - 1)


# --------------------------------------------------------------- translate
def test_translate_checks_shapes_and_models():
    g = build_unet_generator((8, 8, 1), width=4)
    assert translate(g, squares(7), batch_size=3).shape == (7, 8, 8, 1)
    with pytest.raises(ValueError, match=r"inputs are images of shape \(12, 12, 1\)"):
        translate(g, squares(3, size=12))
    with pytest.raises(ValueError, match="not an image-to-image generator"):
        translate(gu.build_mlp_generator(8, (8, 8, 1), hidden=(8,)), squares(3))


def test_grid_inputs_round_trip_through_json(tmp_path):
    gan = tiny_pix2pix()
    data = make_paired_dataset(squares(), RandomHole(4), batch_size=16)
    fixed, labels = gan.grid_inputs(data, 20)
    assert labels is None and fixed.shape == (20, 2 * 64)
    again = np.asarray(json.loads(json.dumps(fixed.tolist())), np.float32)
    np.testing.assert_array_equal(gan.grid_images(again), gan.grid_images(fixed))
    assert gan.grid_images(fixed).shape == (60, 8, 8, 1)


def test_pix2pix_is_reexported():
    assert gu.Pix2Pix is Pix2Pix and gu.build_unet_generator is build_unet_generator
    assert gu.make_paired_dataset is make_paired_dataset and gu.RandomHole is RandomHole
    assert tf.is_tensor(gu.Downsample(4)(np.zeros((1, 28, 28, 1), np.float32)))


def test_bottleneck_convs_add_context_without_changing_shapes():
    one, two = build_unet_generator(width=4), build_unet_generator(width=4, bottleneck_convs=2)
    assert one.output_shape == two.output_shape == (None, 28, 28, 1)
    assert two.count_params() > one.count_params()
    assert build_unet_generator(width=4, bottleneck_convs=0).output_shape == (None, 28, 28, 1)
    with pytest.raises(ValueError, match="bottleneck_convs"):
        build_unet_generator(width=4, bottleneck_convs=-1)
