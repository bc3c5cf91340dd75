"""Shared test set-up: silent TensorFlow, small seeded models, an isolated artifacts folder."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _isolated_artifacts(tmp_path, monkeypatch):
    """Every test writes its artifacts under its own tmp folder, never the repo's."""
    monkeypatch.setenv("GAN_ARTIFACTS_DIR", str(tmp_path / "artifacts"))


@pytest.fixture
def tiny_gan():
    """A compiled MLP GAN on 8x8x1 images (fast enough for many tests)."""
    import keras

    from gan_utils import GAN, build_mlp_discriminator, build_mlp_generator

    keras.utils.set_random_seed(0)
    g = build_mlp_generator(8, (8, 8, 1), hidden=(16, 32))
    d = build_mlp_discriminator((8, 8, 1), hidden=(16,))
    gan = GAN(g, d, seed=1)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    return gan


@pytest.fixture
def tiny_images():
    """uint8 [64, 8, 8, 1]: a bright square at a random place in each image."""
    rng = np.random.default_rng(0)
    x = np.zeros((64, 8, 8, 1), np.uint8)
    for img, (r, c) in zip(x, rng.integers(0, 5, size=(64, 2))):
        img[r : r + 3, c : c + 3] = 255
    return x
