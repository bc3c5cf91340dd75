"""Sampling from a generator, sample files, grids, curves and GIFs."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image

from gan_utils import (
    balanced_labels,
    build_mlp_generator,
    generate_images,
    make_gif,
    plot_history,
    save_image_grid,
    tile_images,
    write_samples,
)


def test_balanced_labels():
    labels = balanced_labels(25)
    assert labels.dtype == np.int32
    assert np.bincount(labels).tolist() == [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]


def test_generate_images_is_uint8_and_seeded():
    g = build_mlp_generator(6, (8, 8, 1), hidden=(8,))
    a, labels = generate_images(g, 7, seed=3, batch_size=3)
    b, _ = generate_images(g, 7, seed=3)
    assert a.shape == (7, 8, 8, 1) and a.dtype == np.uint8 and labels is None
    np.testing.assert_array_equal(a, b)


def test_generate_images_conditional_gets_balanced_labels():
    import keras

    z, y = keras.Input((4,)), keras.Input((), dtype="int32")
    h = keras.layers.Concatenate()([z, keras.layers.Embedding(10, 4)(y)])
    g = keras.Model([z, y], keras.layers.Reshape((4, 4, 1))(keras.layers.Dense(16, activation="tanh")(h)))
    images, labels = generate_images(g, 20)
    assert images.shape == (20, 4, 4, 1)
    assert np.bincount(labels).tolist() == [2] * 10


def test_write_samples_round_trip(tmp_path):
    images = np.zeros((3, 4, 4, 1), np.uint8)
    path = write_samples(tmp_path / "s.npz", images, np.arange(3, dtype=np.int32))
    with np.load(path) as f:
        np.testing.assert_array_equal(f["images"], images)
        assert f["labels"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=".npz"):
        write_samples(tmp_path / "s.png", images)


def test_tile_images_layout():
    images = np.full((5, 3, 2, 1), 7, np.uint8)
    grid = tile_images(images, ncols=3, pad=1)
    assert grid.shape == (2 * 4 - 1, 3 * 3 - 1, 1)
    assert grid[0, 0, 0] == 7 and grid[3, 0, 0] == 255  # padding row is white
    float_grid = tile_images(np.full((1, 2, 2, 1), -1.0, np.float32))
    assert float_grid.max() == 0


def test_save_grid_and_gif(tmp_path):
    frames = []
    for i in range(3):
        frames.append(save_image_grid(np.full((4, 5, 5, 1), i * 100, np.uint8), tmp_path / f"f{i}.png", ncols=2))
    assert Image.open(frames[0]).size == (2 * (2 * 5 + 1), 2 * (2 * 5 + 1))
    gif = make_gif(frames, tmp_path / "t.gif")
    assert Image.open(gif).n_frames == 3
    with pytest.raises(ValueError, match="at least one frame"):
        make_gif([], tmp_path / "empty.gif")


def test_plot_history():
    fig = plot_history({"d_loss": [1.3, 1.2], "g_loss": [0.8, 0.9], "d_real": [0.6, 0.5], "d_fake": [0.4, 0.45]})
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="keys"):
        plot_history({"other": [1]})
