"""Loss values against numbers worked out by hand."""

import math

import numpy as np
import pytest

from gan_utils import losses


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_discriminator_loss_at_zero_logits_is_2_log_2():
    # D = 0.5 everywhere: -log(0.5) for the real term plus -log(0.5) for the fake term.
    value = float(losses.discriminator_loss(np.zeros(4), np.zeros(4)))
    assert value == pytest.approx(2 * math.log(2), rel=1e-6)


def test_discriminator_loss_hand_computed():
    real, fake = [2.0, -1.0], [0.5, -3.0]
    expected = -np.mean([math.log(sigmoid(r)) for r in real]) - np.mean([math.log(1 - sigmoid(f)) for f in fake])
    assert float(losses.discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-6)


def test_one_sided_label_smoothing_targets_point_nine():
    real, fake = [1.5], [0.0]
    d = sigmoid(1.5)
    expected = -(0.9 * math.log(d) + 0.1 * math.log(1 - d)) + math.log(2)
    assert float(losses.discriminator_loss(real, fake, label_smoothing=0.1)) == pytest.approx(expected, rel=1e-6)
    # Smoothing leaves the fake term alone: the loss on fakes is unchanged.
    assert float(losses.discriminator_loss([100.0], fake, 0.1)) - float(
        losses.discriminator_loss([100.0], fake, 0.0)
    ) == pytest.approx(0.1 * 100.0, rel=1e-4)


def test_generator_losses_hand_computed():
    fake = [0.3, -2.0]
    ns = -np.mean([math.log(sigmoid(f)) for f in fake])
    mm = np.mean([math.log(1 - sigmoid(f)) for f in fake])
    assert float(losses.generator_loss_non_saturating(fake)) == pytest.approx(ns, rel=1e-6)
    assert float(losses.generator_loss_minimax(fake)) == pytest.approx(mm, rel=1e-6)


def test_gradients_show_saturation():
    """d/dl of the minimax loss is -D (vanishes when D rejects), non-saturating is -(1 - D)."""
    import tensorflow as tf

    logit = tf.Variable([-6.0])
    with tf.GradientTape(persistent=True) as tape:
        mm = losses.generator_loss_minimax(logit)
        ns = losses.generator_loss_non_saturating(logit)
    d = sigmoid(-6.0)
    assert float(tape.gradient(mm, logit)[0]) == pytest.approx(-d, rel=1e-5)
    assert float(tape.gradient(ns, logit)[0]) == pytest.approx(-(1 - d), rel=1e-5)


def test_losses_are_finite_for_extreme_logits():
    big = np.array([1e4, -1e4], np.float32)
    for value in (losses.discriminator_loss(big, big), losses.generator_loss_minimax(big),
                  losses.generator_loss_non_saturating(big)):
        assert np.isfinite(float(value))


def test_float16_logits_give_float32_loss():
    value = losses.discriminator_loss(np.zeros(2, np.float16), np.zeros(2, np.float16))
    assert value.dtype.name == "float32"


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2])
def test_bad_label_smoothing(bad):
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.discriminator_loss([0.0], [0.0], bad)


def test_unknown_generator_loss_lists_choices():
    with pytest.raises(ValueError, match="minimax"):
        losses.get_generator_loss("hinge")


@pytest.mark.parametrize("name, hint", [("feature_matching", "FeatureMatchingGAN"), ("wasserstein", "WGANGP")])
def test_a_generator_loss_outside_the_allowed_ones_names_the_class_that_has_it(name, hint):
    with pytest.raises(ValueError, match=hint):
        losses.get_generator_loss(name, allowed=("non_saturating", "minimax"))
    assert losses.get_generator_loss("minimax", allowed=("minimax",)) is losses.generator_loss_minimax


# ------------------------------------------------------------ InfoGAN's continuous codes
def test_gaussian_code_loss_hand_computed():
    """-log N(c; mu, sigma^2) = log sigma + (c - mu)^2 / (2 sigma^2) + log(2 pi) / 2, summed over codes, batch mean."""
    codes = np.array([[0.5, -1.0], [2.0, 0.0]], np.float32)
    mean = np.array([[0.0, -1.0], [1.0, 0.5]], np.float32)
    log_std = np.log(np.array([[1.0, 2.0], [0.5, 1.0]], np.float32))
    # Row 1: sigma 1, error 0.5 -> 0.125; sigma 2, error 0 -> log 2. Row 2: sigma 0.5, error 1 -> -log 2 + 2;
    # sigma 1, error -0.5 -> 0.125. Each code adds log(2 pi) / 2; the log 2 terms cancel over the batch.
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    row_1 = 0.125 + math.log(2) + 2 * half_log_2pi
    row_2 = -math.log(2) + 2.0 + 0.125 + 2 * half_log_2pi
    value = losses.gaussian_code_loss(codes, mean, log_std)
    assert value.dtype.name == "float32" and value.shape == ()
    assert float(value) == pytest.approx((row_1 + row_2) / 2, rel=1e-6)
    assert float(value) == pytest.approx(1.125 + math.log(2 * math.pi), rel=1e-6)
    # float16 inputs give the same float32 value.
    half = losses.gaussian_code_loss(*(a.astype(np.float16) for a in (codes, mean, log_std)))
    assert half.dtype.name == "float32" and float(half) == pytest.approx(float(value), rel=1e-3)


def test_gaussian_code_loss_gradients_by_hand():
    """d/dmu = -(c - mu) / sigma^2 and d/dlog_sigma = 1 - (c - mu)^2 / sigma^2, each over the batch size."""
    import tensorflow as tf

    codes = tf.constant([[1.5], [-0.5]])
    mean = tf.Variable([[0.5], [0.5]])
    log_std = tf.Variable(np.log([[2.0], [0.5]]).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = losses.gaussian_code_loss(codes, mean, log_std)
    d_mean, d_log_std = tape.gradient(loss, [mean, log_std])
    # Errors 1 and -1, variances 4 and 0.25; batch of 2.
    np.testing.assert_allclose(d_mean, [[-1 / 4 / 2], [1 / 0.25 / 2]], rtol=1e-6)
    np.testing.assert_allclose(d_log_std, [[(1 - 1 / 4) / 2], [(1 - 1 / 0.25) / 2]], rtol=1e-6)


# ------------------------------------------------------------ Wasserstein losses and gradient penalty
def test_wasserstein_losses_hand_computed():
    real, fake = [1.0, 3.0], [-2.0, 0.5]
    # critic: mean D(G(z)) - mean D(x) = -0.75 - 2.0; generator: -mean D(G(z)) = 0.75
    assert float(losses.critic_loss_wasserstein(real, fake)) == pytest.approx(-2.75, rel=1e-6)
    assert float(losses.generator_loss_wasserstein(fake)) == pytest.approx(0.75, rel=1e-6)
    assert losses.get_generator_loss("wasserstein") is losses.generator_loss_wasserstein
    column = np.array([[1.0], [3.0]], np.float16)  # [B, 1] float16 scores give float32 losses
    value = losses.critic_loss_wasserstein(column, np.zeros((2, 1), np.float16))
    assert value.dtype.name == "float32" and float(value) == pytest.approx(-2.0)


def test_wasserstein_generator_gradient_never_saturates():
    import tensorflow as tf

    scores = tf.Variable([-50.0, 0.0, 50.0, 1e4])
    with tf.GradientTape() as tape:
        loss = losses.generator_loss_wasserstein(scores)
    np.testing.assert_allclose(tape.gradient(loss, scores), [-0.25] * 4)


def _linear_critic(w, bias=0.0, shape=(4, 4, 1), use_bias=True):
    """f(x) = w . flatten(x) + b: its gradient is w everywhere, so ||grad f|| = ||w||."""
    import keras

    critic = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=use_bias)])
    weights = [np.reshape(w, (-1, 1)).astype(np.float32)]
    critic.set_weights(weights + [np.array([bias], np.float32)] if use_bias else weights)
    return critic


def _batches(n=8, shape=(4, 4, 1), seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, *shape)).astype(np.float32), rng.uniform(-1, 1, (n, *shape)).astype(np.float32)


_W = {
    "norm 2": np.full(16, 0.5),
    "norm 0.3": 0.3 * np.random.default_rng(5).standard_normal(16) / np.linalg.norm(np.random.default_rng(5).standard_normal(16)),
    "unit": np.eye(16)[3],
    "norm 7.5": np.arange(16) / np.linalg.norm(np.arange(16)) * 7.5,
}


@pytest.mark.parametrize("name", sorted(_W))
@pytest.mark.parametrize("weight, use_bias", [(10.0, True), (2.5, False)])
def test_gradient_penalty_of_a_linear_critic_is_weight_times_norm_minus_1_squared(name, weight, use_bias):
    w = _W[name]
    critic = _linear_critic(w, bias=0.7, use_bias=use_bias)
    real, fake = _batches()
    penalty, norms = losses.gradient_penalty(critic, real, fake, weight=weight, seed=1, return_norms=True)
    expected = weight * (np.linalg.norm(w) - 1.0) ** 2
    assert penalty.dtype.name == "float32" and penalty.shape == ()
    assert float(penalty) == pytest.approx(expected, rel=1e-5, abs=1e-5)
    assert norms.shape == (8,)
    np.testing.assert_allclose(norms, np.linalg.norm(w), rtol=1e-5)


def test_gradient_penalty_of_a_conditional_critic():
    import keras

    image, label = keras.Input((4, 4, 1)), keras.Input((), dtype="int32")
    score = keras.layers.Dense(1, use_bias=False, name="w")(keras.layers.Flatten()(image))
    score = keras.layers.Add()([score, keras.layers.Embedding(10, 1)(label)])  # + b_y: shifts, no gradient in x
    critic = keras.Model([image, label], score)
    w = _W["norm 2"]
    critic.get_layer("w").set_weights([w.reshape(-1, 1).astype(np.float32)])
    real, fake = _batches()
    labels = np.arange(8, dtype=np.int32)
    penalty = losses.gradient_penalty(critic, real, fake, labels, seed=0)
    assert float(penalty) == pytest.approx(10.0 * (np.linalg.norm(w) - 1) ** 2, rel=1e-5)


@pytest.mark.parametrize("hidden", [False, True])
def test_gradient_penalty_and_its_gradient_are_finite_when_the_gradient_is_zero(hidden):
    """An all-zero critic has grad D = 0: sqrt'(0) is infinite, a naive norm gives NaN gradients."""
    import keras
    import tensorflow as tf

    layers = [keras.Input((4, 4, 1)), keras.layers.Flatten()]
    layers += [keras.layers.Dense(8, activation="relu", kernel_initializer="zeros")] if hidden else []
    critic = keras.Sequential(layers + [keras.layers.Dense(1, kernel_initializer="zeros")])
    real, fake = _batches()
    with tf.GradientTape() as tape:
        penalty, norms = losses.gradient_penalty(critic, real, fake, seed=0, return_norms=True)
    grads = tape.gradient(penalty, critic.trainable_variables)
    assert float(penalty) == pytest.approx(10.0, rel=1e-5)  # (0 - 1)^2, times the weight
    assert np.all(np.asarray(norms) < 1e-5)
    _assert_finite_kernel_gradients(critic, grads)

    # The same penalty with tf.norm (no epsilon) is what this guards against.
    x = tf.constant(real)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(x)
            total = tf.reduce_sum(critic(x))
        naive = tf.reduce_mean((tf.norm(tf.reshape(inner.gradient(total, x), [8, -1]), axis=1) - 1.0) ** 2)
    naive_grads = outer.gradient(naive, critic.trainable_variables)
    assert any(g is not None and not np.isfinite(np.asarray(g)).all() for g in naive_grads)


def _assert_finite_kernel_gradients(critic, grads):
    # The output bias shifts every score alike: no gradient in x, so its penalty gradient is None.
    kernels = [g for v, g in zip(critic.trainable_variables, grads) if "kernel" in v.path]
    assert kernels and all(g is not None and np.isfinite(np.asarray(g)).all() for g in kernels)
    assert all(g is None or np.isfinite(np.asarray(g)).all() for g in grads)


class _Recorder:
    """A critic that records what it is called with: 0.5 * ||x||^2, whose gradient is x itself."""

    def __init__(self):
        self.inputs = []

    def __call__(self, x, training=False):
        import tensorflow as tf

        self.inputs.append(np.asarray(x))
        return 0.5 * tf.reduce_sum(tf.square(x), axis=list(range(1, x.shape.rank)))


def test_epsilon_is_uniform_on_0_1_and_drawn_per_sample():
    n = 4096
    critic = _Recorder()
    _, norms = losses.gradient_penalty(critic, np.ones((n, 2, 3, 1)), np.zeros((n, 2, 3, 1)), seed=123,
                                       return_norms=True)
    x_hat = critic.inputs[0]  # eps * 1 + (1 - eps) * 0 = eps, broadcast over each image
    eps = x_hat[:, 0, 0, 0]
    np.testing.assert_array_equal(x_hat, np.broadcast_to(eps[:, None, None, None], x_hat.shape))
    assert eps.min() >= 0.0 and eps.max() <= 1.0
    # U[0, 1]: mean 1/2 (standard error 0.0045 here), variance 1/12 = 0.0833 (standard error 0.0012).
    assert eps.mean() == pytest.approx(0.5, abs=0.02)
    assert eps.var() == pytest.approx(1 / 12, abs=0.006)
    assert np.all(np.histogram(eps, bins=10, range=(0, 1))[0] > 0.08 * n)
    assert len(np.unique(eps)) > 0.99 * n  # one draw per sample, not one per batch
    np.testing.assert_allclose(norms, eps * np.sqrt(6), rtol=1e-5, atol=1e-5)  # grad = x_hat


def test_interpolates_lie_between_real_and_fake_and_are_reproducible():
    real, fake = _batches(6)
    first, second, other = _Recorder(), _Recorder(), _Recorder()
    losses.gradient_penalty(first, real, fake, seed=7)
    losses.gradient_penalty(second, real, fake, seed=7)
    losses.gradient_penalty(other, real, fake, seed=8)
    x_hat = first.inputs[0]
    np.testing.assert_array_equal(x_hat, second.inputs[0])
    assert not np.allclose(x_hat, other.inputs[0])
    eps = (x_hat - fake)[:, 0, 0, 0] / (real - fake)[:, 0, 0, 0]
    np.testing.assert_allclose(x_hat, eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake,
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(3,), (3, 1, 1, 1)])
def test_given_epsilon_is_used(shape):
    real, fake = _batches(3)
    critic = _Recorder()
    losses.gradient_penalty(critic, real, fake, epsilon=np.reshape([1.0, 0.0, 0.25], shape))
    x_hat = critic.inputs[0]
    np.testing.assert_allclose(x_hat[0], real[0])
    np.testing.assert_allclose(x_hat[1], fake[1])
    np.testing.assert_allclose(x_hat[2], 0.25 * real[2] + 0.75 * fake[2], rtol=1e-6)


def test_seed_generator_gives_fresh_reproducible_epsilon_inside_tf_function():
    import keras
    import tensorflow as tf

    def critic(x, training=False):  # 0.5 * x^2 on 1x1 images: grad norm = x_hat = eps
        return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])

    def compiled_step(generator):
        return tf.function(lambda: losses.gradient_penalty(critic, tf.ones((5, 1, 1, 1)), tf.zeros((5, 1, 1, 1)),
                                                           seed=generator, return_norms=True)[1])

    step = compiled_step(keras.random.SeedGenerator(3))
    a, b = np.asarray(step()), np.asarray(step())
    assert not np.allclose(a, b)  # a new epsilon on every call of the compiled function
    again = compiled_step(keras.random.SeedGenerator(3))
    np.testing.assert_array_equal(a, again())
    np.testing.assert_array_equal(b, again())


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_gradient_penalty_is_float32_under_mixed_precision(precision):
    import tensorflow as tf

    from gan_utils.config import dtype_policy

    w = _W["norm 2"]
    with dtype_policy(precision):
        critic = _linear_critic(w)
    assert critic.layers[-1].compute_dtype != "float32"
    real, fake = _batches()
    with tf.GradientTape() as tape:
        penalty, norms = losses.gradient_penalty(critic, real, fake, seed=0, return_norms=True)
    assert penalty.dtype == tf.float32 and norms.dtype == tf.float32
    assert float(penalty) == pytest.approx(10.0, rel=2e-2)
    _assert_finite_kernel_gradients(critic, tape.gradient(penalty, critic.trainable_variables))


@pytest.mark.parametrize("kwargs, match", [
    ({"weight": -1.0}, "weight must be a finite number >= 0"),
    ({"weight": float("nan")}, "weight"),
    ({"weight": "10"}, "weight"),
    ({"weight": True}, "weight"),
    ({}, "needs a seed"),
    ({"seed": 0, "epsilon": np.ones(8)}, "not both"),
    ({"epsilon": np.ones((8, 2))}, "one weight per sample"),
    ({"epsilon": np.ones(1)}, "one weight per sample"),
    ({"seed": 1.5}, "seed must be an int"),
    ({"seed": np.array([1, 2, 3])}, "seed must be an int"),
])
def test_gradient_penalty_bad_arguments(kwargs, match):
    real, fake = _batches()
    with pytest.raises(ValueError, match=match):
        losses.gradient_penalty(_linear_critic(_W["unit"]), real, fake, **kwargs)


def test_gradient_penalty_bad_inputs():
    import keras

    real, fake = _batches()
    with pytest.raises(ValueError, match="same shape"):
        losses.gradient_penalty(_linear_critic(_W["unit"]), real, fake[:, :2], seed=0)
    two_scores = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="one score per sample"):
        losses.gradient_penalty(two_scores, real, fake, seed=0)
