"""The GAN model and its train step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_utils import GAN, build_dcgan_generator, build_mlp_discriminator, build_mlp_generator, make_dataset

BASE_METRICS = {"d_loss", "g_loss", "d_real", "d_fake"}


def _snapshot(model):
    return [np.array(w) for w in model.trainable_weights]


def _changed(before, model):
    return any(not np.allclose(a, np.asarray(b)) for a, b in zip(before, model.trainable_weights))


def _mlp_pair(image_shape=(8, 8, 1)):
    return build_mlp_generator(8, image_shape, hidden=(16,)), build_mlp_discriminator(image_shape, hidden=(16,))


def test_one_step_changes_both_networks_and_losses_are_finite(tiny_gan, tiny_images):
    g0, d0 = _snapshot(tiny_gan.generator), _snapshot(tiny_gan.discriminator)
    batch = make_dataset(tiny_images, batch_size=16).take(1).get_single_element()
    logs = tiny_gan.train_on_batch(batch, return_dict=True)
    assert set(logs) == BASE_METRICS  # gradient norms are an opt-in diagnostic
    assert all(np.isfinite(v) for v in logs.values())
    assert 0 < logs["d_real"] < 1 and 0 < logs["d_fake"] < 1
    assert _changed(g0, tiny_gan.generator)
    assert _changed(d0, tiny_gan.discriminator)
    assert set(tiny_gan.trackers) == BASE_METRICS and tiny_gan.metrics == list(tiny_gan.trackers.values())


def test_fit_trains_through_the_compiled_step(tiny_gan, tiny_images):
    hist = tiny_gan.fit(make_dataset(tiny_images, batch_size=16), epochs=2, verbose=0)
    assert len(hist.history["d_loss"]) == 2
    assert tiny_gan.d_optimizer.iterations.numpy() == 8
    assert tiny_gan.g_optimizer.iterations.numpy() == 8


def test_d_steps_updates_discriminator_that_many_times(tiny_images):
    gan = GAN(*_mlp_pair(), d_steps=3)
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


@pytest.mark.parametrize("name, hint", [("feature_matching", "FeatureMatchingGAN"), ("wasserstein", "WGANGP"),
                                        ("hinge", "non_saturating")])
def test_a_generator_loss_gan_does_not_have_names_where_to_find_it(name, hint):
    with pytest.raises(ValueError, match=hint):
        GAN(*_mlp_pair(), generator_loss=name)


def test_latent_sampler_is_seeded():
    g, d = _mlp_pair()
    a, b = GAN(g, d, seed=7), GAN(g, d, seed=7)
    np.testing.assert_array_equal(a.sample_latent(3), b.sample_latent(3))
    assert not np.allclose(a.sample_latent(3), a.sample_latent(3))  # the stream advances


def test_mixed_precision_step_is_finite(tiny_images):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        gan = GAN(*_mlp_pair())
        gan.compile()
        assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
        logs = gan.fit(make_dataset(tiny_images, batch_size=16), epochs=1, verbose=0).history
        assert np.isfinite(logs["d_loss"][0]) and np.isfinite(logs["g_loss"][0])
        assert gan.generate(tf.zeros((2, 8))).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


# ---------------------------------------------------------------- the step by hand
def _sgd(model, loss_fn, lr):
    """One SGD step of ``model`` on ``loss_fn()``; returns (loss, global norm of the gradient)."""
    with tf.GradientTape() as tape:
        loss = loss_fn()
    grads = tape.gradient(loss, model.trainable_variables)
    for v, grad in zip(model.trainable_variables, grads):
        v.assign_sub(lr * grad)
    return float(loss), float(tf.linalg.global_norm(grads))


@pytest.mark.parametrize("d_steps, generator_loss, label_smoothing", [
    (1, "non_saturating", 0.0),
    (3, "non_saturating", 0.0),
    (2, "minimax", 0.1),
])
def test_train_step_matches_the_algorithm_by_hand(d_steps, generator_loss, label_smoothing):
    """d_steps SGD steps of D, each on (real, G(z_i)) with its own z_i; then one SGD step of G through the
    *updated* D on G(z_k), the batch of the last D step. The metrics are the means over the updates."""
    keras.utils.set_random_seed(3)
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Reshape((2, 2, 1))])
    d = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(3, activation="tanh"),
                          keras.layers.Dense(1)])
    g_ref, d_ref = keras.models.clone_model(g), keras.models.clone_model(d)
    g_ref.set_weights(g.get_weights())
    d_ref.set_weights(d.get_weights())
    gan = GAN(g, d, d_steps=d_steps, generator_loss=generator_loss, label_smoothing=label_smoothing,
              track_grad_norms=True)
    gan.compile(keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5))
    zs = [tf.constant(np.random.default_rng(10 + i).standard_normal((3, 2)), tf.float32) for i in range(d_steps)]
    drawn = []

    def latent(batch_size):
        drawn.append(batch_size)
        return zs[len(drawn) - 1]

    gan.sample_latent = latent  # the step draws these z, in order
    real = tf.constant(np.random.default_rng(1).uniform(-1, 1, (3, 2, 2, 1)), tf.float32)
    logs = gan.train_on_batch(real, return_dict=True)
    assert len(drawn) == d_steps  # G's update reuses the last z: no extra draw

    # By hand: BCE of D on real (target t = 1 - smoothing) and fake (target 0), then G's loss.
    t = 1.0 - label_smoothing
    softplus = tf.math.softplus

    def d_loss(z):
        real_logits, fake_logits = d_ref(real), d_ref(g_ref(z))
        return (tf.reduce_mean(t * softplus(-real_logits) + (1 - t) * softplus(real_logits))
                + tf.reduce_mean(softplus(fake_logits)))

    def g_loss():
        logits = d_ref(g_ref(zs[-1]))
        return tf.reduce_mean(softplus(-logits)) if generator_loss == "non_saturating" else -tf.reduce_mean(
            softplus(logits))

    d_losses, d_norms = zip(*[_sgd(d_ref, lambda z=z: d_loss(z), 0.5) for z in zs])
    g_value, g_norm = _sgd(g_ref, g_loss, 0.5)
    for got, want in zip(d.get_weights() + g.get_weights(), d_ref.get_weights() + g_ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert logs["d_loss"] == pytest.approx(np.mean(d_losses), rel=1e-5)
    assert logs["d_grad_norm"] == pytest.approx(np.mean(d_norms), rel=1e-5)
    assert logs["g_loss"] == pytest.approx(g_value, rel=1e-5, abs=1e-6)
    assert logs["g_grad_norm"] == pytest.approx(g_norm, rel=1e-5)


def test_ema_generator_is_the_warmed_up_moving_average_of_g(tiny_images):
    """ema <- d ema + (1 - d) w with d = min(decay, (1 + t) / (10 + t)), t = G updates so far; BatchNorm
    statistics are copied."""
    keras.utils.set_random_seed(0)
    g = build_dcgan_generator(8, (8, 8, 1), width=4)
    gan = GAN(g, build_mlp_discriminator((8, 8, 1), hidden=(16,)), seed=0, ema_decay=0.2)
    gan.compile()
    assert gan.sampler is gan.ema_generator
    ema = [w.copy() for w in gan.ema_generator.get_weights()]
    np.testing.assert_array_equal(np.concatenate([w.ravel() for w in ema]),
                                  np.concatenate([w.ravel() for w in g.get_weights()]))
    batch = make_dataset(tiny_images, batch_size=16).take(1).get_single_element()
    trainable = [i for i, v in enumerate(g.weights) if v.trainable]
    for t in (1, 2, 3):
        gan.train_on_batch(batch)
        d = min(0.2, (1 + t) / (10 + t))  # 2/11, 0.2 (the cap), 0.2
        live = g.get_weights()
        ema = [d * e + (1 - d) * w if i in trainable else w for i, (e, w) in enumerate(zip(ema, live))]
        for got, want in zip(gan.ema_generator.get_weights(), ema):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(gan.ema_generator.get_weights(), g.get_weights()))


# ------------------------------------------------------- hooks, metrics and checkpoints
class _Penalised(GAN):
    """A variant with an extra D term, tracked under its own metric (the hook contract for subclasses)."""

    def __init__(self, *args, register=True, **kwargs):
        super().__init__(*args, **kwargs)
        if register:
            self.add_metrics("logit_penalty")

    def discriminator_loss(self, real, fake, labels=None, z=None):
        loss = super().discriminator_loss(real, fake, labels, z)
        penalty = 0.1 * tf.reduce_mean(tf.square(self.discriminate(real, labels, training=True)))
        self.track(logit_penalty=penalty)
        return loss + penalty


def test_a_subclass_adds_a_loss_term_and_its_metric(tiny_images):
    gan = _Penalised(*_mlp_pair(), seed=0)
    gan.compile()
    batch = make_dataset(tiny_images, batch_size=16).take(1).get_single_element()
    logs = gan.train_on_batch(batch, return_dict=True)
    assert set(logs) == BASE_METRICS | {"logit_penalty"}
    assert logs["logit_penalty"] > 0 and np.isfinite(logs["logit_penalty"])


def test_tracking_a_metric_that_was_not_added_is_a_clear_error(tiny_images):
    gan = _Penalised(*_mlp_pair(), register=False)
    gan.compile()
    batch = make_dataset(tiny_images, batch_size=16).take(1).get_single_element()
    with pytest.raises((KeyError, ValueError), match=r"logit_penalty.*add_metrics"):
        gan.train_on_batch(batch)


@pytest.mark.parametrize("ema_decay", [None, 0.9])
def test_checkpoint_items_hold_every_variable_and_restore_the_noise_stream(tiny_images, tmp_path, ema_decay):
    def make(seed):
        keras.utils.set_random_seed(seed)
        gan = GAN(*_mlp_pair(), seed=seed, ema_decay=ema_decay)
        gan.compile()
        return gan

    def trackable(items):  # a keras SeedGenerator is not a TensorFlow trackable; its state variable is
        return {k: v.state if isinstance(v, keras.random.SeedGenerator) else v for k, v in items.items()}

    gan = make(0)
    gan.fit(make_dataset(tiny_images, batch_size=16), epochs=1, verbose=0)
    items = gan.checkpoint_items()
    expected = {"generator", "discriminator", "g_optimizer", "d_optimizer", "seed_generator"}
    assert set(items) == expected | ({"ema_generator"} if ema_decay else set())
    every = gan.variables + gan.d_optimizer.variables + gan.g_optimizer.variables + [gan.seed_generator.state]
    covered = {id(v) for item in trackable(items).values() for v in getattr(item, "variables", [item])}
    assert [v.path for v in every if id(v) not in covered] == []
    path = tf.train.Checkpoint(**trackable(items)).write(str(tmp_path / "ckpt"))

    fresh = make(1)
    tf.train.Checkpoint(**trackable(fresh.checkpoint_items())).read(path).assert_consumed()
    fresh_every = fresh.variables + fresh.d_optimizer.variables + fresh.g_optimizer.variables
    for a, b in zip(gan.variables + gan.d_optimizer.variables + gan.g_optimizer.variables, fresh_every):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    np.testing.assert_array_equal(gan.sample_latent(4), fresh.sample_latent(4))
