"""Repair scores: PSNR and SSIM on known values, classifier accuracy and FID of repaired digits."""

import numpy as np
import pytest

from gan_utils.evaluation.repair import format_repair_table, plot_repairs, psnr_ssim, repair_scores


def test_psnr_of_a_uniform_offset_and_ssim_of_identical_images():
    x = np.full((3, 28, 28, 1), 100, np.uint8)
    psnr, ssim = psnr_ssim(x + 5, x)
    np.testing.assert_allclose(psnr, 20 * np.log10(255 / 5), rtol=1e-5)
    _, same = psnr_ssim(x, x)
    np.testing.assert_allclose(same, 1.0, atol=1e-6)
    # Floats in [-1, 1] are compared as the pixels they save to.
    np.testing.assert_allclose(psnr_ssim(x.astype(np.float32) / 127.5 - 1, x)[1], 1.0, atol=1e-6)


def test_psnr_ssim_refuse_unpaired_images():
    with pytest.raises(ValueError, match="paired"):
        psnr_ssim(np.zeros((3, 28, 28), np.uint8), np.zeros((4, 28, 28), np.uint8))


def test_real_digits_score_perfectly_and_blanks_do_not():
    from gan_utils import load_mnist

    _, (x, y) = load_mnist()
    x, y = x[:300], y[:300]
    perfect = repair_scores(x, x, y)
    assert perfect["psnr"] == float("inf") and perfect["ssim"] == pytest.approx(1.0)
    assert perfect["accuracy"] > 0.97 and abs(perfect["fid"]) < 1e-6 and perfect["n"] == 300
    blurred = ((x.astype(np.float32) + np.roll(x, 2, axis=1) + np.roll(x, 2, axis=2)) / 3).astype(np.uint8)
    scores = repair_scores(blurred, x, y)
    assert np.isfinite(scores["psnr"]) and scores["ssim"] < 1 and scores["fid"] > 1
    assert "PSNR dB" in format_repair_table({"blurred": scores}).splitlines()[0]
    with pytest.raises(ValueError, match="labels"):
        repair_scores(x, x, y[:10])


def test_plot_repairs_draws_one_row_per_kind():
    import matplotlib.pyplot as plt

    x = np.zeros((5, 28, 28), np.uint8)
    fig = plot_repairs({"input": x, "output": x, "truth": x}, n=4)
    assert len(fig.axes) == 3 and fig.axes[0].get_ylabel() == "input"
    plt.close(fig)
