"""Smoke tests of the evaluation figures: they draw on small random data with the expected axes and labels."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gan_utils.evaluation import plots as eval_plots


def _row(rng, fid=10.0, label_accuracy=None):
    shares = rng.dirichlet(np.ones(10))
    return {"n": 500, "fid": fid, "kid": fid / 2, "kid_std": 0.5, "score": 8.0, "precision": 0.7, "recall": 0.6,
            "density": 1.1, "coverage": 0.8, "class_fractions": list(shares), "class_kl": 0.02,
            "label_accuracy": label_accuracy}


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    return {"gan": _row(rng, 50.0), "cgan": _row(rng, 20.0, label_accuracy=0.95), "real": _row(rng, 1.0)}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_metric_bars_one_panel_per_key_and_baseline_line(rows):
    rows["gan"]["fid"] = None                      # a missing value leaves its bar out, no error
    fig = eval_plots.plot_metric_bars(rows, keys=("fid", "kid", "recall", "label_accuracy"), baseline="real")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4
    assert axes[0].get_title() == "FID (lower is better)"
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["gan", "cgan"]   # the baseline is not a bar
    assert len(axes[0].patches) == 2
    assert any(line.get_linestyle() == "--" for line in axes[2].get_lines())        # the floor's recall
    assert axes[0].get_legend() is not None and axes[2].get_legend() is None       # one legend is enough
    assert not any(line.get_linestyle() == "--" for line in axes[3].get_lines())    # floor has no label accuracy


def test_metric_bars_rejects_unknown_baseline_and_empty_rows(rows):
    with pytest.raises(ValueError, match="baseline"):
        eval_plots.plot_metric_bars(rows, baseline="floor")
    with pytest.raises(ValueError, match="empty"):
        eval_plots.plot_metric_bars({})


def test_precision_recall_scatter_has_a_point_per_row(rows):
    fig = eval_plots.plot_precision_recall(rows, baseline="real")
    ax_pr, ax_dc = fig.axes
    assert (ax_pr.get_xlabel(), ax_pr.get_ylabel()) == ("recall", "precision")
    assert (ax_dc.get_xlabel(), ax_dc.get_ylabel()) == ("coverage", "density")
    assert len(ax_pr.collections) == 3
    assert [t.get_text() for t in ax_pr.get_legend().get_texts()] == ["gan", "cgan", "real"]
    assert ax_dc.get_ylim()[1] >= 1.1                                           # density above 1 stays visible


def test_class_histograms_one_panel_per_row(rows):
    fig = eval_plots.plot_class_histograms(rows, ncols=2)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3 and len(fig.axes) == 4                                # a 2 x 2 grid, one hidden
    assert axes[0].get_title() == "gan\nKL 0.020"
    assert len(axes[1].patches) == 10


def test_nearest_neighbours_pairs_samples_with_train_images():
    rng = np.random.default_rng(1)
    samples = rng.integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
    train = rng.integers(0, 256, (20, 28, 28, 1), dtype=np.uint8)
    fig = eval_plots.plot_nearest_neighbours(samples, train, [3, 0, 19, 7, 7], np.linspace(1, 2, 5), title="dcgan")
    assert len(fig.axes) == 10
    np.testing.assert_array_equal(fig.axes[5 + 2].images[0].get_array(), train[19, ..., 0])  # bottom row
    assert fig.axes[5].get_xlabel() == "1.00"
    with pytest.raises(ValueError, match="equal length"):
        eval_plots.plot_nearest_neighbours(samples, train, [0, 1], [1.0, 2.0])


def test_memorisation_histograms():
    rng = np.random.default_rng(2)
    fig = eval_plots.plot_memorisation({"gan": rng.uniform(3, 6, 50), "dcgan": rng.uniform(2, 5, 40)},
                                       rng.uniform(3, 7, 100))
    (ax,) = fig.axes
    assert ax.get_xlabel() == "pixel distance to the nearest training image"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["test digits (not trained on)", "gan", "dcgan"]


def test_label_accuracy_bars_skip_unrequested_classes():
    per_class = [0.99, 0.97, None, 0.95, 1.0, 0.98, 0.96, 0.99, 0.93, 0.97]
    fig = eval_plots.plot_label_accuracy(per_class, overall=0.97, title="cgan")
    (ax,) = fig.axes
    assert len(ax.patches) == 10 and np.isnan(ax.patches[2].get_height())
    assert ax.get_xlabel() == "requested class" and ax.get_title() == "cgan"


def test_fid_vs_n_draws_the_fit_and_its_intercept():
    sizes = [200, 400, 800]
    result = {"sizes": sizes, "fid": [5.0 + 600 / n for n in sizes], "fid_inf": 5.0, "slope": 600.0}
    fig = eval_plots.plot_fid_vs_n({"train digits": result, "dcgan": dict(result, fid_inf=7.0, fid_std=[2, 1, 0])})
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert ax.get_xlabel() == "1 / N" and ax.get_title() == "train digits"
    points, fit, star = ax.get_lines()
    np.testing.assert_allclose(points.get_xdata(), [1 / 200, 1 / 400, 1 / 800])
    assert fit.get_xdata()[0] == 0 and fit.get_ydata()[0] == pytest.approx(5.0)
    assert len(ax.collections) == 0 and len(fig.axes[1].collections) == 1              # error bars only with fid_std
    assert "FID_inf = 7.00" in [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
