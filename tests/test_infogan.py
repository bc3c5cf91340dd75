"""InfoGAN's categorical code: the CategoricalCode layer, L_I, and GAN(info_codes=k) in the shared train step."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import gan_utils as gu
from gan_utils import GAN, WGANGP, losses
from gan_utils.models.layers import CategoricalCode, latent_codes
from gan_utils.training.train import load_generator, save_generator


def _coded_generator(latent=8, k=3, name="g"):
    return keras.Sequential([keras.Input((latent,)), CategoricalCode(k, name="categorical_code"),
                             keras.layers.Dense(64, activation="tanh"), keras.layers.Reshape((8, 8, 1))], name=name)


def _discriminator(norm="batch"):
    return gu.build_dcgan_discriminator((8, 8, 1), width=4, norm=norm)


def _info_gan(k=3, weight=1.0, cls=GAN, **kwargs):
    keras.utils.set_random_seed(0)
    gan = cls(_coded_generator(k=k), _discriminator("layer" if cls is WGANGP else "batch"), seed=1,
              info_codes=k, info_weight=weight, **kwargs)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    return gan


def _batch(n=16, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (n, 8, 8, 1)), tf.float32)


# ------------------------------------------------------------------ the layer
def test_categorical_code_replaces_the_first_k_entries_by_the_one_hot_of_their_argmax():
    z = np.array([[0.1, 2.0, -1.0, 5.0, 6.0], [-3.0, -2.0, -0.5, 7.0, 8.0]], np.float32)
    out = CategoricalCode(3)(z).numpy()
    np.testing.assert_array_equal(out, [[0, 1, 0, 5, 6], [0, 0, 1, 7, 8]])
    np.testing.assert_array_equal(latent_codes(z, 3).numpy(), [1, 2])


def test_codes_of_gaussian_z_are_uniform():
    z = np.random.default_rng(0).standard_normal((100_000, 20)).astype(np.float32)
    counts = np.bincount(latent_codes(z, 10).numpy(), minlength=10)
    # Binomial(100000, 0.1): std 95, so every count is within 5 std of 10,000.
    assert np.all(np.abs(counts - 10_000) < 475), counts


@pytest.mark.parametrize("k", [0, 1, -2, 2.5, True, "10"])
def test_categorical_code_refuses_bad_sizes(k):
    with pytest.raises(ValueError, match="num_codes must be an integer >= 2"):
        CategoricalCode(k)


def test_categorical_code_needs_z_wider_than_the_code():
    with pytest.raises(ValueError, match="z must be wider than 10"):
        keras.Sequential([keras.Input((10,)), CategoricalCode(10)])


def test_a_coded_generator_saves_and_loads_in_safe_mode(tmp_path):
    g = gu.build_dcgan_generator(16, (8, 8, 1), width=4, categorical_code=4)
    assert g.get_layer("categorical_code").num_codes == 4
    path = save_generator(g, tmp_path / "generator.keras")
    z = np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32)
    np.testing.assert_allclose(load_generator(path)(z).numpy(), g(z).numpy(), atol=1e-6)


def test_dcgan_generator_with_a_code_has_the_same_weights_as_without():
    # The one-hot replaces k entries of z, so the projection's input width is unchanged.
    plain = gu.build_dcgan_generator(16, (8, 8, 1), width=4)
    coded = gu.build_dcgan_generator(16, (8, 8, 1), width=4, categorical_code=4)
    assert plain.count_params() == coded.count_params()
    with pytest.raises(ValueError, match="categorical_code must be an integer >= 0"):
        gu.build_dcgan_generator(16, (8, 8, 1), width=4, categorical_code=-1)


# ------------------------------------------------------------------ L_I
def test_info_loss_is_log_k_for_a_head_that_cannot_tell():
    assert float(losses.info_loss(tf.zeros((4, 10)), [0, 3, 7, 9])) == pytest.approx(math.log(10), rel=1e-6)


def test_info_loss_by_hand():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0]], np.float32)
    codes = [0, 1]
    # -log softmax: row 1 at class 0, row 2 at class 1.
    expected = np.mean([-2.0 + np.log(np.exp(2) + 2), -1.0 + np.log(1 + np.e + np.exp(3))])
    assert float(losses.info_loss(logits, codes)) == pytest.approx(expected, rel=1e-6)
    assert float(losses.info_loss([[30.0, 0.0, 0.0]], [0])) == pytest.approx(0.0, abs=1e-6)


# ------------------------------------------------------------------ GAN(info_codes=k)
def test_the_head_shares_d_and_reads_its_last_features():
    gan = _info_gan()
    x = _batch()
    logits, code_logits = gan.discriminate_with_codes(x)
    np.testing.assert_allclose(logits.numpy(), gan.discriminate(x).numpy(), rtol=1e-5, atol=1e-6)
    features = losses.feature_extractor(gan.discriminator)(x)
    expected = features.numpy() @ gan.code_head.kernel.numpy() + gan.code_head.bias.numpy()
    np.testing.assert_allclose(code_logits.numpy(), expected, rtol=1e-4, atol=1e-5)
    assert code_logits.shape == (16, 3)


def test_a_hidden_head_is_dense_leaky_relu_dense_on_ds_features():
    gan = _info_gan(info_hidden=5)
    x = _batch()
    logits, code_logits = gan.discriminate_with_codes(x)
    np.testing.assert_allclose(logits.numpy(), gan.discriminate(x).numpy(), rtol=1e-5, atol=1e-6)
    features = losses.feature_extractor(gan.discriminator)(x).numpy()
    hidden = gan.code_head.get_layer("code_hidden")
    out = gan.code_head.get_layer("code_logits")
    assert hidden.units == 5 and out.units == 3
    h = features @ hidden.kernel.numpy() + hidden.bias.numpy()
    h = np.where(h > 0, h, 0.2 * h)
    expected = h @ out.kernel.numpy() + out.bias.numpy()
    np.testing.assert_allclose(code_logits.numpy(), expected, rtol=1e-4, atol=1e-5)
    assert code_logits.dtype == tf.float32


def test_one_step_trains_every_weight_of_a_hidden_head():
    gan = _info_gan(info_hidden=5)
    before = [w.numpy().copy() for w in gan.code_head.weights]
    assert len(before) == 4 and len(gan.state_variables()["code_head"]) == 4
    gan.train_on_batch(_batch(), return_dict=True)
    assert all(not np.allclose(b, w.numpy()) for b, w in zip(before, gan.code_head.weights))
    assert {id(v) for v in gan.code_head.trainable_variables} <= {id(v) for v in gan.d_trainable_variables}


def test_the_code_layer_reads_float32_z_under_mixed_precision():
    # In bfloat16 1.0 and 1.0 + 2^-10 are the same number: an autocasting layer would pick code 0.
    z = np.zeros((1, 8), np.float32)
    z[0, :2] = [1.0, 1.0 + 2**-10]
    with gu.config.dtype_policy("mixed_bfloat16"):
        g = _coded_generator(latent=8, k=3)
    layer = g.get_layer("categorical_code")
    out = layer(z).numpy()
    assert int(np.argmax(out[0, :3])) == int(latent_codes(z, 3).numpy()[0]) == 1


class _OnlyInfo(GAN):
    """G's adversarial loss is 0: its gradient comes from lambda * L_I alone."""

    def generator_loss(self, fake_logits):
        return 0.0 * tf.reduce_sum(fake_logits)


@pytest.mark.parametrize("weight, moves", [(0.0, False), (0.5, True)])
def test_generator_update_adds_lambda_l_i(weight, moves):
    keras.utils.set_random_seed(0)
    gan = _OnlyInfo(_coded_generator(k=3), _discriminator(), seed=1, info_codes=3, info_weight=weight)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    gan.train_on_batch(_batch(), return_dict=True)
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, gan.generator.trainable_weights)]
    assert any(changed) == moves


def test_l_i_is_computed_against_the_codes_of_z():
    gan = _info_gan(weight=0.5)
    z = gan.sample_latent(16)
    fake = gan.generate(z, training=True)
    logits, info = gan._discriminate_fake(fake, None, z)
    _, code_logits = gan.discriminate_with_codes(fake, training=True)
    codes = np.argmax(z.numpy()[:, :3], axis=1)
    by_hand = np.mean(-tf.nn.log_softmax(code_logits).numpy()[np.arange(16), codes])
    assert float(info) == pytest.approx(by_hand, rel=1e-5)


def test_one_step_trains_the_head_and_reports_l_i():
    gan = _info_gan()
    before = [w.numpy().copy() for w in gan.code_head.weights]
    logs = gan.train_on_batch(_batch(), return_dict=True)
    assert 0.0 < logs["info_loss"] < 2 * math.log(3)
    assert all(not np.allclose(b, w.numpy()) for b, w in zip(before, gan.code_head.weights))
    assert {id(v) for v in gan.code_head.trainable_variables} <= {id(v) for v in gan.d_trainable_variables}
    assert len(gan.state_variables()["code_head"]) == 2


def test_with_lambda_zero_the_head_learns_nothing():
    # Adam's first step with a zero gradient moves nothing: the head only learns from L_I.
    gan = _info_gan(weight=0.0)
    before = [w.numpy().copy() for w in gan.code_head.weights]
    gan.train_on_batch(_batch(), return_dict=True)
    for b, w in zip(before, gan.code_head.weights):
        np.testing.assert_array_equal(b, w.numpy())


def test_the_head_learns_to_recover_the_code():
    gan = _info_gan()
    data = gu.make_dataset(np.random.default_rng(0).uniform(-1, 1, (256, 8, 8, 1)).astype(np.float32),
                           batch_size=32, seed=0)
    history = gan.fit(data, epochs=25, verbose=0).history["info_loss"]
    assert history[-1] < 0.5 * math.log(3) < history[0]


def test_wgan_gp_with_a_code_trains_finite():
    gan = _info_gan(cls=WGANGP, d_steps=2)
    logs = gan.train_on_batch(_batch(), return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    assert "info_loss" in logs and "gp" in logs


@pytest.mark.parametrize("head", ["linear", "hidden", "labelled"])
def test_train_and_resume_keep_the_head(tmp_path, head):
    x = np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 1)).astype(np.float32)
    data = gu.make_dataset(x, batch_size=16, seed=0)
    kwargs = {"linear": {}, "hidden": {"info_hidden": 5}, "labelled": {"info_labelled": _labelled(3)}}[head]
    gu.train(_info_gan(**kwargs), data, tmp_path / "run", 1, verbose=0)
    resumed = _info_gan(**kwargs)
    result = gu.train(resumed, data, tmp_path / "run", 2, verbose=0)
    assert result.resumed_from == 1 and len(result.history["info_loss"]) == 2
    uninterrupted = _info_gan(**kwargs)
    gu.train(uninterrupted, data, tmp_path / "once", 2, verbose=0)
    for a, b in zip(resumed.code_head.weights, uninterrupted.code_head.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"info_codes": 1}, "info_codes must be 0"),
    ({"info_codes": 2.0}, "info_codes must be 0"),
    ({"info_codes": 3, "info_weight": -1.0}, "info_weight is lambda"),
    ({"info_codes": 4}, r"CategoricalCode\(4\) layer; it has \[3\]"),
    ({"info_codes": 3, "info_hidden": -1}, r"info_hidden \(units of the code head.s hidden layer\) must be an integer >= 0"),
    ({"info_codes": 3, "info_hidden": 2.5}, r"info_hidden \(units of the code head.s hidden layer\) must be an integer >= 0"),
    ({"info_codes": 3, "info_hidden": True}, r"info_hidden \(units of the code head.s hidden layer\) must be an integer >= 0"),
    ({"info_hidden": 8}, "only exists with info_codes=k"),
])
@pytest.mark.filterwarnings("ignore:the generator reads a categorical code")  # info_codes=0 with a coded G
def test_bad_info_settings_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GAN(_coded_generator(k=3), _discriminator(), **kwargs)


def test_info_codes_need_a_coded_generator():
    g = gu.build_mlp_generator(8, (8, 8, 1), hidden=(16,))
    with pytest.raises(ValueError, match="it has none.*categorical_code=3"):
        GAN(g, _discriminator(), info_codes=3)


def test_info_codes_are_for_unconditional_gans():
    g = gu.build_conditional_generator(8, (8, 8, 1), 3, width=4)
    d = gu.build_conditional_discriminator((8, 8, 1), 3, width=4)
    with pytest.raises(ValueError, match="unconditional"):
        GAN(g, d, info_codes=3)


def test_a_coded_generator_without_info_codes_warns_that_the_code_is_untrained():
    with pytest.warns(UserWarning, match=r"CategoricalCode\(3\) but info_codes=0.*pass info_codes=3"):
        GAN(_coded_generator(k=3), _discriminator())


def test_a_plain_generator_without_info_codes_does_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        GAN(gu.build_mlp_generator(8, (8, 8, 1), hidden=(16,)), _discriminator())


def test_discriminate_with_codes_without_a_head_says_how():
    with pytest.warns(UserWarning, match="info_codes=0"):
        gan = GAN(_coded_generator(), _discriminator())
    with pytest.raises(ValueError, match="info_codes=k"):
        gan.discriminate_with_codes(_batch())


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
    gan = GAN(_coded_generator(k=k), _discriminator("layer"), seed=1, info_codes=k, info_weight=weight,
              info_labelled=_labelled(k), info_labelled_batch=batch, **kwargs)
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


def test_labelled_loss_is_q_cross_entropy_on_one_labelled_image_and_pairs_image_with_label():
    # With one image per update the loss must be the cross-entropy of exactly one (image, label) pair.
    gan = _labelled_gan(batch=1)
    images, labels = gan._labelled
    code_logits = gan.discriminate_with_codes(images, training=True)[1].numpy()  # LayerNorm: per sample
    log_q = code_logits - np.log(np.exp(code_logits).sum(axis=1, keepdims=True))
    per_image = -log_q[np.arange(3), labels.numpy()]
    wrong_pairs = -log_q[np.arange(3), (labels.numpy() + 1) % 3]
    seen = []
    for _ in range(40):
        loss = float(gan._labelled_code_loss())
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
    assert "labelled_loss" not in _info_gan().train_on_batch(_batch(), return_dict=True)


def test_wgan_gp_with_labelled_images_trains_finite_under_mixed_precision():
    with gu.config.dtype_policy("mixed_bfloat16"):
        gan = WGANGP(_coded_generator(k=3), _discriminator("layer"), d_steps=2, seed=1, info_codes=3,
                     info_labelled=_labelled(3, per_code=2), info_labelled_batch=4)
    gan.compile()
    logs = gan.train_on_batch(_batch(), return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()) and logs["labelled_loss"] > 0.0


@pytest.mark.parametrize("kwargs, message", [
    ({"info_labelled": _labelled(3)}, "only exists with info_codes=k"),
    ({"info_codes": 3, "info_labelled": _labelled(3)[0]}, r"must be a pair \(images, labels\)"),
    ({"info_codes": 3, "info_labelled": (_labelled(3)[0][:, :4], [0, 1, 2])}, r"shape \(4, 8, 1\) each.*\(8, 8, 1\)"),
    ({"info_codes": 3, "info_labelled": (_labelled(3)[0], [0, 1])}, r"integers \[N\] = \[3\]"),
    ({"info_codes": 3, "info_labelled": (_labelled(3)[0], [0.0, 1.0, 2.0])}, r"integers \[N\] = \[3\]"),
    ({"info_codes": 3, "info_labelled": (_labelled(3)[0], [0, 1, 1])}, r"no image for \[2\]"),
    ({"info_codes": 3, "info_labelled": (_labelled(4)[0], [0, 1, 2, 3])}, r"got \[3\] outside that range"),
    ({"info_codes": 3, "info_labelled": _labelled(3), "info_labelled_batch": 0}, "info_labelled_batch must be >= 1"),
    ({"info_codes": 3, "info_labelled_batch": -1}, r"info_labelled_batch \(labelled images per discriminator"),
])
@pytest.mark.filterwarnings("ignore:the generator reads a categorical code")  # info_codes=0 with a coded G
def test_bad_labelled_settings_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GAN(_coded_generator(k=3), _discriminator(), **kwargs)
