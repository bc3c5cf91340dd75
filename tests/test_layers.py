"""SpectralNorm and MinibatchStdDev: the maths against NumPy, state, saving, precision, and the builders' switches."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_utils import (
    GAN,
    build_dcgan_discriminator,
    build_dcgan_generator,
    build_mlp_discriminator,
    build_mlp_generator,
)
from gan_utils.config import dtype_policy
from gan_utils.gans.wgan_gp import WGANGP
from gan_utils.models.conditional import build_conditional_discriminator, build_conditional_generator
from gan_utils.models.layers import AutocastScope, MinibatchStdDev, SpectralNorm, _float32_value


def _top_singular_value(matrix) -> float:
    return float(np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)[0])


def _wrapped(layer, input_shape, power_iterations=1):
    keras.utils.set_random_seed(0)
    sn = SpectralNorm(layer, power_iterations=power_iterations)
    x = np.random.default_rng(0).standard_normal((2, *input_shape)).astype(np.float32)
    sn(x)  # builds
    return sn, x


@pytest.mark.parametrize("layer, input_shape, out", [
    (keras.layers.Dense(7), (13,), 7),
    (keras.layers.Conv2D(6, 3), (5, 5, 4), 6),
])
def test_sigma_matches_numpy_svd_and_normalised_kernel_has_norm_one(layer, input_shape, out):
    sn, x = _wrapped(layer, input_shape, power_iterations=10)
    for _ in range(10):  # 100 power-iteration steps in all
        sn(x, training=True)
    kernel = keras.ops.convert_to_numpy(sn.layer.kernel)
    expected = _top_singular_value(kernel.reshape(-1, out))
    assert float(sn.sigma) == pytest.approx(expected, rel=1e-3)
    normalised = keras.ops.convert_to_numpy(sn.normalized_kernel())
    assert normalised.shape == kernel.shape
    assert _top_singular_value(normalised.reshape(-1, out)) == pytest.approx(1.0, rel=1e-3)


def test_transposed_convolution_keeps_its_filters_axis_as_out():
    # Conv2DTranspose kernels are [kh, kw, filters, in]: the matrix is [kh*kw*in, filters].
    sn, x = _wrapped(keras.layers.Conv2DTranspose(3, 4, strides=2), (4, 4, 5), power_iterations=50)
    sn(x, training=True)
    kernel = keras.ops.convert_to_numpy(sn.layer.kernel)
    assert sn.u.shape == (3,)
    expected = _top_singular_value(np.moveaxis(kernel, 2, -1).reshape(-1, 3))
    assert float(sn.sigma) == pytest.approx(expected, rel=1e-3)


def test_embedding_table_is_normalised():
    keras.utils.set_random_seed(0)
    sn = SpectralNorm(keras.layers.Embedding(5, 4), power_iterations=50)
    sn(np.array([0, 3], np.int32), training=True)
    table = keras.ops.convert_to_numpy(sn.layer.embeddings)
    assert float(sn.sigma) == pytest.approx(_top_singular_value(table), rel=1e-3)
    out = keras.ops.convert_to_numpy(sn(np.array([0, 3], np.int32)))
    np.testing.assert_allclose(out, table[[0, 3]] / float(sn.sigma), rtol=1e-5)


def test_forward_pass_uses_the_normalised_kernel_and_gradients_flow_through_sigma():
    sn, x = _wrapped(keras.layers.Dense(3, activation="tanh"), (4,))
    u = keras.ops.convert_to_numpy(sn.u)
    u = u / np.linalg.norm(u)
    kernel, bias = sn.layer.kernel, sn.layer.bias
    with tf.GradientTape(persistent=True) as tape:
        y = sn(x)                                              # inference: the stored u
        w = tf.convert_to_tensor(kernel)
        by_hand = tf.tanh(x @ (w / tf.norm(tf.linalg.matvec(w, u))) + bias)
        loss, loss_by_hand = tf.reduce_sum(y**2), tf.reduce_sum(by_hand**2)
    np.testing.assert_allclose(y.numpy(), by_hand.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tape.gradient(loss, kernel).numpy(), tape.gradient(loss_by_hand, kernel).numpy(),
                               rtol=1e-4, atol=1e-6)
    assert [v.name for v in sn.trainable_variables] == ["kernel", "bias"]   # u is not trained


def test_u_persists_and_changes_only_in_training():
    sn, x = _wrapped(keras.layers.Dense(4), (6,))
    u0 = keras.ops.convert_to_numpy(sn.u).copy()
    sn(x)
    sn(x, training=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(sn.u), u0)
    kernel_before = keras.ops.convert_to_numpy(sn.layer.kernel).copy()
    sn(x, training=True)
    u1 = keras.ops.convert_to_numpy(sn.u).copy()
    assert not np.allclose(u1, u0)
    np.testing.assert_allclose(np.linalg.norm(u1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(sn.layer.kernel), kernel_before)  # W is never rewritten
    sn(x, training=True)
    assert not np.allclose(keras.ops.convert_to_numpy(sn.u), u1)  # it carries on from u1


def test_stateless_call_sees_substituted_weights_and_returns_the_new_u():
    sn, x = _wrapped(keras.layers.Dense(3), (4,))
    kernel, bias = (keras.ops.convert_to_numpy(v) for v in sn.trainable_variables)
    u_before = keras.ops.convert_to_numpy(sn.u).copy()
    y, (new_u,) = sn.stateless_call([2 * kernel, bias + 10], [u_before], x, training=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(sn.u), u_before)  # nothing assigned
    assert not np.allclose(keras.ops.convert_to_numpy(new_u), u_before)
    sn.u.assign(new_u)
    # 2W / sigma(2W) = W / sigma(W): only the substituted bias changes the output
    np.testing.assert_allclose(keras.ops.convert_to_numpy(y), sn(x).numpy() + 10, rtol=1e-6)


def test_power_iteration_inside_tf_function_updates_u():
    sn, x = _wrapped(keras.layers.Dense(5), (8,))
    step = tf.function(lambda t: sn(t, training=True))
    for _ in range(60):
        step(tf.constant(x))
    expected = _top_singular_value(keras.ops.convert_to_numpy(sn.layer.kernel))
    assert float(sn.sigma) == pytest.approx(expected, rel=1e-3)


def test_under_mixed_bfloat16_sigma_is_float32_and_outputs_are_finite():
    with dtype_policy("mixed_bfloat16"):
        keras.utils.set_random_seed(0)
        sn = SpectralNorm(keras.layers.Conv2D(4, 3), power_iterations=30)
        d = build_dcgan_discriminator((16, 16, 1), width=4, norm=None, spectral_norm=True, minibatch_std=True)
    x = np.random.default_rng(0).standard_normal((3, 6, 6, 2)).astype(np.float32)
    y = sn(x, training=True)
    assert sn.compute_dtype == "bfloat16" and y.dtype == "bfloat16"
    assert sn.u.dtype == "float32" and sn.sigma.dtype == "float32"
    kernel = keras.ops.convert_to_numpy(sn.layer.kernel)
    assert float(sn.sigma) == pytest.approx(_top_singular_value(kernel.reshape(-1, 4)), rel=1e-3)
    with AutocastScope("bfloat16"):  # what the layer's call runs under: its sigma still reads the float32 kernel
        assert keras.ops.convert_to_tensor(sn.layer.kernel).dtype == "bfloat16"
        np.testing.assert_array_equal(_float32_value(sn.layer.kernel).numpy(), kernel)
    logits = d(np.zeros((4, 16, 16, 1), np.float32), training=True)
    assert logits.dtype == "float32" and np.isfinite(logits.numpy()).all()


def test_model_with_both_layers_saves_and_loads_in_safe_mode(tmp_path):
    d = build_mlp_discriminator((4, 4, 1), hidden=(8,), spectral_norm=True, minibatch_std=True)
    x = np.random.default_rng(0).uniform(-1, 1, (6, 4, 4, 1)).astype(np.float32)
    for _ in range(3):
        d(x, training=True)
    path = tmp_path / "d.keras"
    d.save(path)
    loaded = keras.models.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(loaded(x).numpy(), d(x).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded.get_layer("dense_0").u),
                                  keras.ops.convert_to_numpy(d.get_layer("dense_0").u))
    assert loaded.get_layer("dense_0").power_iterations == 1
    assert loaded.get_layer("minibatch_std").group_size is None


def test_spectral_norm_refuses_layers_without_a_kernel_and_bad_iterations():
    with pytest.raises(ValueError, match="'kernel' or 'embeddings'"):
        SpectralNorm(keras.layers.LayerNormalization())(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="power_iterations"):
        SpectralNorm(keras.layers.Dense(2), power_iterations=0)
    with pytest.raises(ValueError, match="Keras layer"):
        SpectralNorm("dense")


# ------------------------------------------------------------------ MinibatchStdDev
def test_minibatch_std_by_hand():
    x = np.array([[0.0, 2.0], [2.0, 2.0], [4.0, 8.0], [6.0, 8.0]], np.float32)
    # population std over the batch: feature 0 -> sqrt(5), feature 1 -> 3; mean (sqrt(5) + 3) / 2
    out = MinibatchStdDev()(x).numpy()
    np.testing.assert_allclose(out[:, :2], x)
    np.testing.assert_allclose(out[:, 2], (np.sqrt(5.0) + 3.0) / 2, rtol=1e-6)
    # groups of 2 pair samples (0, 2) and (1, 3): stds (2, 3) -> 2.5 and (2, 3) -> 2.5
    grouped = MinibatchStdDev(group_size=2)(x).numpy()
    np.testing.assert_allclose(grouped[:, 2], 2.5, rtol=1e-6)
    x[1] = [2.0, 4.0]  # group (1, 3): stds (2, 2) -> 2
    np.testing.assert_allclose(MinibatchStdDev(group_size=2)(x).numpy()[:, 2], [2.5, 2.0, 2.5, 2.0], rtol=1e-6)


@pytest.mark.parametrize("shape", [(6, 5), (6, 3, 4, 2)])
def test_minibatch_std_shapes(shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = MinibatchStdDev()(x).numpy()
    assert out.shape == (*shape[:-1], shape[-1] + 1)
    np.testing.assert_allclose(out[..., -1], np.mean(np.std(x, axis=0)), rtol=1e-5)
    assert MinibatchStdDev().compute_output_shape((None, *shape[1:])) == (None, *shape[1:-1], shape[-1] + 1)


def test_minibatch_std_refuses_batches_that_do_not_split_into_groups():
    with pytest.raises(ValueError, match="group_size"):
        MinibatchStdDev(group_size=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiple of the group size"):
        MinibatchStdDev(group_size=4)(np.zeros((6, 3), np.float32))


# ----------------------------------------------------------------------- builders
def _sn_layers(model):
    return [layer for layer in model.layers if isinstance(layer, SpectralNorm)]


def _weight_layers(model):
    kinds = (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Embedding)
    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, kinds)]


def test_mlp_discriminator_switches():
    d = build_mlp_discriminator((8, 8, 1), hidden=(16, 8), spectral_norm=True, minibatch_std=True)
    assert [layer.name for layer in _sn_layers(d)] == ["dense_0", "dense_1", "logit"]
    assert len(_weight_layers(d)) == 3
    names = [layer.name for layer in d.layers]
    assert names.index("minibatch_std") == names.index("logit") - 1
    assert d.get_layer("logit").input.shape == (None, 9)
    assert d(np.zeros((4, 8, 8, 1), np.float32), training=True).shape == (4, 1)
    with pytest.raises(ValueError, match="spectral_norm must be True or False"):
        build_mlp_discriminator(spectral_norm="yes")


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
@pytest.mark.parametrize("norm", [None, "layer", "batch"])
def test_dcgan_discriminator_switches(shape, norm):
    d = build_dcgan_discriminator(shape, width=4, norm=norm, spectral_norm=True, minibatch_std=True)
    n = 2 if shape[0] == 28 else 3
    assert [layer.name for layer in _sn_layers(d)] == [*(f"down_{i}" for i in range(n)), "logit"]
    assert len(_weight_layers(d)) == n + 1
    assert d.get_layer(f"down_{n - 1}").input.shape[-1] == 4 * 2 ** (n - 2) + 1  # the std channel
    x = np.random.default_rng(0).uniform(-1, 1, (4, *shape)).astype(np.float32)
    logits = d(x, training=True)
    assert logits.shape == (4, 1) and np.isfinite(logits.numpy()).all()


@pytest.mark.parametrize("label_mode", ["channel", "projection"])
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_conditional_discriminator_switches(label_mode, shape):
    d = build_conditional_discriminator(shape, 3, width=4, norm=None, label_mode=label_mode, embed_dim=5,
                                        spectral_norm=True, minibatch_std=True)
    wrapped = {layer.name for layer in _sn_layers(d)}
    assert len(wrapped) == len(_weight_layers(d))  # every Dense, Conv2D and Embedding
    assert ("label_projection" in wrapped) == (label_mode == "projection")
    assert "minibatch_std" in [layer.name for layer in d.layers]
    x = np.random.default_rng(0).uniform(-1, 1, (4, *shape)).astype(np.float32)
    assert d([x, np.array([0, 1, 2, 1], np.int32)], training=True).shape == (4, 1)


def _fit_two_steps(gan, x, labels=None):
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    data = tf.data.Dataset.from_tensor_slices(x if labels is None else (x, labels)).batch(4, drop_remainder=True)
    history = gan.fit(data.take(2), epochs=1, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values()), history
    assert int(gan.d_optimizer.iterations.numpy()) == 2 * gan.d_steps


def test_gan_trains_with_switched_on_discriminators():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 1)).astype(np.float32)
    mlp = GAN(build_mlp_generator(4, (16, 16, 1), hidden=(8,)),
              build_mlp_discriminator((16, 16, 1), hidden=(8,), spectral_norm=True, minibatch_std=True), seed=0)
    d = build_dcgan_discriminator((16, 16, 1), width=4, norm=None, spectral_norm=True, minibatch_std=True)
    u_before = keras.ops.convert_to_numpy(d.get_layer("down_0").u).copy()
    dcgan = GAN(build_dcgan_generator(4, (16, 16, 1), width=4), d, seed=0)
    wgan = WGANGP(build_dcgan_generator(4, (16, 16, 1), width=4),
                  build_dcgan_discriminator((16, 16, 1), width=4, norm="layer", spectral_norm=True), seed=0, d_steps=2)
    for gan in (mlp, dcgan, wgan):
        _fit_two_steps(gan, x)
    assert not np.allclose(keras.ops.convert_to_numpy(d.get_layer("down_0").u), u_before)


def test_conditional_gan_trains_with_a_spectrally_normalised_projection_discriminator():
    keras.utils.set_random_seed(0)
    g = build_conditional_generator(4, (16, 16, 1), 3, width=4, embed_dim=3)
    d = build_conditional_discriminator((16, 16, 1), 3, width=4, norm=None, label_mode="projection",
                                        spectral_norm=True, minibatch_std=True)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 1)).astype(np.float32)
    _fit_two_steps(GAN(g, d, seed=0), x, np.arange(8, dtype=np.int32) % 3)
