"""Builders: output shapes and ranges for several image shapes, and input checks."""

import numpy as np
import pytest

from gan_utils import build_mlp_discriminator, build_mlp_generator


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (16, 8, 2)])
def test_mlp_shapes_and_range(shape):
    g = build_mlp_generator(latent_dim=12, image_shape=shape, hidden=(16, 32))
    d = build_mlp_discriminator(image_shape=shape, hidden=(16,))
    z = np.random.default_rng(0).standard_normal((5, 12)).astype(np.float32) * 10
    images = np.asarray(g(z))
    assert images.shape == (5, *shape)
    assert images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1
    assert d(images).shape == (5, 1)


@pytest.mark.parametrize("bad", [(28, 28), (28, 28, 0), "28x28", (28.0, 28, 1)])
def test_bad_image_shape(bad):
    with pytest.raises(ValueError, match="image_shape"):
        build_mlp_generator(image_shape=bad)


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_latent_dim(bad):
    with pytest.raises(ValueError, match="latent_dim"):
        build_mlp_generator(latent_dim=bad)


def test_bad_dropout_and_widths():
    with pytest.raises(ValueError, match="dropout"):
        build_mlp_discriminator(dropout=1.5)
    with pytest.raises(ValueError, match="hidden"):
        build_mlp_discriminator(hidden=())
