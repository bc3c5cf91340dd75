"""WGAN-GP: the critic updates, the metrics, mixed precision and the training path."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_utils import build_dcgan_discriminator, build_dcgan_generator, make_dataset, train
from gan_utils.config import dtype_policy
from gan_utils.gans.wgan_gp import WGANGP, batch_norm_layers, critic_gradient_norms

# grad_norm: the critic's gradient norm at the penalty's interpolates (always logged);
# d/g_grad_norm: the parameter gradients' norms (with track_grad_norms=True).
WGAN_METRICS = {"d_loss", "g_loss", "w_distance", "gp", "grad_norm"}
GRAD_NORMS = {"d_grad_norm", "g_grad_norm"}


def _tiny_wgan(precision="float32", d_steps=5, shape=(8, 8, 1), **kwargs):
    """DCGAN generator and critic (norm="layer", no BatchNorm) at width 4 on 8x8 images."""
    keras.utils.set_random_seed(0)
    with dtype_policy(precision):
        g = build_dcgan_generator(8, shape, width=4)
        d = build_dcgan_discriminator(shape, width=4, norm="layer")
        gan = WGANGP(g, d, d_steps=d_steps, seed=0, **kwargs)
    gan.compile(keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9), keras.optimizers.Adam(1e-3, beta_1=0.5, beta_2=0.9))
    return gan


def _linear_critic(n_inputs, w=None):
    critic = keras.Sequential([keras.Input((n_inputs, 1, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    if w is not None:
        critic.set_weights([np.reshape(w, (-1, 1)).astype(np.float32), np.zeros(1, np.float32)])
    return critic


def _batch(images, size=16):
    return make_dataset(images, batch_size=size).take(1).get_single_element()


def test_defaults_follow_the_paper():
    gan = WGANGP(build_dcgan_generator(8, (8, 8, 1), width=4), build_dcgan_discriminator((8, 8, 1), width=4))
    assert gan.d_steps == 5 and gan.gp_weight == 10.0 and not gan.fresh_real_batches
    assert gan.critic is gan.discriminator
    gan.compile()
    for opt in (gan.d_optimizer, gan.g_optimizer):
        assert float(opt.learning_rate) == pytest.approx(1e-4)
        assert opt.beta_1 == 0.0 and opt.beta_2 == 0.9


def test_one_step_makes_n_critic_updates_inside_one_compiled_call(tiny_images):
    gan = _tiny_wgan()
    hook, calls = gan.discriminator_loss, []

    def counting_hook(*args):
        calls.append(1)  # Python runs only while the step is traced
        return hook(*args)

    gan.discriminator_loss = counting_hook
    batch = _batch(tiny_images)
    d0, g0 = gan.critic.get_weights(), gan.generator.get_weights()
    gan.train_on_batch(batch)
    assert gan.d_optimizer.iterations.numpy() == 5 and gan.g_optimizer.iterations.numpy() == 1
    assert any(not np.allclose(a, b) for a, b in zip(d0, gan.critic.get_weights()))
    assert any(not np.allclose(a, b) for a, b in zip(g0, gan.generator.get_weights()))
    gan.train_on_batch(batch)
    assert gan.d_optimizer.iterations.numpy() == 10 and gan.g_optimizer.iterations.numpy() == 2
    # Traced once, with the five critic updates unrolled in the graph: the second step ran
    # all five without coming back to Python.
    assert len(calls) == 5 and not gan.run_eagerly


def _check_against_algorithm_1(real, parts, **gan_kwargs):
    """Train one WGANGP step (n_critic = len(parts), SGD 0.1) and redo it by hand; return the step's logs.

    Critic update i uses its own z_i, its own epsilon_i (drawn from the i-th seed the step asks
    for) and the real images parts[i], on
        L_D = E[D(G(z_i))] - E[D(x)] + 10 E[(||grad D(x_hat)||_2 - 1)^2],  x_hat = eps x + (1 - eps) G(z_i);
    then G takes one step on -E[D(G(z))] with a fresh z, through the updated critic. The critic has
    a tanh hidden layer, so its gradient norm, and the penalty, depend on where x_hat lies.
    """
    keras.utils.set_random_seed(3)
    n_critic, n = len(parts), int(parts[0].shape[0])
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Reshape((4, 1, 1))])
    d = keras.Sequential([keras.Input((4, 1, 1)), keras.layers.Flatten(), keras.layers.Dense(3, activation="tanh"),
                          keras.layers.Dense(1)])
    g_ref, d_ref = keras.models.clone_model(g), keras.models.clone_model(d)
    g_ref.set_weights(g.get_weights())
    d_ref.set_weights(d.get_weights())
    gan = WGANGP(g, d, d_steps=n_critic, **gan_kwargs)
    gan.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    zs = [tf.constant(np.random.default_rng(10 + i).standard_normal((n, 2)), tf.float32) for i in range(n_critic + 1)]
    seeds = [tf.constant([100 + i, 7], tf.int64) for i in range(n_critic)]
    drawn, seeded = [], []

    def latent(batch_size):
        drawn.append(batch_size)
        return zs[len(drawn) - 1]

    def next_seed():
        seeded.append(1)
        return seeds[len(seeded) - 1]

    gan.sample_latent, gan.next_seed = latent, next_seed  # the step draws these z and epsilon seeds, in order
    logs = gan.train_on_batch(real, return_dict=True)
    assert len(drawn) == n_critic + 1  # one z per critic update, and a fresh one for G
    assert len(seeded) == n_critic  # one epsilon per critic update

    def sgd(loss_fn, model):
        with tf.GradientTape() as tape:
            loss, terms = loss_fn()
        for v, grad in zip(model.trainable_variables, tape.gradient(loss, model.trainable_variables)):
            v.assign_sub(0.1 * grad)
        return terms

    def critic_loss(z, part, seed):
        fake = g_ref(z)
        eps = tf.random.stateless_uniform([n], seed=seed)[:, None, None, None]
        x_hat = eps * part + (1.0 - eps) * fake
        with tf.GradientTape() as inner:
            inner.watch(x_hat)
            total = tf.reduce_sum(d_ref(x_hat))
        norms = tf.sqrt(tf.reduce_sum(tf.square(inner.gradient(total, x_hat)), axis=[1, 2, 3]))
        gp = 10.0 * tf.reduce_mean(tf.square(norms - 1.0))
        w = tf.reduce_mean(d_ref(part)) - tf.reduce_mean(d_ref(fake))
        return -w + gp, [float(-w + gp), float(w), float(gp), float(tf.reduce_mean(norms))]

    terms = [sgd(lambda z=z, part=part, seed=seed: critic_loss(z, part, seed), d_ref)
             for z, part, seed in zip(zs, parts, seeds)]

    def generator_loss():
        loss = -tf.reduce_mean(d_ref(g_ref(zs[-1])))
        return loss, float(loss)

    g_loss = sgd(generator_loss, g_ref)
    for got, want in zip(d.get_weights() + g.get_weights(), d_ref.get_weights() + g_ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # The critic's metrics are means over its updates.
    for name, want in zip(("d_loss", "w_distance", "gp", "grad_norm"), np.mean(terms, axis=0)):
        assert logs[name] == pytest.approx(want, rel=1e-4, abs=1e-5), name
    assert logs["g_loss"] == pytest.approx(g_loss, rel=1e-4, abs=1e-5)
    return logs


def test_train_step_matches_algorithm_1_by_hand():
    """n_critic = 3 critic updates, each with its own z and epsilon on the shared real batch, then
    one G update on fresh z (Gulrajani et al., 2017, Algorithm 1)."""
    real = tf.constant(np.random.default_rng(1).uniform(-1, 1, (3, 4, 1, 1)), tf.float32)
    logs = _check_against_algorithm_1(real, [real] * 3)
    assert logs["gp"] > 0


def test_fresh_real_batches_give_each_critic_update_its_own_slice_as_in_algorithm_1():
    """Algorithm 1 draws a new real batch for every critic update: with ``fresh_real_batches`` a
    dataset batch of 7 images and n_critic = 2 gives the updates real[0:3] and real[3:6] (the
    seventh image is left out), and G's update uses batches of 3 too."""
    real = tf.constant(np.random.default_rng(1).uniform(-1, 1, (7, 4, 1, 1)), tf.float32)
    _check_against_algorithm_1(real, [real[0:3], real[3:6]], fresh_real_batches=True)


def test_fresh_real_batches_slice_the_labels_with_the_images():
    keras.utils.set_random_seed(0)
    z, y = keras.Input((4,)), keras.Input((), dtype="int32")
    h = keras.layers.Concatenate()([z, keras.layers.Flatten()(keras.layers.Embedding(3, 2)(y))])
    g = keras.Model([z, y], keras.layers.Reshape((4, 4, 1))(keras.layers.Dense(16, activation="tanh")(h)))
    x, yd = keras.Input((4, 4, 1)), keras.Input((), dtype="int32")
    h = keras.layers.Concatenate()([keras.layers.Flatten()(x), keras.layers.Flatten()(keras.layers.Embedding(3, 2)(yd))])
    d = keras.Model([x, yd], keras.layers.Dense(1)(h))
    gan = WGANGP(g, d, d_steps=2, seed=0, fresh_real_batches=True)
    gan.compile(run_eagerly=True)  # eager, so the hook below sees each update's values
    seen, hook = [], gan.discriminator_loss

    def recording_hook(real, fake, labels=None, z=None):
        seen.append((real.numpy()[:, 0, 0, 0], labels.numpy(), fake.shape[0]))
        return hook(real, fake, labels, z)

    gan.discriminator_loss = recording_hook
    images = np.linspace(-1, 1, 8, dtype=np.float32)[:, None, None, None] * np.ones((8, 4, 4, 1), np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1], np.int32)
    logs = gan.train_on_batch(images, labels, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    assert len(seen) == 2
    for (got_images, got_labels, n_fake), part in zip(seen, (slice(0, 4), slice(4, 8))):
        np.testing.assert_array_equal(got_images, images[part, 0, 0, 0])
        np.testing.assert_array_equal(got_labels, labels[part])
        assert n_fake == 4


def test_fresh_real_batches_need_d_steps_images_per_batch():
    gan = _tiny_wgan(d_steps=3, fresh_real_batches=True)
    images = np.zeros((2, 8, 8, 1), np.float32)
    # A batch size known when the step is traced: refused then.
    with pytest.raises(ValueError, match=r"fresh_real_batches.*dataset_batch_size.*got a batch of 2"):
        gan.train_on_batch(images)
    # A dataset whose batch size is only known at run time (no drop_remainder): the run-time check.
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(2)
    assert dataset.element_spec.shape[0] is None
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"fresh_real_batches.*dataset_batch_size"):
        gan.fit(dataset, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="fresh_real_batches must be True or False"):
        _tiny_wgan(fresh_real_batches="yes")


@pytest.mark.parametrize("fresh, images_per_batch", [(False, 8), (True, 24)])
def test_recipe_dataset_batch_size_holds_one_slice_per_critic_update(fresh, images_per_batch):
    from gan_utils.recipes import Recipe

    recipe = Recipe(name="critic", build=None, epochs=1, batch_size=8,
                    gan_kwargs={"d_steps": 3, "fresh_real_batches": fresh})
    assert recipe.dataset_batch_size == images_per_batch


@pytest.mark.parametrize("track_grad_norms, extra", [(False, set()), (True, GRAD_NORMS)])
def test_fit_logs_the_wasserstein_metrics(tiny_images, track_grad_norms, extra):
    gan = _tiny_wgan(track_grad_norms=track_grad_norms)
    history = gan.fit(make_dataset(tiny_images, batch_size=16), epochs=1, verbose=0).history
    assert set(history) == WGAN_METRICS | extra  # no d_real / d_fake: sigmoids of a critic's scores mean nothing
    assert all(np.isfinite(v[0]) for v in history.values())
    assert history["gp"][0] > 0 and history["grad_norm"][0] > 0
    assert all(history[name][0] > 0 for name in extra)


def test_d_loss_is_minus_w_distance_plus_gp(tiny_images):
    gan = _tiny_wgan(d_steps=1)  # with one critic update the step's metrics all come from it
    logs = gan.train_on_batch(_batch(tiny_images), return_dict=True)
    assert logs["d_loss"] == pytest.approx(-logs["w_distance"] + logs["gp"], rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("precision, compute", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_step_is_finite(tiny_images, precision, compute):
    gan = _tiny_wgan(precision, d_steps=2)
    assert gan.critic.get_layer("down_0").compute_dtype == compute
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer) == (compute == "float16")
    history = gan.fit(make_dataset(tiny_images, batch_size=16), epochs=1, verbose=0).history
    assert set(history) == WGAN_METRICS
    assert all(np.isfinite(v[0]) for v in history.values()), history
    for net in (gan.generator, gan.critic):
        assert all(np.isfinite(np.asarray(w)).all() for w in net.trainable_weights)


def test_batch_norm_critic_is_refused():
    g = build_dcgan_generator(8, (16, 16, 1), width=4)
    with pytest.raises(ValueError, match=r"BatchNormalization.*per-sample.*norm='layer'"):
        WGANGP(g, build_dcgan_discriminator((16, 16, 1), width=4, norm="batch"))
    # Also when it hides in a nested model.
    inner = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(), keras.layers.BatchNormalization()])
    nested = keras.Sequential([keras.Input((16, 16, 1)), inner, keras.layers.Dense(1)])
    assert batch_norm_layers(nested) == [inner.layers[-1].name]
    with pytest.raises(ValueError, match="BatchNormalization"):
        WGANGP(g, nested)
    # LayerNorm, or no normalisation, is fine; the generator may use BatchNorm.
    WGANGP(g, build_dcgan_discriminator((16, 16, 1), width=4, norm="layer"))
    WGANGP(g, build_dcgan_discriminator((16, 16, 1), width=4, norm=None))


@pytest.mark.parametrize("kwargs, match", [
    ({"gp_weight": -1.0}, "weight must be a finite number >= 0"),
    ({"generator_loss": "non_saturating"}, "wasserstein"),
    ({"d_steps": 0}, "d_steps"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WGANGP(build_dcgan_generator(8, (8, 8, 1), width=4), build_dcgan_discriminator((8, 8, 1), width=4), **kwargs)


def test_conditional_wgan_gp_step():
    keras.utils.set_random_seed(0)
    z, y = keras.Input((4,)), keras.Input((), dtype="int32")
    h = keras.layers.Concatenate()([z, keras.layers.Flatten()(keras.layers.Embedding(3, 2)(y))])
    g = keras.Model([z, y], keras.layers.Reshape((4, 4, 1))(keras.layers.Dense(16, activation="tanh")(h)))
    x, yd = keras.Input((4, 4, 1)), keras.Input((), dtype="int32")
    h = keras.layers.Concatenate()([keras.layers.Flatten()(x), keras.layers.Flatten()(keras.layers.Embedding(3, 2)(yd))])
    d = keras.Model([x, yd], keras.layers.Dense(1)(keras.layers.Dense(8, activation="leaky_relu")(h)))
    gan = WGANGP(g, d, d_steps=2, seed=0)
    gan.compile()
    images = np.random.default_rng(0).uniform(-1, 1, (8, 4, 4, 1)).astype(np.float32)
    labels = np.arange(8, dtype=np.int32) % 3
    logs = gan.train_on_batch(images, labels, return_dict=True)
    assert set(logs) == WGAN_METRICS and all(np.isfinite(v) for v in logs.values())
    norms = critic_gradient_norms(d, images, images[::-1], labels, batch_size=3)
    assert norms.shape == (8,) and np.isfinite(norms).all()


def _state(gan):
    """Every variable of ``gan.checkpoint_items()``, by item name."""
    state = {}
    for name, item in gan.checkpoint_items().items():
        if isinstance(item, keras.random.SeedGenerator):
            item = item.state
        state[name] = [np.asarray(v) for v in getattr(item, "variables", [item])]
    return state


def test_trains_through_the_training_path_and_resumes_from_its_checkpoint(tiny_images, tmp_path):
    out = tmp_path / "run"
    first_gan = _tiny_wgan()
    first = train(first_gan, make_dataset(tiny_images, batch_size=16), out, epochs=1, verbose=0, grid_size=4)
    assert (out / "generator.keras").is_file() and (out / "losses.png").is_file()
    assert set(first.history) == WGAN_METRICS | {"seconds"}
    # The checkpoint restores every item: both networks, both optimisers, the seed generator.
    fresh = _tiny_wgan()
    train(fresh, make_dataset(tiny_images, batch_size=16), out, epochs=1, verbose=0, grid_size=4)  # nothing left to do
    restored = _state(fresh)
    for name, values in _state(first_gan).items():
        assert len(values) == len(restored[name]), name
        for a, b in zip(values, restored[name]):
            np.testing.assert_array_equal(a, b, err_msg=name)
    # Resume for a second epoch.
    gan = _tiny_wgan()
    second = train(gan, make_dataset(tiny_images, batch_size=16), out, epochs=2, verbose=0, grid_size=4)
    assert second.resumed_from == 1 and len(second.history["w_distance"]) == 2
    assert second.history["gp"][:1] == first.history["gp"]
    assert gan.d_optimizer.iterations.numpy() == 2 * 4 * 5 and gan.g_optimizer.iterations.numpy() == 2 * 4


def test_critic_gradient_norms_of_a_linear_critic():
    w = np.array([3.0, 0.0, 4.0])  # ||w|| = 5 at every point
    rng = np.random.default_rng(0)
    real, fake = rng.uniform(-1, 1, (10, 3, 1, 1)), rng.uniform(-1, 1, (10, 3, 1, 1))
    norms = critic_gradient_norms(_linear_critic(3, w), real, fake, batch_size=4)
    assert norms.shape == (10,) and norms.dtype == np.float32
    np.testing.assert_allclose(norms, 5.0, rtol=1e-5)


def test_critic_gradient_norms_are_seeded_and_chunked_consistently():
    def critic(x, training=False):  # 0.5 ||x||^2 on 1x1 images, real = 1, fake = 0: the norm is epsilon
        return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])

    ones, zeros = np.ones((9, 1, 1, 1)), np.zeros((9, 1, 1, 1))
    a = critic_gradient_norms(critic, ones, zeros, seed=1, batch_size=4)
    np.testing.assert_array_equal(a, critic_gradient_norms(critic, ones, zeros, seed=1, batch_size=4))
    assert not np.allclose(a, critic_gradient_norms(critic, ones, zeros, seed=2, batch_size=4))
    assert len(np.unique(a)) == 9 and a.min() >= 0 and a.max() <= 1


@pytest.mark.parametrize("kwargs, match", [
    ({"fake": np.zeros((4, 3, 1, 1))}, "same shape"),
    ({"labels": np.zeros(2, np.int32)}, "one label per image"),
    ({"batch_size": 0}, "batch_size"),
    ({"seed": 1.5}, "seed"),
])
def test_critic_gradient_norms_bad_arguments(kwargs, match):
    args = {"critic": _linear_critic(3), "real": np.zeros((5, 3, 1, 1)), "fake": np.zeros((5, 3, 1, 1)), **kwargs}
    with pytest.raises(ValueError, match=match):
        critic_gradient_norms(**args)


def test_wasserstein_monitor_records_the_estimate_and_the_score(tiny_images):
    from gan_utils import WassersteinMonitor, classifier_probs, classifier_score

    keras.utils.set_random_seed(0)
    gan = WGANGP(build_dcgan_generator(8, (28, 28, 1), width=4), build_dcgan_discriminator((28, 28, 1), width=4,
                                                                                         norm="layer"), seed=0)
    gan.compile()
    real = np.random.default_rng(0).integers(0, 256, (32, 28, 28, 1), dtype=np.uint8)
    monitor = WassersteinMonitor(real[:20], every=2)
    gan.fit(make_dataset(real, batch_size=8), epochs=1, verbose=0, callbacks=[monitor])
    assert monitor.records["step"] == [2, 4] and len(monitor.records["score"]) == 2
    # By hand for the last record: mean critic score on the real images minus that on G's images of the
    # fixed noise, and the classifier score of the sampling generator's images of that noise.
    fake = gan.generator.predict(monitor._noise, verbose=0)
    expected = np.mean(gan.critic.predict(monitor.real, verbose=0)) - np.mean(gan.critic.predict(fake, verbose=0))
    assert monitor.records["w_estimate"][-1] == pytest.approx(expected, rel=1e-4, abs=1e-5)
    score = classifier_score(classifier_probs(gan.sampler.predict(monitor._noise, verbose=0)))
    assert monitor.records["score"][-1] == pytest.approx(score, rel=1e-4)
    with pytest.raises(ValueError, match="every"):
        WassersteinMonitor(real, every=0)


def test_wgan_gp_refuses_label_smoothing():
    with pytest.raises(ValueError, match="label_smoothing"):
        WGANGP(build_dcgan_generator(8, (8, 8, 1), width=4), build_dcgan_discriminator((8, 8, 1), width=4),
               label_smoothing=0.1)


def test_critic_gradient_norms_accept_uint8_images_like_the_monitor():
    critic = _linear_critic(4, w=[3.0, 0.0, 4.0, 0.0])
    real = np.full((6, 4, 1, 1), 255, np.uint8)
    fake = np.zeros((6, 4, 1, 1), np.float32)
    np.testing.assert_allclose(critic_gradient_norms(critic, real, fake), 5.0, rtol=1e-5)
    with pytest.raises(ValueError):
        critic_gradient_norms(critic, real.astype(np.float32), fake)  # [0, 255] floats where [-1, 1] is expected


def _small_coded_wgan_recipe(**changes):
    """The wgan-gp recipe at toy widths, with a 3-way code: an InfoWGANGP whose generator reads the code."""
    from gan_utils import get_recipe, models
    from gan_utils.gans.infogan import InfoWGANGP

    def build(recipe, image_shape):
        return (models.build_dcgan_generator(recipe.latent_dim, image_shape, width=4, categorical_code=3),
                models.build_dcgan_discriminator(image_shape, width=4, norm=None))

    recipe = get_recipe("wgan-gp").with_overrides(precision="float32")
    return dataclasses.replace(recipe, latent_dim=16, gan_class=InfoWGANGP, build=build,
                               gan_kwargs={**recipe.gan_kwargs, "categorical": 3}, **changes)


def test_a_recipe_with_labelled_per_class_draws_them_from_the_training_set_given(tiny_images):
    from gan_utils import build_gan

    recipe = _small_coded_wgan_recipe(labelled_per_class=2)
    with pytest.raises(ValueError, match=r"2 labelled images per class: pass the training set.*labelled="):
        build_gan(recipe, image_shape=(8, 8, 1))
    x = np.random.default_rng(0).integers(0, 256, (30, 8, 8), dtype=np.uint8)
    y = np.arange(30) % 3
    gan = build_gan(recipe, image_shape=(8, 8, 1), labelled=(x, y))
    np.testing.assert_array_equal(gan.labelled[1].numpy(), [0, 0, 1, 1, 2, 2])
    logs = gan.train_on_batch(_batch(tiny_images), return_dict=True)
    assert np.isfinite(logs["labelled_loss"]) and logs["labelled_loss"] > 0.0
    with pytest.raises(ValueError, match="uses no labelled images"):
        build_gan(dataclasses.replace(recipe, labelled_per_class=0), image_shape=(8, 8, 1), labelled=(x, y))
