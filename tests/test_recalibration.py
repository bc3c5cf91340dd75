"""Standing BatchNorm statistics for the EMA generator (recalibrate_batch_norm, GAN(bn_recalibration=...))."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_utils import GAN, build_dcgan_discriminator, build_dcgan_generator, make_dataset, train
from gan_utils.conditional import build_conditional_discriminator, build_conditional_generator
from gan_utils.sampling import find_batch_norms, recalibrate_batch_norm


def _generator():
    keras.utils.set_random_seed(0)
    return build_dcgan_generator(8, (16, 16, 1), width=4)


def test_recalibrated_statistics_are_the_batch_statistics():
    g = _generator()
    z = tf.random.stateless_normal((256, 8), seed=(1, 2))
    weights = [w.numpy().copy() for w in g.trainable_weights]
    momenta = [layer.momentum for layer in find_batch_norms(g)]
    assert recalibrate_batch_norm(g, z) == len(momenta) == 2  # project_bn and up_0_bn (16x16: 4 -> 8 -> 16)
    # The first BatchNorm normalises the projection of z: its statistics are that layer's mean and biased variance.
    projected = keras.Model(g.inputs, g.get_layer("project").output)(z).numpy()
    bn = g.get_layer("project_bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), projected.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), projected.var(axis=0), rtol=1e-4, atol=1e-6)
    # Inference mode now computes exactly what training mode computes on this batch.
    np.testing.assert_allclose(g(z, training=False).numpy(), g(z, training=True).numpy(), atol=1e-5)
    # Only the moving statistics changed; each momentum is back.
    for before, after in zip(weights, g.trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())
    assert [layer.momentum for layer in find_batch_norms(g)] == momenta


def test_without_batch_norm_nothing_changes():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = np.ones((5, 4), np.float32)
    before = model(x).numpy()
    assert recalibrate_batch_norm(model, x) == 0
    np.testing.assert_array_equal(model(x).numpy(), before)


def test_gan_recalibrates_only_the_ema_generator_and_is_deterministic():
    g = _generator()
    gan = GAN(g, build_dcgan_discriminator((16, 16, 1), width=4), seed=0, ema_decay=0.9, bn_recalibration=512)
    live = [v.numpy().copy() for v in gan.generator.non_trainable_variables]
    gan.recalibrate_sampler()
    first = [v.numpy().copy() for v in gan.ema_generator.non_trainable_variables]
    gan.recalibrate_sampler()
    for a, b in zip(first, gan.ema_generator.non_trainable_variables):
        np.testing.assert_array_equal(a, b.numpy())
    for a, b in zip(live, gan.generator.non_trainable_variables):
        np.testing.assert_array_equal(a, b.numpy())
    assert not np.allclose(first[0], 0.0)  # the fresh model's moving mean was all zeros


def test_conditional_sampler_is_recalibrated_with_balanced_labels():
    keras.utils.set_random_seed(0)
    g = build_conditional_generator(8, (16, 16, 1), 3, width=4)
    d = build_conditional_discriminator((16, 16, 1), 3, width=4)
    gan = GAN(g, d, seed=0, ema_decay=0.9, bn_recalibration=300)
    assert gan.recalibrate_sampler() == len(find_batch_norms(g)) > 0


@pytest.mark.parametrize("value", [-1, 2.5, True, "4096"])
def test_bad_bn_recalibration(value):
    with pytest.raises(ValueError, match="bn_recalibration must be 0"):
        GAN(_generator(), build_dcgan_discriminator((16, 16, 1), width=4), ema_decay=0.9, bn_recalibration=value)


def test_bn_recalibration_needs_an_ema_generator():
    with pytest.raises(ValueError, match="set ema_decay"):
        GAN(_generator(), build_dcgan_discriminator((16, 16, 1), width=4), bn_recalibration=256)
    gan = GAN(_generator(), build_dcgan_discriminator((16, 16, 1), width=4))
    with pytest.raises(ValueError, match="ema_decay"):
        gan.recalibrate_sampler(256)


def test_train_recalibrates_the_sampler_at_each_epoch_end(tmp_path):
    gan = GAN(_generator(), build_dcgan_discriminator((16, 16, 1), width=4), seed=0, ema_decay=0.9,
              bn_recalibration=256)
    gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
    images = np.random.default_rng(0).integers(0, 256, (64, 16, 16), dtype=np.uint8)
    train(gan, make_dataset(images, batch_size=16, seed=0), tmp_path / "run", 2, verbose=0)
    stats = [v.numpy().copy() for v in gan.ema_generator.non_trainable_variables]
    live = [v.numpy() for v in gan.generator.non_trainable_variables]
    # After the last epoch the sampler holds its own statistics, not the live generator's copy...
    assert not all(np.allclose(a, b) for a, b in zip(stats, live))
    # ... and they are what recalibrate_sampler computes from the final weights.
    gan.recalibrate_sampler()
    for a, b in zip(stats, gan.ema_generator.non_trainable_variables):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-6, atol=1e-7)
    # The saved generator is the recalibrated sampler.
    saved = keras.models.load_model(tmp_path / "run" / "generator.keras", compile=False)
    np.testing.assert_allclose(saved.get_layer("project_bn").moving_mean.numpy(),
                               gan.ema_generator.get_layer("project_bn").moving_mean.numpy(), rtol=1e-6)
