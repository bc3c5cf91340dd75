"""InfoGAN: the CategoricalCode layer, the mutual-information term L_I, the Q head, labelled codes, InfoWGANGP."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import erf

import gan_utils as gu
from gan_utils import InfoGAN, InfoWGANGP, losses
from gan_utils.models.layers import CategoricalCode, continuous_codes, latent_codes
from gan_utils.training.train import load_generator, save_generator


def _coded_generator(latent=8, k=3, m=0, name="g"):
    return keras.Sequential([keras.Input((latent,)), CategoricalCode(k, m, name="categorical_code"),
                             keras.layers.Dense(64, activation="tanh"), keras.layers.Reshape((8, 8, 1))], name=name)


def _discriminator(norm="batch"):
    return gu.build_dcgan_discriminator((8, 8, 1), width=4, norm=norm)


def _info_gan(k=3, m=0, weight=1.0, cls=InfoGAN, optimizers=None, **kwargs):
    keras.utils.set_random_seed(0)
    gan = cls(_coded_generator(k=k, m=m), _discriminator("layer" if cls is InfoWGANGP else "batch"), categorical=k,
              continuous=m, info_weight=weight, seed=1, **kwargs)
    gan.compile(*(optimizers or (keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))))
    return gan


def _batch(n=16, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (n, 8, 8, 1)), tf.float32)


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _snapshot(variables):
    return [np.array(v) for v in variables]


def _moved(before, variables):
    return [not np.array_equal(b, np.asarray(v)) for b, v in zip(before, variables)]


# ------------------------------------------------------------------ the layer
def test_categorical_code_replaces_the_first_k_entries_by_the_one_hot_of_their_argmax():
    z = np.array([[0.1, 2.0, -1.0, 5.0, 6.0], [-3.0, -2.0, -0.5, 7.0, 8.0]], np.float32)
    out = CategoricalCode(3)(z).numpy()
    np.testing.assert_array_equal(out, [[0, 1, 0, 5, 6], [0, 0, 1, 7, 8]])
    np.testing.assert_array_equal(latent_codes(z, 3).numpy(), [1, 2])


def test_continuous_codes_are_erf_of_the_next_m_entries_over_sqrt_2():
    z = np.array([[0.1, 2.0, -1.0, 0.5, -1.5, 6.0, 7.0], [-3.0, -2.0, -0.5, 2.0, 0.0, 8.0, 9.0]], np.float32)
    out = CategoricalCode(3, continuous=2)(z).numpy()
    u = [[math.erf(0.5 / math.sqrt(2)), math.erf(-1.5 / math.sqrt(2))], [math.erf(2.0 / math.sqrt(2)), 0.0]]
    expected = np.concatenate([[[0, 1, 0], [0, 0, 1]], u, z[:, 5:]], axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(continuous_codes(z, 3, 2).numpy(), u, rtol=1e-6, atol=1e-7)


def test_codes_of_gaussian_z_are_uniform():
    z = np.random.default_rng(0).standard_normal((100_000, 20)).astype(np.float32)
    counts = np.bincount(latent_codes(z, 10).numpy(), minlength=10)
    # Binomial(100000, 0.1): std 95, so every count is within 5 std of 10,000.
    assert np.all(np.abs(counts - 10_000) < 475), counts


def _ks_to_uniform(u):
    """Kolmogorov-Smirnov distance between the sample u and U[-1, 1]."""
    u = np.sort(np.asarray(u, np.float64).ravel())
    n = len(u)
    cdf = np.clip((u + 1.0) / 2.0, 0.0, 1.0)
    return max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))


def test_continuous_codes_of_gaussian_z_are_uniform_on_minus_one_one():
    n = 100_000
    z = np.random.default_rng(1).standard_normal((n, 6)).astype(np.float32)
    u = CategoricalCode(3, continuous=2)(z).numpy()[:, 3:5]
    assert u.min() >= -1.0 and u.max() <= 1.0
    # The KS distance of n uniform draws exceeds 1.95 / sqrt(n) with probability 0.1%.
    tolerance = 1.95 / math.sqrt(n)
    for j in range(2):
        assert _ks_to_uniform(u[:, j]) < tolerance
    # The check tells near misses apart: erf(z) (no sqrt 2), tanh(z), erf(z / 1.5) are all far outside it.
    for wrong in (erf(z[:, 3]), np.tanh(z[:, 3]), erf(z[:, 3] / 1.5)):
        assert _ks_to_uniform(wrong) > 2 * tolerance


@pytest.mark.parametrize("k", [0, 1, -2, 2.5, True, "10"])
def test_categorical_code_refuses_bad_sizes(k):
    with pytest.raises(ValueError, match="num_codes must be an integer >= 2"):
        CategoricalCode(k)


@pytest.mark.parametrize("m", [-1, 1.5, True, "2"])
def test_categorical_code_refuses_bad_continuous_counts(m):
    with pytest.raises(ValueError, match="continuous must be an integer >= 0"):
        CategoricalCode(3, continuous=m)


@pytest.mark.parametrize("k, m, width, message", [(10, 0, 10, "z must be wider than 10"),
                                                  (3, 2, 5, "z must be wider than 5")])
def test_categorical_code_needs_z_wider_than_its_codes(k, m, width, message):
    with pytest.raises(ValueError, match=message):
        keras.Sequential([keras.Input((width,)), CategoricalCode(k, m)])


def test_a_coded_generator_saves_and_loads_in_safe_mode(tmp_path):
    g = gu.build_dcgan_generator(16, (8, 8, 1), width=4, categorical_code=4, continuous_codes=2)
    layer = g.get_layer("categorical_code")
    assert (layer.num_codes, layer.continuous) == (4, 2)
    path = save_generator(g, tmp_path / "generator.keras")
    loaded = load_generator(path)
    assert loaded.get_layer("categorical_code").continuous == 2
    z = np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32)
    np.testing.assert_allclose(loaded(z).numpy(), g(z).numpy(), atol=1e-6)


def test_dcgan_generator_with_codes_has_the_same_weights_as_without():
    # The codes replace k + m entries of z, so the projection's input width is unchanged.
    plain = gu.build_dcgan_generator(16, (8, 8, 1), width=4)
    coded = gu.build_dcgan_generator(16, (8, 8, 1), width=4, categorical_code=4, continuous_codes=2)
    assert plain.count_params() == coded.count_params()
    with pytest.raises(ValueError, match="categorical_code must be an integer >= 0"):
        gu.build_dcgan_generator(16, (8, 8, 1), width=4, categorical_code=-1)
    with pytest.raises(ValueError, match="pass categorical_code=k as well"):
        gu.build_dcgan_generator(16, (8, 8, 1), width=4, continuous_codes=2)


def test_the_code_layer_reads_float32_z_under_mixed_precision():
    # In bfloat16 1.0 and 1.0 + 2^-10 are the same number: an autocasting layer would pick code 0.
    z = np.zeros((1, 8), np.float32)
    z[0, :2] = [1.0, 1.0 + 2**-10]
    with gu.config.dtype_policy("mixed_bfloat16"):
        g = _coded_generator(latent=8, k=3)
    layer = g.get_layer("categorical_code")
    out = layer(z).numpy()
    assert int(np.argmax(out[0, :3])) == int(latent_codes(z, 3).numpy()[0]) == 1


# ------------------------------------------------------------------ L_I by hand
def test_info_loss_is_log_k_for_a_head_that_cannot_tell():
    assert float(losses.info_loss(tf.zeros((4, 10)), [0, 3, 7, 9])) == pytest.approx(math.log(10), rel=1e-6)


def test_info_loss_is_qs_categorical_cross_entropy_by_hand():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]], np.float32)
    codes = [0, 1]
    # -log softmax: row 1 at class 0, row 2 at class 1.
    expected = np.mean([-2.0 + np.log(np.exp(2) + 2), -1.0 + np.log(1 + np.e + np.exp(3))])
    assert float(losses.info_loss(logits, codes)) == pytest.approx(expected, rel=1e-6)
    assert float(losses.info_loss([[30.0, 0.0, 0.0]], [0])) == pytest.approx(0.0, abs=1e-6)


def test_gaussian_code_loss_is_the_gaussian_nll_by_hand():
    codes = np.array([[0.5, -0.2], [0.9, 0.0]], np.float32)
    mean = np.array([[0.1, 0.3], [0.0, 0.0]], np.float32)
    log_std = np.array([[0.0, -1.0], [0.5, 0.2]], np.float32)
    nll = log_std + 0.5 * ((codes - mean) / np.exp(log_std)) ** 2 + 0.5 * np.log(2 * np.pi)
    expected = nll.sum(axis=1).mean()  # summed over the codes, averaged over the batch
    assert float(losses.gaussian_code_loss(codes, mean, log_std)) == pytest.approx(expected, rel=1e-6)
    # A unit Gaussian centred on the code: log(2 pi) / 2 per code.
    assert float(losses.gaussian_code_loss(codes, codes, np.zeros_like(codes))) == pytest.approx(np.log(2 * np.pi))


def _tiny_info_gan(continuous_weight):
    """An InfoGAN whose D is Flatten -> Dense(5, tanh) -> Dense(1): Q reads the 5 tanh features."""
    keras.utils.set_random_seed(2)
    d = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                          keras.layers.Dense(5, activation="tanh", name="features"), keras.layers.Dense(1)])
    return InfoGAN(_coded_generator(latent=8, k=3, m=2), d, categorical=3, continuous=2,
                   continuous_weight=continuous_weight, seed=3)


@pytest.mark.parametrize("continuous_weight", [0.0, 0.7, 2.0])
def test_information_loss_is_ce_plus_weighted_gaussian_nll_by_hand(continuous_weight):
    gan = _tiny_info_gan(continuous_weight)
    z = gan.sample_latent(16).numpy()
    fake = gan.generate(z).numpy()
    # Q by hand: the features tanh(x W1 + b1), then one Dense to k + m = 5 outputs (logits, then the means).
    w1, b1 = gan.discriminator.get_layer("features").get_weights()
    features = np.tanh(fake.reshape(16, -1) @ w1 + b1)
    out = features @ gan.q_head.kernel.numpy() + gan.q_head.bias.numpy()
    logits, mean = out[:, :3], out[:, 3:5]
    codes = np.argmax(z[:, :3], axis=1)
    u = erf(z[:, 3:5] / np.sqrt(2.0))
    ce = -_log_softmax(logits)[np.arange(16), codes].mean()
    nll = (0.5 * (u - mean) ** 2 + 0.5 * np.log(2 * np.pi)).sum(axis=1).mean()  # -log N(u; mean, 1)
    assert nll > 0.1  # the continuous term is not negligible: the weight shows
    got = float(gan.information_loss(tf.constant(fake), tf.constant(z)))
    assert got == pytest.approx(ce + continuous_weight * nll, rel=1e-5)


# ------------------------------------------------------------------ the Q head
def test_q_shares_d_and_is_one_dense_on_its_last_features():
    gan = _info_gan(k=3, m=2)
    x = _batch()
    d_logits, q_out = gan.d_and_q(x)
    np.testing.assert_allclose(np.reshape(d_logits, [-1]), gan.discriminate(x).numpy(), rtol=1e-5, atol=1e-6)
    features = losses.feature_extractor(gan.discriminator)(x).numpy()
    expected = features @ gan.q_head.kernel.numpy() + gan.q_head.bias.numpy()
    np.testing.assert_allclose(q_out.numpy(), expected, rtol=1e-4, atol=1e-5)
    logits, mean = gan.q(x)
    assert logits.shape == (16, 3) and mean.shape == (16, 2)
    assert logits.dtype == mean.dtype == tf.float32
    np.testing.assert_allclose(np.concatenate([logits, mean], axis=1), q_out.numpy(), rtol=1e-6)
    # Q's weights are not D's: the head is the only new layer.
    assert {id(v) for v in gan.d_and_q.trainable_variables} == (
        {id(v) for v in gan.discriminator.trainable_variables} | {id(v) for v in gan.q_head.trainable_variables})
    assert "q_head" in gan.checkpoint_items()


def test_one_step_moves_q_and_reports_l_i():
    gan = _info_gan(k=3, m=2)
    before = _snapshot(gan.q_head.weights)
    logs = gan.train_on_batch(_batch(), return_dict=True)
    assert all(_moved(before, gan.q_head.weights))
    assert np.isfinite(logs["info_loss"]) and "labelled_loss" not in logs
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(logs)


@pytest.mark.parametrize("d_lr, g_lr, q_moves", [(1e-2, 0.0, True), (0.0, 1e-2, False)])
def test_q_trains_with_ds_optimizer(d_lr, g_lr, q_moves):
    gan = _info_gan(optimizers=(keras.optimizers.SGD(d_lr), keras.optimizers.SGD(g_lr)))
    assert {id(v) for v in gan.q_head.trainable_variables} <= {id(v) for v in gan.discriminator_variables}
    before = _snapshot(gan.q_head.weights)
    gan.train_on_batch(_batch(), return_dict=True)
    moved = _moved(before, gan.q_head.weights)
    assert all(moved) if q_moves else not any(moved)


def test_with_lambda_zero_the_head_learns_nothing():
    # Adam's first step with a zero gradient moves nothing: the head only learns from L_I.
    gan = _info_gan(weight=0.0)
    before = _snapshot(gan.q_head.weights)
    gan.train_on_batch(_batch(), return_dict=True)
    assert not any(_moved(before, gan.q_head.weights))


@pytest.mark.parametrize("weight, moves", [(0.0, False), (0.5, True)])
def test_generator_update_adds_lambda_l_i(weight, moves):
    gan = _info_gan(k=3, m=2, weight=weight)
    gan.generator_loss_fn = lambda fake_logits: 0.0 * tf.reduce_sum(fake_logits)  # G's gradient is lambda * L_I's
    before = _snapshot(gan.generator.trainable_weights)
    gan.train_on_batch(_batch(), return_dict=True)
    assert any(_moved(before, gan.generator.trainable_weights)) == moves


def test_the_head_learns_to_recover_the_code():
    gan = _info_gan()
    data = gu.make_dataset(np.random.default_rng(0).uniform(-1, 1, (256, 8, 8, 1)).astype(np.float32),
                           batch_size=32, seed=0)
    history = gan.fit(data, epochs=25, verbose=0).history["info_loss"]
    assert history[-1] < 0.5 * math.log(3) < history[0]


def test_info_wgan_gp_trains_and_reports_info_loss_and_the_wgan_gp_metrics():
    gan = _info_gan(k=3, m=2, cls=InfoWGANGP, d_steps=2)
    before = _snapshot(gan.q_head.weights)
    logs = gan.train_on_batch(_batch(), return_dict=True)
    assert set(logs) == {"d_loss", "g_loss", "w_distance", "gp", "grad_norm", "info_loss"}
    assert all(np.isfinite(v) for v in logs.values())
    assert int(gan.d_optimizer.iterations) == 2 and int(gan.g_optimizer.iterations) == 1
    assert all(_moved(before, gan.q_head.weights))


@pytest.mark.parametrize("kind", ["categorical", "continuous", "labelled"])
def test_train_and_resume_keep_the_head(tmp_path, kind):
    x = np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 1)).astype(np.float32)
    data = gu.make_dataset(x, batch_size=16, seed=0)
    kwargs = {"categorical": {}, "continuous": {"m": 2}, "labelled": {"labelled": _labelled(3)}}[kind]
    gu.train(_info_gan(**kwargs), data, tmp_path / "run", 1, verbose=0)
    resumed = _info_gan(**kwargs)
    result = gu.train(resumed, data, tmp_path / "run", 2, verbose=0)
    assert result.resumed_from == 1 and len(result.history["info_loss"]) == 2
    uninterrupted = _info_gan(**kwargs)
    gu.train(uninterrupted, data, tmp_path / "once", 2, verbose=0)
    for a, b in zip(resumed.q_head.weights, uninterrupted.q_head.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize("kwargs, message", [
    ({"categorical": 4}, r"CategoricalCode\(4, continuous=0\) layer; it has \[\(3, 0\)\].*categorical_code=4"),
    ({"continuous": 2}, r"CategoricalCode\(3, continuous=2\) layer; it has \[\(3, 0\)\].*continuous_codes=2"),
    ({"info_weight": -1.0}, "info_weight must be a finite number >= 0"),
    ({"info_weight": float("inf")}, "info_weight must be a finite number >= 0"),
    ({"info_weight": True}, "info_weight must be a finite number >= 0"),
    ({"continuous_weight": -0.5}, "continuous_weight must be a finite number >= 0"),
])
def test_bad_info_settings_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InfoGAN(_coded_generator(k=3), _discriminator(), **{"categorical": 3, **kwargs})


def test_infogan_needs_a_generator_with_a_categorical_code():
    g = gu.build_mlp_generator(8, (8, 8, 1), hidden=(16,))
    with pytest.raises(ValueError, match="it has none.*build_dcgan_generator.*categorical_code=3"):
        InfoGAN(g, _discriminator(), categorical=3)


def test_infogan_refuses_a_conditional_gan():
    z, y = keras.Input((8,)), keras.Input((), dtype="int32")
    h = keras.layers.Concatenate()([CategoricalCode(3)(z), keras.layers.Embedding(3, 2)(y)])
    g = keras.Model([z, y], keras.layers.Reshape((8, 8, 1))(keras.layers.Dense(64, activation="tanh")(h)))
    d = gu.build_conditional_discriminator((8, 8, 1), 3, width=4)
    with pytest.raises(ValueError, match="a conditional GAN is given the labels: use GAN"):
        InfoGAN(g, d, categorical=3)


# ------------------------------------------------------------------ looking at the codes
def test_set_code_swaps_entries_so_the_code_is_the_one_asked_for():
    z = np.array([[0.5, 2.0, -1.0, 7.0], [3.0, 0.0, 1.0, 8.0]], np.float32)
    out = gu.set_code(z, 2, 3)
    np.testing.assert_array_equal(out, [[0.5, -1.0, 2.0, 7.0], [1.0, 0.0, 3.0, 8.0]])
    np.testing.assert_array_equal(latent_codes(out, 3).numpy(), [2, 2])
    np.testing.assert_array_equal(z[0], [0.5, 2.0, -1.0, 7.0])  # the input is not changed
    with pytest.raises(ValueError, match=r"code must be an integer in \[0, 3\)"):
        gu.set_code(z, 3, 3)


def test_code_grid_rows_are_codes_and_columns_share_the_noise():
    g = _coded_generator(latent=8, k=3)
    noise = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    images = gu.code_grid_images(g, noise)
    assert images.shape == (12, 8, 8, 1) and images.dtype == np.uint8
    row_1 = gu.to_uint8_images(np.asarray(g(gu.set_code(noise, 1, 3))))
    np.testing.assert_array_equal(images[4:8], row_1)
    with pytest.raises(ValueError, match="one CategoricalCode layer"):
        gu.code_grid_images(gu.build_mlp_generator(8, (8, 8, 1), hidden=(16,)), noise)


# ------------------------------------------------------------------ labelled images (semi-supervised codes)
def _labelled(k=3, per_code=1, seed=0):
    images = np.random.default_rng(seed).integers(0, 256, (k * per_code, 8, 8), dtype=np.uint8)
    return images, np.repeat(np.arange(k), per_code)


def _labelled_gan(k=3, batch=1, weight=1.0, **kwargs):
    keras.utils.set_random_seed(0)
    gan = InfoGAN(_coded_generator(k=k), _discriminator("layer"), categorical=k, info_weight=weight, seed=1,
                  labelled=_labelled(k), labelled_batch=batch, **kwargs)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    return gan


def test_labelled_subset_draws_per_class_images_of_every_class():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    images = np.arange(10 * 4, dtype=np.uint8).reshape(10, 2, 2)
    x, y = gu.labelled_subset(images, labels, 2, seed=3)
    np.testing.assert_array_equal(y, [0, 0, 1, 1, 2, 2])
    assert y.dtype == np.int32 and x.shape == (6, 2, 2)
    rows = [int(np.flatnonzero((images == img).all(axis=(1, 2)))[0]) for img in x]
    assert len(set(rows)) == 6 and all(labels[r] == c for r, c in zip(rows, y))  # distinct, each with its label
    again, _ = gu.labelled_subset(images, labels, 2, seed=3)
    np.testing.assert_array_equal(again, x)
    with pytest.raises(ValueError, match="class 1 has only 3 images, fewer than per_class=4"):
        gu.labelled_subset(images, labels, 4)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="per_class must be a positive integer"):
            gu.labelled_subset(images, labels, bad)
    with pytest.raises(ValueError, match="one label per image"):
        gu.labelled_subset(images, labels[:5], 1)


def test_labelled_images_are_scaled_to_minus_one_one_with_int32_codes():
    gan = _labelled_gan()
    images, codes = gan.labelled
    np.testing.assert_allclose(images.numpy()[..., 0], _labelled(3)[0] / 127.5 - 1.0, atol=1e-6)
    assert codes.dtype == tf.int32 and codes.numpy().tolist() == [0, 1, 2]


def test_labelled_loss_is_qs_cross_entropy_of_exactly_one_image_label_pair():
    # With one image per update the loss must be the cross-entropy of exactly one (image, label) pair.
    gan = _labelled_gan(batch=1)
    images, labels = gan.labelled
    logits = gan.q(images, training=True)[0].numpy()  # LayerNorm: each image's logits do not depend on the batch
    log_q = _log_softmax(logits)
    per_image = -log_q[np.arange(3), labels.numpy()]
    wrong_pairs = -log_q[np.arange(3), (labels.numpy() + 1) % 3]
    seen = []
    for _ in range(40):
        loss = float(gan.labelled_loss())
        i = int(np.argmin(np.abs(per_image - loss)))
        assert loss == pytest.approx(per_image[i], rel=1e-5)
        assert not np.any(np.isclose(loss, wrong_pairs, rtol=1e-5))
        seen.append(i)
    assert set(seen) == {0, 1, 2}  # the picks cover the labelled set


def test_a_discriminator_update_trains_the_head_on_the_labelled_images():
    x = np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 1)).astype(np.float32)
    losses_by_weight = {}
    for weight in (0.0, 5.0):  # lambda = 0: the term is there but nothing follows its gradient
        gan = _labelled_gan(batch=3, weight=weight)
        losses_by_weight[weight] = gan.fit(gu.make_dataset(x, batch_size=16, seed=0), epochs=25,
                                           verbose=0).history["labelled_loss"]
    assert losses_by_weight[5.0][-1] < 0.5 * math.log(3) < losses_by_weight[5.0][0]
    assert losses_by_weight[0.0][-1] > 0.75 * math.log(3)


def test_info_wgan_gp_with_labelled_images_trains_finite_under_mixed_precision():
    with gu.config.dtype_policy("mixed_bfloat16"):
        gan = InfoWGANGP(_coded_generator(k=3, m=2), _discriminator("layer"), categorical=3, continuous=2,
                         d_steps=2, seed=1, labelled=_labelled(3, per_code=2), labelled_batch=4)
    gan.compile()
    logs = gan.train_on_batch(_batch(), return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()) and logs["labelled_loss"] > 0.0
    assert {"info_loss", "labelled_loss", "w_distance", "gp"} <= set(logs)


@pytest.mark.parametrize("kwargs, message", [
    ({"labelled": _labelled(3)[0]}, r"must be a pair \(images, labels\)"),
    ({"labelled": (_labelled(3)[0][:, :4], [0, 1, 2])}, r"shape \(4, 8, 1\) each.*\(8, 8, 1\)"),
    ({"labelled": (_labelled(3)[0], [0, 1])}, r"integers \[N\] = \[3\]"),
    ({"labelled": (_labelled(3)[0], [0.0, 1.0, 2.0])}, r"integers \[N\] = \[3\]"),
    ({"labelled": (_labelled(3)[0], [0, 1, 1])}, r"no image for \[2\]"),
    ({"labelled": (_labelled(4)[0], [0, 1, 2, 3])}, r"got \[3\] outside that range"),
    ({"labelled": _labelled(3), "labelled_batch": 0}, "labelled_batch must be >= 1"),
    ({"labelled_batch": -1}, r"labelled_batch \(labelled images per discriminator update\) must be an integer"),
])
def test_bad_labelled_settings_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InfoGAN(_coded_generator(k=3), _discriminator(), categorical=3, **kwargs)
