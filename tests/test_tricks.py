"""Fixes for failing GANs: InstanceNoiseGAN, FeatureMatchingGAN, gradient norms, the truncation trick."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_utils import (
    GAN,
    FeatureMatchingGAN,
    InstanceNoiseGAN,
    build_mlp_discriminator,
    build_mlp_generator,
    generate_images,
    losses,
    make_dataset,
    train,
)
from gan_utils.sampling import truncated_normal


def _mlp_gan(cls=GAN, **kwargs):
    keras.utils.set_random_seed(0)
    gan = cls(build_mlp_generator(8, (8, 8, 1), hidden=(16,)), build_mlp_discriminator((8, 8, 1), hidden=(16,)),
              seed=1, **kwargs)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    return gan


def _batch(n=16, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (n, 8, 8, 1)), tf.float32)


def _weights(gan):
    return [np.array(w) for w in gan.generator.weights + gan.discriminator.weights]


# ------------------------------------------------------------------ instance noise
class InputStd(keras.layers.Layer):
    """Identity that adds up the std of every batch it sees (and counts the batches)."""

    def build(self, shape):
        self.total = self.add_weight(shape=(), initializer="zeros", trainable=False, name="total")
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

    def call(self, x):
        self.total.assign_add(tf.math.reduce_std(x))
        self.count.assign_add(1.0)
        return x


def _probed_gan(sigma):
    """G outputs exact zeros (zero weights) and the real batch is zeros: D's inputs are pure noise.

    sigma None: a plain GAN.
    """
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(64, kernel_initializer="zeros"),
                          keras.layers.Reshape((8, 8, 1))])
    probe = InputStd()
    d = keras.Sequential([keras.Input((8, 8, 1)), probe, keras.layers.Flatten(), keras.layers.Dense(1)])
    gan = GAN(g, d, seed=0) if sigma is None else InstanceNoiseGAN(g, d, noise_std=sigma, seed=0)
    gan.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    return gan, probe


def test_instance_noise_reaches_every_image_d_sees_in_training_and_none_in_inference():
    gan, probe = _probed_gan(0.3)
    logs = gan.train_on_batch(tf.zeros((64, 8, 8, 1)), return_dict=True)
    # D's update sees real and fake, G's update fake: three batches, each pure N(0, 0.3^2) noise.
    assert float(probe.count) == 3
    assert float(probe.total) / 3 == pytest.approx(0.3, rel=0.1)
    assert logs["instance_noise"] == pytest.approx(0.3)
    probe.total.assign(0.0)
    gan.discriminate(tf.zeros((64, 8, 8, 1)), training=False)
    assert float(probe.total) == 0.0

    clean, clean_probe = _probed_gan(None)
    logs = clean.train_on_batch(tf.zeros((64, 8, 8, 1)), return_dict=True)
    assert float(clean_probe.count) == 3 and float(clean_probe.total) == 0.0
    assert "instance_noise" not in logs


def test_instance_noise_anneals_linearly_to_zero_on_the_generator_step_counter():
    gan = _mlp_gan(InstanceNoiseGAN, noise_std=0.4, decay_steps=10)
    for t, want in ((0, 0.4), (5, 0.2), (10, 0.0), (25, 0.0)):
        gan.g_optimizer.iterations.assign(t)
        assert float(gan.current_noise_std()) == pytest.approx(want, abs=1e-7)
    gan.g_optimizer.iterations.assign(0)
    logs = gan.fit(tf.data.Dataset.from_tensors(_batch()).repeat(3), epochs=1, verbose=0).history
    assert logs["instance_noise"][0] == pytest.approx(np.mean([0.4, 0.36, 0.32]), rel=1e-5)  # t = 0, 1, 2
    assert float(gan.current_noise_std()) == pytest.approx(0.4 * 0.7)
    assert float(_mlp_gan(InstanceNoiseGAN, noise_std=0.4).current_noise_std()) == pytest.approx(0.4)  # no decay


def test_instance_noise_resumes_from_a_checkpoint_exactly(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (64, 8, 8), dtype=np.uint8)

    def run(folder, epochs):  # 4 steps per epoch: the noise falls to 0 during epoch 2
        gan = _mlp_gan(InstanceNoiseGAN, noise_std=0.5, decay_steps=6)
        return gan, train(gan, make_dataset(images, batch_size=16, seed=0), folder, epochs, verbose=0)

    straight, straight_result = run(tmp_path / "straight", 2)
    run(tmp_path / "split", 1)
    resumed, resumed_result = run(tmp_path / "split", 2)
    assert resumed_result.resumed_from == 1
    assert resumed_result.history["instance_noise"] == straight_result.history["instance_noise"]
    assert straight_result.history["instance_noise"][0] == pytest.approx(np.mean([0.5, 5 / 12, 1 / 3, 0.25]))
    for x, y in zip(_weights(straight), _weights(resumed)):
        np.testing.assert_array_equal(x, y)


def test_instance_noise_is_reproducible_and_changes_training():
    batch = _batch()
    runs = []
    for cls, kwargs in ((InstanceNoiseGAN, {"noise_std": 0.3}), (InstanceNoiseGAN, {"noise_std": 0.3}), (GAN, {})):
        gan = _mlp_gan(cls, **kwargs)
        gan.train_on_batch(batch)
        runs.append(_weights(gan))
    for x, y in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(x, y)
    assert any(not np.allclose(x, y) for x, y in zip(runs[0], runs[2]))


@pytest.mark.parametrize("kwargs, match", [
    ({"noise_std": -0.1}, "noise_std is the std"), ({"noise_std": 0.0}, "noise_std is the std"),
    ({"noise_std": True}, "noise_std is the std"), ({"noise_std": float("inf")}, "noise_std is the std"),
    ({"decay_steps": 0}, "decay_steps must be a positive integer"),
    ({"decay_steps": 2.5}, "decay_steps must be a positive integer"),
])
def test_bad_instance_noise_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        InstanceNoiseGAN(build_mlp_generator(8, (8, 8, 1), hidden=(16,)),
                         build_mlp_discriminator((8, 8, 1), hidden=(16,)), **kwargs)


# ---------------------------------------------------------------- feature matching
def test_feature_matching_loss_hand_computed():
    real = [[1.0, 2.0], [3.0, 4.0]]   # mean (2, 3)
    fake = [[0.0, 0.0], [2.0, 2.0]]   # mean (1, 1)
    assert float(losses.feature_matching_loss(real, fake)) == pytest.approx(1.0 + 4.0)
    with pytest.raises(ValueError, match="same shape"):
        losses.feature_matching_loss(real, [[1.0, 2.0, 3.0]])


def test_feature_matching_generator_loss_on_a_tiny_discriminator_with_known_weights():
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Reshape((2, 2, 1))])
    d = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
                          keras.layers.Dense(3, activation="relu", name="features"), keras.layers.Dense(1)])
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((4, 3)).astype(np.float32), np.array([0.1, -0.2, 0.3], np.float32)
    d.get_layer("features").set_weights([w, b])
    gan = FeatureMatchingGAN(g, d)
    assert gan.feature_extractor.output.shape == (None, 3)  # the default: the layer before the logit
    real = rng.uniform(-1, 1, (5, 2, 2, 1)).astype(np.float32)
    fake = rng.uniform(-1, 1, (5, 2, 2, 1)).astype(np.float32)

    def f(x):
        return np.maximum(x.reshape(len(x), -1) @ w + b, 0.0)

    want = np.sum((f(real).mean(0) - f(fake).mean(0)) ** 2)
    assert float(gan.generator_loss(real, fake)) == pytest.approx(want, rel=1e-5)
    np.testing.assert_allclose(gan.discriminator_features(real).numpy(), f(real), rtol=1e-5, atol=1e-6)


def test_feature_matching_reads_the_layer_it_is_given():
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Reshape((2, 2, 1))])
    d = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(name="pixels"),
                          keras.layers.Dense(3, activation="relu", name="features"), keras.layers.Dense(1)])
    gan = FeatureMatchingGAN(g, d, feature_layer="pixels")
    real, fake = np.ones((2, 2, 2, 1), np.float32), np.zeros((3, 2, 2, 1), np.float32)
    assert float(gan.generator_loss(real, fake)) == pytest.approx(4.0)  # four pixels, each mean 1 against 0


def test_default_feature_layer_of_the_builders():
    from gan_utils.models import build_dcgan_discriminator
    from gan_utils.models.conditional import build_conditional_discriminator

    assert losses.default_feature_layer(build_mlp_discriminator((8, 8, 1), hidden=(16, 8), dropout=0.3)) == "lrelu_1"
    assert losses.default_feature_layer(build_dcgan_discriminator((8, 8, 1), width=4)) == "flatten"
    for mode in ("channel", "projection"):
        d = build_conditional_discriminator((8, 8, 1), width=4, label_mode=mode)
        assert losses.default_feature_layer(d) == "flatten"


def test_feature_layer_errors_name_the_problem():
    g, d = build_mlp_generator(8, (8, 8, 1), hidden=(16,)), build_mlp_discriminator((8, 8, 1), hidden=(16,))
    with pytest.raises(ValueError, match=r"no layer named 'nope'.*dense_0"):
        FeatureMatchingGAN(g, d, feature_layer="nope")
    with pytest.raises(ValueError, match="use gan_utils.FeatureMatchingGAN"):
        GAN(g, d, generator_loss="feature_matching")


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("cls, kwargs", [(FeatureMatchingGAN, {}), (InstanceNoiseGAN, {"noise_std": 0.1})])
def test_the_remedies_train_finite_and_move_g(cls, kwargs, conditional):
    from gan_utils.models.conditional import build_conditional_discriminator, build_conditional_generator

    keras.utils.set_random_seed(0)
    if conditional:
        g = build_conditional_generator(4, (8, 8, 1), num_classes=3, width=4, embed_dim=2)
        d = build_conditional_discriminator((8, 8, 1), num_classes=3, width=4, label_mode="projection")
        data = (_batch(), tf.constant(np.arange(16) % 3, tf.int32))
    else:
        g, d = build_mlp_generator(8, (8, 8, 1), hidden=(16,)), build_mlp_discriminator((8, 8, 1), hidden=(16, 8))
        data = (_batch(),)
    gan = cls(g, d, seed=0, **kwargs)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    before = [np.array(w) for w in g.trainable_weights]
    for _ in range(3):
        logs = gan.train_on_batch(*data, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    assert any(not np.allclose(a, np.asarray(b)) for a, b in zip(before, g.trainable_weights))


def test_a_subclass_that_overrides_the_generator_loss_hook_trains_on_it():
    class Doubled(GAN):
        def generator_loss(self, real, fake, labels=None, z=None):
            return 2.0 * super().generator_loss(real, fake, labels, z)

    steps = []
    for cls in (GAN, Doubled):
        keras.utils.set_random_seed(0)
        gan = cls(build_mlp_generator(8, (8, 8, 1), hidden=(16,)), build_mlp_discriminator((8, 8, 1), hidden=(16,)),
                  seed=1)
        gan.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
        before = [np.array(w) for w in gan.generator.trainable_weights]
        gan.train_on_batch(_batch())
        steps.append([np.asarray(w) - b for w, b in zip(gan.generator.trainable_weights, before)])
    for plain, doubled in zip(*steps):  # SGD: twice the loss, twice the step
        np.testing.assert_allclose(doubled, 2.0 * plain, rtol=1e-4, atol=1e-7)


# ------------------------------------------------------------------ gradient norms
def _tiny_pair():
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Reshape((2, 2, 1))])
    d = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(3),
                          keras.layers.LeakyReLU(0.2), keras.layers.Dense(1)])
    return g, d


def test_gradient_norms_are_the_global_norms_of_the_gradients_by_hand():
    keras.utils.set_random_seed(3)
    g, d = _tiny_pair()
    g_ref, d_ref = keras.models.clone_model(g), keras.models.clone_model(d)
    g_ref.set_weights(g.get_weights())
    d_ref.set_weights(d.get_weights())
    gan = GAN(g, d, track_grad_norms=True)
    gan.compile(keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5))
    z = tf.constant(np.random.default_rng(0).standard_normal((3, 2)), tf.float32)
    gan.sample_latent = lambda batch_size: z
    real = tf.constant(np.random.default_rng(1).uniform(-1, 1, (3, 2, 2, 1)), tf.float32)
    logs = gan.train_on_batch(real, return_dict=True)

    fake = g_ref(z)
    with tf.GradientTape() as tape:
        d_loss = tf.reduce_mean(tf.nn.softplus(-d_ref(real))) + tf.reduce_mean(tf.nn.softplus(d_ref(fake)))
    d_grads = tape.gradient(d_loss, d_ref.trainable_variables)
    for v, grad in zip(d_ref.trainable_variables, d_grads):
        v.assign_sub(0.5 * grad)
    with tf.GradientTape() as tape:
        g_loss = tf.reduce_mean(tf.nn.softplus(-d_ref(g_ref(z))))
    g_grads = tape.gradient(g_loss, g_ref.trainable_variables)
    assert logs["d_grad_norm"] == pytest.approx(float(tf.linalg.global_norm(d_grads)), rel=1e-5)
    assert logs["g_grad_norm"] == pytest.approx(float(tf.linalg.global_norm(g_grads)), rel=1e-5)


def test_gradient_norms_are_unscaled_under_mixed_precision_loss_scaling():
    keras.utils.set_random_seed(0)
    g32, d32 = build_mlp_generator(8, (8, 8, 1), hidden=(16,)), build_mlp_discriminator((8, 8, 1), hidden=(16,))
    weights = g32.get_weights(), d32.get_weights()
    norms = {}
    for policy in ("float32", "mixed_float16"):
        keras.mixed_precision.set_global_policy(policy)
        try:
            g, d = build_mlp_generator(8, (8, 8, 1), hidden=(16,)), build_mlp_discriminator((8, 8, 1), hidden=(16,))
            g.set_weights(weights[0])
            d.set_weights(weights[1])
            gan = GAN(g, d, seed=0, track_grad_norms=True)
            gan.compile(keras.optimizers.SGD(0.01), keras.optimizers.SGD(0.01))
            if policy == "mixed_float16":
                assert float(gan.d_optimizer.scale_loss(1.0)) >= 1024  # the gradients really are scaled
            norms[policy] = gan.train_on_batch(_batch(), return_dict=True)
        finally:
            keras.mixed_precision.set_global_policy("float32")
    for key in ("d_grad_norm", "g_grad_norm"):
        assert 0 < norms["float32"][key] and norms["mixed_float16"][key] == pytest.approx(norms["float32"][key], rel=0.05)


def test_gradient_norms_are_off_unless_asked_for():
    logs = _mlp_gan().train_on_batch(_batch(), return_dict=True)
    assert "d_grad_norm" not in logs and "g_grad_norm" not in logs and "d_loss" in logs


# ---------------------------------------------------------------- truncation trick
def test_truncated_normal_is_bounded_and_resampled_not_clipped():
    z = truncated_normal((20000, 4), 1.0, np.random.default_rng(0))
    assert z.dtype == np.float32 and z.shape == (20000, 4)
    assert np.abs(z).max() <= 1.0
    assert np.mean(np.abs(z) > 0.99) < 0.02  # clipping would pile 32% of the mass at +-1
    # The std of N(0, 1) truncated to [-1, 1] is sqrt(1 - 2 phi(1) / (2 Phi(1) - 1)) = 0.5396 (clipped: 0.718).
    assert z.std() == pytest.approx(0.5396, abs=0.01)
    assert abs(z.mean()) < 0.01
    np.testing.assert_array_equal(z, truncated_normal((20000, 4), 1.0, np.random.default_rng(0)))


def test_generate_images_with_truncation_uses_bounded_latents():
    identity = keras.Sequential([keras.Input((16,)), keras.layers.Reshape((4, 4, 1))])  # the image is z itself
    images, _ = generate_images(identity, 50, seed=0, batch_size=20, truncation=0.5)
    assert images.min() >= round(0.5 * 127.5) and images.max() <= round(1.5 * 127.5)  # z in [-0.5, 0.5]
    wide, _ = generate_images(identity, 50, seed=0)
    assert wide.min() == 0 and wide.max() == 255  # without truncation some |z| > 1 (clipped to pixels)


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), True, "1"])
def test_bad_truncation_is_rejected(bad):
    identity = keras.Sequential([keras.Input((4,)), keras.layers.Reshape((2, 2, 1))])
    with pytest.raises(ValueError, match="truncation"):
        generate_images(identity, 2, truncation=bad)
    with pytest.raises(ValueError, match="truncation"):
        truncated_normal((2, 2), bad, np.random.default_rng(0))


DISTRIBUTED = """
import numpy as np, tensorflow as tf, keras
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from gan_utils import GAN, FeatureMatchingGAN, InstanceNoiseGAN, build_mlp_discriminator, build_mlp_generator

# One image 32 times: each replica's half batch has the full batch's gradient.
x = tf.constant(np.tile(np.random.default_rng(0).uniform(-1, 1, (1, 8, 8, 1)), (32, 1, 1, 1)), tf.float32)

def make(cls=GAN, **kwargs):
    keras.utils.set_random_seed(0)
    g = build_mlp_generator(4, (8, 8, 1), hidden=(8,))
    g.set_weights([np.zeros_like(w) if w.ndim == 2 else w for w in g.get_weights()])  # G(z) the same for every z
    gan = cls(g, build_mlp_discriminator((8, 8, 1), hidden=(8,)), seed=0, **kwargs)
    gan.compile()
    return gan

single = make(track_grad_norms=True).train_on_batch(x, return_dict=True)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    gan = make(track_grad_norms=True)
mirrored = gan.fit(tf.data.Dataset.from_tensors(x), epochs=1, verbose=0).history
for key in ("d_grad_norm", "g_grad_norm"):
    assert abs(mirrored[key][0] / single[key] - 1) < 1e-4, (key, single, mirrored)
with strategy.scope():
    gan = make(InstanceNoiseGAN, noise_std=0.2, decay_steps=5)
history = gan.fit(tf.data.Dataset.from_tensors(x).repeat(3), epochs=1, verbose=0).history
assert all(np.isfinite(v[0]) for v in history.values()), history
assert abs(history["instance_noise"][0] - 0.16) < 1e-5, history
with strategy.scope():
    gan = make(FeatureMatchingGAN)
history = gan.fit(tf.data.Dataset.from_tensors(x).repeat(3), epochs=1, verbose=0).history
assert all(np.isfinite(v[0]) for v in history.values()), history
print("DISTRIBUTED-OK")
"""


def test_under_mirrored_strategy_the_norms_match_one_device_and_the_remedies_run():
    """Two replicas, each with half of a batch of identical images, report the single-device norms."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", DISTRIBUTED], capture_output=True, text=True, timeout=300, env=env)
    assert "DISTRIBUTED-OK" in done.stdout, done.stderr[-3000:]
