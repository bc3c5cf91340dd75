"""The 2-D ring of Gaussians: data, mode counting, and small GANs that train on it through the shared step."""

import keras
import numpy as np
import pytest

from gan_utils import GAN
from gan_utils.gans.wgan_gp import WGANGP
from gan_utils.models.layers import SpectralNorm
from gan_utils.toy import (
    build_toy_discriminator,
    build_toy_generator,
    mode_coverage,
    ring_centres,
    ring_of_gaussians,
    toy_dataset,
)


def test_ring_centres():
    centres = ring_centres(4, 2.0)
    assert centres.dtype == np.float32
    np.testing.assert_allclose(centres, [[2, 0], [0, 2], [-2, 0], [0, -2]], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ring_centres(8, 3.0), axis=1), 3.0, rtol=1e-6)


def test_ring_data_statistics():
    points, modes = ring_of_gaussians(16_000, seed=3, return_modes=True)
    assert points.shape == (16_000, 2) and points.dtype == np.float32
    assert modes.dtype == np.int32 and set(np.unique(modes)) == set(range(8))
    centres = ring_centres(8, 2.0)
    for k in range(8):
        mine = points[modes == k]
        assert abs(len(mine) / 16_000 - 1 / 8) < 0.015
        np.testing.assert_allclose(mine.mean(axis=0), centres[k], atol=0.003)
        np.testing.assert_allclose(mine.std(axis=0), 0.02, rtol=0.1)
    np.testing.assert_array_equal(ring_of_gaussians(5, seed=1), ring_of_gaussians(5, seed=1))
    assert not np.allclose(ring_of_gaussians(5, seed=1), ring_of_gaussians(5, seed=2))


def test_real_data_covers_every_mode_and_is_almost_all_high_quality():
    report = mode_coverage(ring_of_gaussians(4000, seed=0))
    assert report["modes_covered"] == 8 and report["n"] == 4000
    assert report["high_quality"] > 0.98  # 3 std in 2-D holds 1 - exp(-4.5) = 98.9%
    assert sum(report["counts"]) == round(report["high_quality"] * 4000)


def test_mode_coverage_on_hand_built_samples():
    centres = ring_centres(8, 2.0)
    one_mode = np.repeat(centres[2:3], 100, axis=0) + 0.01
    report = mode_coverage(one_mode)
    assert report["modes_covered"] == 1 and report["high_quality"] == 1.0
    assert report["counts"] == [0, 0, 100, 0, 0, 0, 0, 0]
    far = np.array([[0.0, 0.0], [5.0, 5.0], [2.1, 0.0], [1.0, 1.0]], np.float32)  # 2.1 is 5 std from (2, 0)
    report = mode_coverage(far)
    assert report["modes_covered"] == 0 and report["high_quality"] == 0.0
    # 7 modes with 20 samples each and one with 2: the rule needs 0.1 * 142 / 8 -> 2 samples
    uneven = np.concatenate([np.repeat(centres[:7], 20, axis=0), centres[7:8], centres[7:8]])
    assert mode_coverage(uneven)["min_count"] == 2 and mode_coverage(uneven)["modes_covered"] == 8
    assert mode_coverage(uneven, min_fraction=0.5)["modes_covered"] == 7
    assert mode_coverage(uneven[:-1], min_fraction=0.0)["modes_covered"] == 8


@pytest.mark.parametrize("kwargs, match", [
    ({"samples": np.zeros((3, 3))}, r"\[N, 2\]"),
    ({"samples": np.array([[np.nan, 0.0]])}, "NaN"),
    ({"samples": np.zeros((3, 2)), "threshold": 0}, "threshold"),
    ({"samples": np.zeros((3, 2)), "min_fraction": 2}, "min_fraction"),
    ({"samples": np.zeros((3, 2)), "std": -1.0}, "std"),
])
def test_mode_coverage_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mode_coverage(**kwargs)


def test_toy_dataset_batches_and_reshuffles():
    ds = toy_dataset(64, 16, seed=0)
    first, second = [np.concatenate([b.numpy() for b in ds]) for _ in range(2)]
    assert first.shape == (64, 2) and first.dtype == np.float32
    assert not np.array_equal(first, second)                       # a new order each pass
    np.testing.assert_array_equal(np.sort(first, axis=0), np.sort(second, axis=0))
    assert len(list(toy_dataset(70, 16))) == 4                     # drop_remainder
    with pytest.raises(ValueError, match="batch_size"):
        toy_dataset(8, 16)


def test_toy_models():
    keras.utils.set_random_seed(0)
    g = build_toy_generator(latent_dim=3, hidden=(16, 16))
    d = build_toy_discriminator(hidden=(16, 16), spectral_norm=True, minibatch_std=True)
    points = g(np.zeros((5, 3), np.float32))
    assert points.shape == (5, 2) and points.dtype == "float32"
    assert d(points).shape == (5, 1)
    assert [layer.name for layer in d.layers if isinstance(layer, SpectralNorm)] == ["dense_0", "dense_1", "logit"]
    assert "minibatch_std" in [layer.name for layer in d.layers]
    with pytest.raises(ValueError, match="input_scale"):
        build_toy_discriminator(input_scale=0)


@pytest.mark.parametrize("spectral_norm, minibatch_std", [(False, False), (True, True)])
def test_tiny_gan_on_the_ring_trains(spectral_norm, minibatch_std):
    keras.utils.set_random_seed(0)
    gan = GAN(build_toy_generator(hidden=(16, 16)),
              build_toy_discriminator(hidden=(16, 16), spectral_norm=spectral_norm, minibatch_std=minibatch_std), seed=0)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    history = gan.fit(toy_dataset(256, 64), epochs=2, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values()), history
    samples = gan.generator.predict(np.random.default_rng(0).standard_normal((100, 2)), verbose=0)
    assert np.isfinite(samples).all()
    assert set(mode_coverage(samples)) == {"modes_covered", "high_quality", "counts", "min_count", "n"}


def test_wgan_gp_accepts_the_toy_critic():
    keras.utils.set_random_seed(0)
    gan = WGANGP(build_toy_generator(hidden=(16,)), build_toy_discriminator(hidden=(16,)), seed=0, d_steps=2)
    gan.compile()
    history = gan.fit(toy_dataset(128, 32).take(2), epochs=1, verbose=0).history
    assert np.isfinite(history["gp"][0]) and np.isfinite(history["w_distance"][0])


def test_the_ring_trains_through_gu_train_and_resumes(tmp_path):
    """The one training path takes 2-D points: history and checkpoints, no image grids, exact resume."""
    from gan_utils import train

    def run(out, epochs):
        keras.utils.set_random_seed(0)
        gan = GAN(build_toy_generator(hidden=(16,)), build_toy_discriminator(hidden=(16,)), seed=0)
        gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
        return train(gan, toy_dataset(256, 64, seed=1), out, epochs, verbose=0)

    straight = run(tmp_path / "straight", 3)
    run(tmp_path / "resumed", 2)
    resumed = run(tmp_path / "resumed", 3)
    assert resumed.resumed_from == 2 and not (tmp_path / "resumed" / "frames").exists()
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert resumed.history[key] == straight.history[key], key
    assert (tmp_path / "straight" / "generator.keras").is_file()


def test_ring_monitor_snapshots_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    from gan_utils.toy import RingMonitor, plot_ring

    keras.utils.set_random_seed(0)
    gan = GAN(build_toy_generator(hidden=(16,)), build_toy_discriminator(hidden=(16,)), seed=0)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    monitor = RingMonitor(every=2, n=50)
    gan.fit(toy_dataset(256, 64), epochs=1, verbose=0, callbacks=[monitor])  # 4 steps
    assert sorted(monitor.snapshots) == [2, 4] and monitor.snapshots[2].shape == (50, 2)
    assert monitor.coverage[4]["n"] == 50
    fig = plot_ring({**monitor.snapshots, "real": ring_of_gaussians(200)}, ncols=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[-1] == "real: 8/8 modes" and len(titles) == 3
    with pytest.raises(ValueError, match="every"):
        RingMonitor(every=0)
