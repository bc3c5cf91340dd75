"""The GAN model and its train step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_utils import GAN, build_mlp_discriminator, build_mlp_generator, make_dataset


def _snapshot(model):
    return [np.array(w) for w in model.trainable_weights]


def _changed(before, model):
    return any(not np.allclose(a, np.asarray(b)) for a, b in zip(before, model.trainable_weights))


def test_one_step_changes_both_networks_and_losses_are_finite(tiny_gan, tiny_images):
    g0, d0 = _snapshot(tiny_gan.generator), _snapshot(tiny_gan.discriminator)
    batch = make_dataset(tiny_images, batch_size=16).take(1).get_single_element()
    logs = tiny_gan.train_on_batch(batch, return_dict=True)
    assert set(logs) >= {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(v) for v in logs.values())
    assert 0 < logs["d_real"] < 1 and 0 < logs["d_fake"] < 1
    assert _changed(g0, tiny_gan.generator)
    assert _changed(d0, tiny_gan.discriminator)


def test_fit_trains_through_the_compiled_step(tiny_gan, tiny_images):
    hist = tiny_gan.fit(make_dataset(tiny_images, batch_size=16), epochs=2, verbose=0)
    assert len(hist.history["d_loss"]) == 2
    assert tiny_gan.d_optimizer.iterations.numpy() == 8
    assert tiny_gan.g_optimizer.iterations.numpy() == 8


def test_d_steps_updates_discriminator_that_many_times(tiny_images):
    g = build_mlp_generator(8, (8, 8, 1), hidden=(16,))
    d = build_mlp_discriminator((8, 8, 1), hidden=(16,))
    gan = GAN(g, d, d_steps=3)
    gan.compile(keras.optimizers.Adam(), keras.optimizers.Adam())
    gan.fit(make_dataset(tiny_images, batch_size=32), epochs=1, verbose=0)
    assert gan.d_optimizer.iterations.numpy() == 6
    assert gan.g_optimizer.iterations.numpy() == 2


def test_student_sequential_pair_trains_through_the_same_path(tiny_images):
    """A pair built by hand with plain Keras, 3-channel 8x8 images, steps_per_execution > 1."""
    g = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8 * 8 * 3, activation="tanh"),
                          keras.layers.Reshape((8, 8, 3))])
    d = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)])
    gan = GAN(g, d)
    gan.compile(steps_per_execution=2)
    rgb = np.repeat(tiny_images, 3, axis=-1)
    logs = gan.fit(make_dataset(rgb, batch_size=16), epochs=1, verbose=0).history
    assert np.isfinite(logs["g_loss"][0])
    assert gan.latent_dim == 4 and gan.image_shape == (8, 8, 3)


def test_mismatched_pair_is_rejected():
    g = build_mlp_generator(8, (8, 8, 1), hidden=(16,))
    d = build_mlp_discriminator((16, 16, 1), hidden=(16,))
    with pytest.raises(ValueError, match="does not match"):
        GAN(g, d)


def test_unbuilt_model_is_rejected():
    g = keras.Sequential([keras.layers.Dense(4)])
    d = build_mlp_discriminator((8, 8, 1), hidden=(16,))
    with pytest.raises(ValueError, match="keras.Input"):
        GAN(g, d)


def test_same_optimizer_twice_is_rejected(tiny_gan):
    opt = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="separate"):
        tiny_gan.compile(opt, opt)


def test_latent_sampler_is_seeded():
    g = build_mlp_generator(8, (8, 8, 1), hidden=(16,))
    d = build_mlp_discriminator((8, 8, 1), hidden=(16,))
    a, b = GAN(g, d, seed=7), GAN(g, d, seed=7)
    np.testing.assert_array_equal(a.sample_latent(3), b.sample_latent(3))


def test_mixed_precision_step_is_finite(tiny_images):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        g = build_mlp_generator(8, (8, 8, 1), hidden=(16,))
        d = build_mlp_discriminator((8, 8, 1), hidden=(16,))
        gan = GAN(g, d)
        gan.compile()
        assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
        logs = gan.fit(make_dataset(tiny_images, batch_size=16), epochs=1, verbose=0).history
        assert np.isfinite(logs["d_loss"][0]) and np.isfinite(logs["g_loss"][0])
        assert gan.generate(tf.zeros((2, 8))).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_train_step_matches_the_algorithm_by_hand():
    """D takes one SGD step on (real, G(z)); G then takes one step through the *updated* D on the same G(z)."""
    keras.utils.set_random_seed(3)
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Reshape((2, 2, 1))])
    d = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    g_ref, d_ref = keras.models.clone_model(g), keras.models.clone_model(d)
    g_ref.set_weights(g.get_weights())
    d_ref.set_weights(d.get_weights())
    gan = GAN(g, d)
    gan.compile(keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5))
    z = tf.constant(np.random.default_rng(0).standard_normal((3, 2)), tf.float32)
    gan.sample_latent = lambda batch_size: z  # the step draws this z
    real = tf.constant(np.random.default_rng(1).uniform(-1, 1, (3, 2, 2, 1)), tf.float32)
    gan.train_on_batch(real)

    # By hand: BCE of D on real (target 1) and fake (target 0), then non-saturating G loss.
    def softplus(x):
        return tf.math.softplus(x)

    fake = g_ref(z)
    with tf.GradientTape() as tape:
        d_loss = tf.reduce_mean(softplus(-d_ref(real))) + tf.reduce_mean(softplus(d_ref(fake)))
    for v, grad in zip(d_ref.trainable_variables, tape.gradient(d_loss, d_ref.trainable_variables)):
        v.assign_sub(0.5 * grad)
    with tf.GradientTape() as tape:
        g_loss = tf.reduce_mean(softplus(-d_ref(g_ref(z))))
    for v, grad in zip(g_ref.trainable_variables, tape.gradient(g_loss, g_ref.trainable_variables)):
        v.assign_sub(0.5 * grad)
    for got, want in zip(d.get_weights() + g.get_weights(), d_ref.get_weights() + g_ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
