"""Conditional GAN: builders, label fidelity metric, class grids, and the shared training path."""

import json

import keras
import numpy as np
import pytest

from gan_utils import (
    GAN,
    build_conditional_discriminator,
    build_conditional_generator,
    class_grid_images,
    generate_images,
    label_accuracy,
    load_generator,
    make_dataset,
    plot_class_grid,
    score_samples,
    train,
)
from gan_utils.training.train import fixed_inputs


def _pair(image_shape=(8, 8, 1), classes=3, label_mode="channel", latent_dim=6):
    keras.utils.set_random_seed(0)
    g = build_conditional_generator(latent_dim, image_shape, classes, width=4, embed_dim=5)
    d = build_conditional_discriminator(image_shape, classes, width=4, label_mode=label_mode, embed_dim=5)
    return g, d


@pytest.mark.parametrize("label_mode", ["channel", "projection"])
@pytest.mark.parametrize("image_shape", [(28, 28, 1), (32, 32, 3)])
def test_builders_shapes(label_mode, image_shape):
    g, d = _pair(image_shape, classes=10, label_mode=label_mode)
    z = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    y = np.array([0, 1, 2, 9, 4], np.int32)
    images = np.asarray(g([z, y]))
    assert images.shape == (5, *image_shape)
    assert float(np.abs(images).max()) <= 1.0
    assert d([images, y]).shape == (5, 1)


def test_generator_output_depends_on_the_label():
    g, _ = _pair()
    z = np.ones((3, 6), np.float32)
    images = np.asarray(g([z, np.array([0, 1, 2], np.int32)]))
    assert not np.allclose(images[0], images[1]) and not np.allclose(images[1], images[2])


def test_projection_discriminator_is_psi_plus_embedding_dot_features():
    _, d = _pair(label_mode="projection")
    x = np.random.default_rng(1).uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32)
    y = np.array([0, 2, 1, 2], np.int32)
    features = keras.Model(d.inputs[0], d.get_layer("flatten").output)(x).numpy()
    w, b = d.get_layer("psi").get_weights()
    table = d.get_layer("label_projection").get_weights()[0]
    expected = features @ w[:, 0] + b[0] + np.sum(table[y] * features, axis=1)
    np.testing.assert_allclose(d([x, y]).numpy()[:, 0], expected, rtol=1e-5, atol=1e-5)


def test_channel_discriminator_sees_the_label_as_an_input_channel():
    _, d = _pair(label_mode="channel")
    assert d.get_layer("image_and_label").output.shape[-1] == 2  # 1 image channel + 1 label plane
    x = np.zeros((2, 8, 8, 1), np.float32)
    logits = d([x, np.array([0, 1], np.int32)]).numpy()
    assert logits[0, 0] != logits[1, 0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"label_mode": "concat"}, "label_mode"),
        ({"num_classes": 0}, "num_classes"),
        ({"embed_dim": -1}, "embed_dim"),
        ({"image_shape": (28, 20, 1)}, "square"),
    ],
)
def test_discriminator_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_conditional_discriminator(**{"image_shape": (8, 8, 1), **kwargs})


def test_generator_rejects_a_bad_latent_size():
    with pytest.raises(ValueError, match="latent_dim"):
        build_conditional_generator(0, (8, 8, 1))


def test_gan_pairs_conditional_models_and_refuses_half_conditional_pairs():
    g, d = _pair()
    assert GAN(g, d).conditional
    plain_d = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="conditional GAN needs"):
        GAN(g, plain_d)


def test_label_accuracy_by_hand():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    result = label_accuracy(probs, np.array([0, 1, 1, 2]))
    assert result["overall"] == pytest.approx(0.75)
    assert result["per_class"] == pytest.approx([1.0, 0.5, 1.0])
    never_asked = label_accuracy(probs[:2], np.array([0, 0]))["per_class"]
    assert never_asked[0] == 0.5 and np.isnan(never_asked[1])


@pytest.mark.parametrize(
    "labels, match", [(np.array([0, 1, 3]), r"\[0, 3\)"), (np.array([0, 1]), "shape"), (np.array([0.0, 1, 2]), "integers")]
)
def test_label_accuracy_rejects_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        label_accuracy(np.full((3, 3), 1 / 3), labels)


def test_score_samples_reports_label_accuracy_for_requested_labels():
    from gan_utils import load_mnist

    (_, _), (x, y) = load_mnist()
    result = score_samples(x[:500], labels=y[:500])
    assert result["label_accuracy"] > 0.98
    assert len(result["label_accuracy_per_class"]) == 10
    assert "label_accuracy" not in score_samples(x[:50])


def test_generate_images_balances_and_checks_labels():
    g, _ = _pair()
    images, labels = generate_images(g, 7, num_classes=3)
    assert images.shape == (7, 8, 8, 1) and images.dtype == np.uint8
    assert labels.tolist() == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        generate_images(g, 2, labels=np.array([0, 3]), num_classes=3)
    with pytest.raises(ValueError, match="integers"):
        generate_images(g, 2, labels=np.array([0.5, 1.0]), num_classes=3)


def test_class_grid_rows_are_classes_and_columns_share_noise():
    g, _ = _pair()
    noise = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)
    images = class_grid_images(g, noise, num_classes=3)
    assert images.shape == (12, 8, 8, 1)
    # Row 2, column 1 is G(noise[1], label 2).
    direct, _ = generate_images(g, 1, labels=np.array([2]), num_classes=3, seed=0)
    one = np.asarray(g([noise[1:2], np.array([2], np.int32)], training=False))
    from gan_utils import to_uint8_images

    np.testing.assert_array_equal(images[2 * 4 + 1], to_uint8_images(one)[0])
    assert direct.shape == (1, 8, 8, 1)
    with pytest.raises(ValueError, match="latent size"):
        class_grid_images(g, noise[:, :3], num_classes=3)


def test_plot_class_grid_names_each_row():
    import matplotlib

    matplotlib.use("Agg")
    images = np.zeros((6, 8, 8, 1), np.uint8)
    ax = plot_class_grid(images, num_classes=3)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1", "2"]
    with pytest.raises(ValueError, match="num_classes"):
        plot_class_grid(images[:5], num_classes=3)


def test_fixed_inputs_of_a_conditional_gan_form_a_class_grid():
    g, d = _pair()
    noise, labels = fixed_inputs(GAN(g, d), count=12, num_classes=3)
    assert labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    np.testing.assert_array_equal(noise[:4], noise[4:8])
    assert len({tuple(v) for v in noise[:4]}) == 4


def test_conditional_gan_trains_through_the_shared_path(tmp_path):
    g, d = _pair()
    gan = GAN(g, d, seed=0, ema_decay=0.9)
    gan.compile()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (48, 8, 8, 1), dtype=np.uint8)
    y = rng.integers(0, 3, 48)
    result = train(gan, make_dataset(x, y, batch_size=16, num_classes=3), tmp_path / "run", epochs=2, verbose=0,
                   grid_size=6)
    assert len(result.history["d_loss"]) == 2
    assert gan.d_optimizer.iterations.numpy() == 6
    saved = load_generator(tmp_path / "run")
    assert [tuple(t.shape) for t in saved.inputs] == [(None, 6), (None,)]
    assert saved.inputs[1].dtype == "int32"
    images = saved([np.zeros((2, 6), np.float32), np.array([0, 2], np.int32)])
    assert images.shape == (2, 8, 8, 1)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert set(history) >= {"d_loss", "g_loss", "d_real", "d_fake", "seconds"}


def test_conditional_gan_refuses_unlabelled_batches():
    g, d = _pair()
    gan = GAN(g, d)
    gan.compile()
    x = np.zeros((16, 8, 8, 1), np.uint8)
    with pytest.raises(ValueError, match="labels"):
        gan.fit(make_dataset(x, batch_size=8), epochs=1, verbose=0)


def test_label_embedding_walk_ends_at_the_two_classes():
    from gan_utils import label_embedding_walk

    g, _ = _pair()
    z = np.random.default_rng(3).standard_normal((2, 6)).astype(np.float32)
    walk = label_embedding_walk(g, z, 0, 2, steps=5)
    assert walk.shape == (10, 8, 8, 1)
    for row in range(2):
        ends = np.asarray(g([np.repeat(z[row : row + 1], 2, axis=0), np.array([0, 2], np.int32)], training=False))
        np.testing.assert_allclose(walk[row * 5], ends[0], atol=1e-5)
        np.testing.assert_allclose(walk[row * 5 + 4], ends[1], atol=1e-5)
    with pytest.raises(ValueError, match=r"end label 3 must be an int in \[0, 3\)"):
        label_embedding_walk(g, z, 0, 3)
    with pytest.raises(ValueError, match="start label 1.0"):
        label_embedding_walk(g, z, 1.0, 2)
    with pytest.raises(ValueError, match="latent size"):
        label_embedding_walk(g, z[:, :4], 0, 2)
    plain = keras.Sequential([keras.Input((6,)), keras.layers.Dense(64), keras.layers.Reshape((8, 8, 1))])
    with pytest.raises(ValueError, match="build_conditional_generator"):
        label_embedding_walk(plain, z, 0, 1)


def test_train_uses_an_explicit_num_classes_for_the_class_grid(tmp_path):
    # A conditional generator fed one-hot labels has no Embedding to read the class count from.
    z = keras.Input((6,))
    labels = keras.Input((), dtype="int32")
    onehot = keras.layers.CategoryEncoding(3, output_mode="one_hot")(keras.layers.Reshape((1,))(labels))
    x = keras.layers.Dense(64, activation="tanh")(keras.layers.Concatenate()([z, onehot]))
    g = keras.Model([z, labels], keras.layers.Reshape((8, 8, 1))(x))
    _, d = _pair()
    gan = GAN(g, d, seed=0)
    gan.compile()
    x_data = np.random.default_rng(0).integers(0, 256, (32, 8, 8, 1), dtype=np.uint8)
    y_data = np.arange(32) % 3
    result = train(gan, make_dataset(x_data, y_data, batch_size=16, num_classes=3), tmp_path / "run", epochs=1,
                   verbose=0, num_classes=3)
    assert len(result.frames) == 1
    with pytest.raises(ValueError, match="num_classes"):
        train(gan, make_dataset(x_data, y_data, batch_size=16), tmp_path / "run2", epochs=1, verbose=0, num_classes=0)


def test_label_accuracy_of_a_class_never_asked_for_is_null_in_reports():
    from gan_utils import load_mnist

    (_, _), (x, y) = load_mnist()
    report = score_samples(x[:20], labels=np.zeros(20, np.int64))
    assert report["label_accuracy_per_class"][1] is None
    json.dumps(report, allow_nan=False)  # strict JSON
