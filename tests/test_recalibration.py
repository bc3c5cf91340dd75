"""Standing BatchNorm statistics for the EMA generator: recalibrate_batch_norm, RecalibrateBatchNorm."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_utils import (
    GAN,
    RecalibrateBatchNorm,
    build_dcgan_discriminator,
    build_dcgan_generator,
    make_dataset,
    train,
)
from gan_utils.models.conditional import build_conditional_discriminator, build_conditional_generator
from gan_utils.sampling import balanced_labels, find_batch_norms, recalibrate_batch_norm
from gan_utils.training.callbacks import recalibrate_ema_generator


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


def _ema_gan(**kwargs):
    return GAN(_generator(), build_dcgan_discriminator((16, 16, 1), width=4), seed=0, ema_decay=0.9, **kwargs)


def test_recalibrate_ema_generator_changes_only_the_ema_generator_and_is_deterministic():
    gan = _ema_gan()
    live = [v.numpy().copy() for v in gan.generator.non_trainable_variables]
    assert recalibrate_ema_generator(gan, 512, seed=0) == len(find_batch_norms(gan.ema_generator)) == 2
    first = [v.numpy().copy() for v in gan.ema_generator.non_trainable_variables]
    recalibrate_ema_generator(gan, 512, seed=0)
    for a, b in zip(first, gan.ema_generator.non_trainable_variables):
        np.testing.assert_array_equal(a, b.numpy())
    for a, b in zip(live, gan.generator.non_trainable_variables):
        np.testing.assert_array_equal(a, b.numpy())
    assert not np.allclose(first[0], 0.0)  # the fresh model's moving mean was all zeros
    recalibrate_ema_generator(gan, 512, seed=1)  # another seed, other samples, other statistics
    assert not np.allclose(first[0], gan.ema_generator.non_trainable_variables[0].numpy())


def test_conditional_ema_generator_is_recalibrated_with_balanced_labels():
    keras.utils.set_random_seed(0)
    g = build_conditional_generator(8, (16, 16, 1), 3, width=4)
    d = build_conditional_discriminator((16, 16, 1), 3, width=4)
    gan = GAN(g, d, seed=0, ema_decay=0.9)
    before = [v.numpy().copy() for v in gan.ema_generator.non_trainable_variables]
    assert recalibrate_ema_generator(gan, 300, seed=0) == len(find_batch_norms(g)) > 0
    after = [v.numpy().copy() for v in gan.ema_generator.non_trainable_variables]
    assert not any(np.allclose(a, b) for a, b in zip(before, after))
    # The same as recalibrating by hand with the documented inputs: 300 z from the fixed seed, labels 0, 1, 2, 0, ...
    z = tf.random.stateless_normal((300, 8), seed=(0, 0x5EED))
    recalibrate_batch_norm(gan.ema_generator, [z, tf.constant(balanced_labels(300, 3))])
    for a, b in zip(after, gan.ema_generator.non_trainable_variables):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)
    # Other labels give other statistics (the labels do reach the generator).
    recalibrate_batch_norm(gan.ema_generator, [z, tf.zeros([300], tf.int32)])
    assert not all(np.allclose(a, b.numpy()) for a, b in zip(after, gan.ema_generator.non_trainable_variables))


class _FailsWhenArmed(keras.layers.Layer):
    """Passes its input through, or raises once armed: a forward pass that fails after a BatchNorm layer."""

    armed = False

    def call(self, x):
        if self.armed:
            raise RuntimeError("boom")
        return x


def test_a_failed_pass_leaves_the_statistics_and_momentum_as_they_were():
    keras.utils.set_random_seed(0)
    fails = _FailsWhenArmed()
    model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(), fails])
    bn = model.layers[0]
    x = np.random.default_rng(0).normal(3.0, 2.0, (64, 4)).astype(np.float32)
    fails.armed = True
    with pytest.raises(RuntimeError, match="boom"):
        recalibrate_batch_norm(model, x)  # BatchNorm has updated its statistics when the next layer fails
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(4))
    np.testing.assert_array_equal(bn.moving_variance.numpy(), np.ones(4))
    assert bn.momentum == 0.99 and bn.trainable
    fails.armed = False
    recalibrate_batch_norm(model, x)  # and the same call succeeds once nothing fails
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(axis=0), rtol=1e-5)


def test_frozen_batch_norm_layers_are_recalibrated_and_stay_frozen():
    g = _generator()
    g.trainable = False
    z = tf.random.stateless_normal((128, 8), seed=(3, 4))
    recalibrate_batch_norm(g, z)
    np.testing.assert_allclose(g(z, training=False).numpy(), g(z, training=True).numpy(), atol=1e-5)
    assert not any(layer.trainable for layer in find_batch_norms(g))


@pytest.mark.parametrize("value", [-1, 0, 1, 2.5, True, "4096"])
def test_bad_num_samples(value):
    with pytest.raises(ValueError, match="num_samples must be an integer >= 2"):
        RecalibrateBatchNorm(num_samples=value)


def test_recalibration_needs_an_ema_generator():
    gan = GAN(_generator(), build_dcgan_discriminator((16, 16, 1), width=4), seed=0)
    gan.compile()
    images = np.random.default_rng(0).integers(0, 256, (32, 16, 16), dtype=np.uint8)
    with pytest.raises(ValueError, match="build the GAN with ema_decay"):
        gan.fit(make_dataset(images, batch_size=16, seed=0), epochs=1, verbose=0,
                callbacks=[RecalibrateBatchNorm(256)])
    with pytest.raises(ValueError, match="ema_decay"):
        recalibrate_ema_generator(gan, 256)


def test_train_recalibrates_the_sampler_before_the_grid_and_the_checkpoint(tmp_path):
    from PIL import Image

    from gan_utils.plotting import save_image_grid
    from gan_utils.training.train import fixed_inputs, frame_path

    def compiled():
        gan = _ema_gan()
        gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
        return gan

    images = np.random.default_rng(0).integers(0, 256, (64, 16, 16), dtype=np.uint8)
    data = make_dataset(images, batch_size=16, seed=0)
    gan = compiled()
    train(gan, data, tmp_path / "run", 2, verbose=0, callbacks=[RecalibrateBatchNorm(256)])
    stats = [v.numpy().copy() for v in gan.ema_generator.non_trainable_variables]
    live = [v.numpy() for v in gan.generator.non_trainable_variables]
    # After the last epoch the sampler holds its own statistics, not the live generator's copy...
    assert not all(np.allclose(a, b) for a, b in zip(stats, live))
    # ... and they are what recalibrate_ema_generator computes from the final weights.
    recalibrate_ema_generator(gan, 256)
    for a, b in zip(stats, gan.ema_generator.non_trainable_variables):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-6, atol=1e-7)
    # The saved generator is the recalibrated sampler.
    saved = keras.models.load_model(tmp_path / "run" / "generator.keras", compile=False)
    np.testing.assert_allclose(saved.get_layer("project_bn").moving_mean.numpy(),
                               gan.ema_generator.get_layer("project_bn").moving_mean.numpy(), rtol=1e-6)
    # The last epoch's grid was drawn after the recalibration (with the statistics the sampler has now) ...
    noise, _ = fixed_inputs(gan)
    redrawn = save_image_grid(np.asarray(gan.generate(noise, model=gan.sampler)), tmp_path / "redrawn.png",
                              ncols=8, scale=1)
    np.testing.assert_array_equal(np.asarray(Image.open(frame_path(tmp_path / "run", 2))),
                                  np.asarray(Image.open(redrawn)))
    # ... and so was the checkpoint: a run restored from it (nothing left to train) has the same statistics.
    restored = compiled()
    assert train(restored, data, tmp_path / "run", 2, verbose=0).resumed_from == 2
    for a, b in zip(stats, restored.ema_generator.non_trainable_variables):
        np.testing.assert_array_equal(a, b.numpy())


def test_resume_with_recalibration_is_exact(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (64, 16, 16), dtype=np.uint8)

    def run(folder, epochs):
        gan = _ema_gan()
        gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
        result = train(gan, make_dataset(images, batch_size=16, seed=0), folder, epochs, verbose=0,
                       callbacks=[RecalibrateBatchNorm(128)])
        return gan, result

    whole, whole_result = run(tmp_path / "whole", 3)
    run(tmp_path / "split", 1)
    resumed, resumed_result = run(tmp_path / "split", 3)
    assert resumed_result.resumed_from == 1
    np.testing.assert_array_equal(resumed_result.history["d_loss"], whole_result.history["d_loss"])
    for a, b in zip(whole.ema_generator.variables, resumed.ema_generator.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
