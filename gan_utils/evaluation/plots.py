"""Figures that compare evaluated models: metric bars, precision/recall, class shares, neighbours, FID vs N.

The row functions take ``{name: row}`` with the rows of ``evaluation.evaluate_samples``
(or ``evaluate_real_floor``); ``baseline`` names a row, usually the real-data floor,
drawn as a reference line or a grey marker instead of a coloured one. Every
function draws one matplotlib Figure and returns it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LABELS = {
    "fid": "FID (lower is better)", "kid": "KID (lower is better)", "score": "classifier score",
    "precision": "precision", "recall": "recall", "density": "density", "coverage": "coverage",
    "class_kl": "class KL to uniform (nats)", "label_accuracy": "label accuracy",
    "memorisation_ratio": "NN ratio (generated / test)", "train_minutes": "training minutes",
}
DEFAULT_KEYS = ("fid", "kid", "score", "precision", "recall", "coverage")


def _value(row: dict, key: str) -> float:
    value = row.get(key)
    return np.nan if value is None else float(value)


def _split(rows: dict, baseline: str | None) -> tuple[list[str], dict | None]:
    if not rows:
        raise ValueError("rows is empty: pass {name: row} with at least one evaluated row")
    if baseline is not None and baseline not in rows:
        raise ValueError(f"baseline {baseline!r} is not one of the rows {list(rows)}")
    return [name for name in rows if name != baseline], (rows[baseline] if baseline else None)


def _grid(n: int, ncols: int, panel: tuple[float, float]):
    import matplotlib.pyplot as plt

    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def plot_metric_bars(rows: dict[str, dict], keys: Sequence[str] = DEFAULT_KEYS, baseline: str | None = None,
                     ncols: int = 3):
    """One bar chart per metric in ``keys`` with a bar per row; KID gets its standard deviation as error bar.

    A missing or None value leaves its bar out. The ``baseline`` row is a dashed line.
    """
    names, base = _split(rows, baseline)
    fig, axes = _grid(len(keys), ncols, (3.0, 2.4))
    x = np.arange(len(names))
    legend = True
    for ax, key in zip(axes, keys):
        values = [_value(rows[n], key) for n in names]
        err = [_value(rows[n], "kid_std") for n in names] if key == "kid" else None
        ax.bar(x, values, yerr=err, color=[f"C{i}" for i in range(len(names))], capsize=3)
        if base is not None and not np.isnan(_value(base, key)):
            ax.axhline(_value(base, key), color="k", ls="--", lw=1, label=baseline)
            if legend:  # once is enough
                ax.legend(fontsize=7, loc="best")
                legend = False
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_title(LABELS.get(key, key), fontsize=9)
    fig.tight_layout()
    return fig


def plot_precision_recall(rows: dict[str, dict], baseline: str | None = None,
                          pairs: Sequence[tuple[str, str]] = (("recall", "precision"), ("coverage", "density"))):
    """Scatter plots of metric pairs (x, y), a point per row: recall against precision and coverage against density.

    Top right is best: samples that look real (precision, density) and cover all of the real data
    (recall, coverage). The ``baseline`` row is a grey star.
    """
    names, base = _split(rows, baseline)
    fig, axes = _grid(len(pairs), len(pairs), (4.2, 3.6))
    for ax, (kx, ky) in zip(axes, pairs):
        for i, name in enumerate(names):
            ax.scatter(_value(rows[name], kx), _value(rows[name], ky), s=50, color=f"C{i}", label=name)
        if base is not None:
            ax.scatter(_value(base, kx), _value(base, ky), s=150, marker="*", color="0.4", label=baseline)
        top = max(1.05, np.nanmax([_value(r, ky) for r in rows.values()] + [0]) * 1.1)
        ax.set(xlabel=kx, ylabel=ky, xlim=(-0.02, 1.05), ylim=(-0.02, top))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def plot_class_histograms(rows: dict[str, dict], ncols: int = 5):
    """The share of samples the classifier puts in each class, a panel per row, with the uniform share dashed.

    Each row needs ``class_fractions`` [K]; the title gives ``class_kl`` when present.
    """
    fig, axes = _grid(len(rows), ncols, (2.3, 2.1))
    for i, (ax, (name, row)) in enumerate(zip(axes, rows.items())):
        shares = np.asarray(row["class_fractions"], np.float64)
        ax.bar(np.arange(len(shares)), shares, color=f"C{i}")
        ax.axhline(1 / len(shares), color="k", ls="--", lw=0.8)
        ax.set_xticks(np.arange(len(shares)))
        ax.tick_params(labelsize=7)
        kl = row.get("class_kl")
        ax.set_title(name if kl is None else f"{name}\nKL {kl:.3f}", fontsize=8)
    axes[0].set_ylabel("share of samples")
    fig.tight_layout()
    return fig


def plot_nearest_neighbours(samples, train_images, indices, distances, title: str | None = None,
                            size: float = 0.9):
    """Generated samples (top row) above their nearest training images (bottom row), with the distance.

    Args:
        samples: uint8 [n, H, W(, 1)], the generated images.
        train_images: uint8 [T, H, W(, 1)], the set that was searched.
        indices, distances: [n], from ``Reference.nearest_train(samples)``.
    """
    import matplotlib.pyplot as plt

    samples, indices, distances = np.asarray(samples), np.asarray(indices), np.asarray(distances)
    if not len(samples) == len(indices) == len(distances) > 0:
        raise ValueError(f"samples, indices and distances must have one equal length >= 1, got "
                         f"{len(samples)}, {len(indices)} and {len(distances)}")
    fig, axes = plt.subplots(2, len(samples), figsize=(size * len(samples) + 0.4, 2 * size + 0.7), squeeze=False)
    for j, (image, i, d) in enumerate(zip(samples, indices, distances)):
        for ax, pic in zip(axes[:, j], (image, np.asarray(train_images)[i])):
            ax.imshow(np.squeeze(pic), cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[1, j].set_xlabel(f"{d:.2f}", fontsize=8)
    axes[0, 0].set_ylabel("sample", fontsize=8)
    axes[1, 0].set_ylabel("nearest\ntrain", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_memorisation(generated_nn: dict[str, np.ndarray], test_nn, bins: int = 40):
    """Histograms of the distance to the nearest training image: each model's samples against held-out test digits.

    A model that copies its training set has its histogram shifted left of the test digits' one.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    test_nn = np.asarray(test_nn, np.float64)
    edges = np.histogram_bin_edges(np.concatenate([test_nn, *map(np.ravel, generated_nn.values())]), bins)
    ax.hist(test_nn, edges, density=True, color="0.75", label="test digits (not trained on)")
    for i, (name, d) in enumerate(generated_nn.items()):
        ax.hist(np.asarray(d), edges, density=True, histtype="step", lw=1.5, color=f"C{i}", label=name)
    ax.set(xlabel="pixel distance to the nearest training image", ylabel="density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_label_accuracy(per_class: Sequence[float], overall: float | None = None, title: str | None = None):
    """Label accuracy per requested class as bars (NaN: class never requested), the overall value dashed."""
    import matplotlib.pyplot as plt

    values = np.array([np.nan if v is None else v for v in per_class], np.float64)
    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.bar(np.arange(len(values)), values, color="C2")
    if overall is not None:
        ax.axhline(overall, color="k", ls="--", lw=0.8, label=f"overall {overall:.1%}")
        ax.legend(fontsize=8, loc="lower left")
    low = np.nanmin(values) if np.isfinite(values).any() else 0.0
    ax.set(xlabel="requested class", ylabel="label accuracy", ylim=(min(0.9, low - 0.05), 1.0),
           xticks=np.arange(len(values)), title=title)
    fig.tight_layout()
    return fig


def plot_fid_vs_n(results: dict[str, dict]):
    """FID_N against 1/N with the least-squares line and its intercept FID_inf, a panel per set of samples.

    Args:
        results: ``{name: fid_extrapolated(...)}`` (keys ``sizes``, ``fid``, ``fid_inf``, ``slope``); an
            optional ``fid_std`` [sizes] (the spread of repeated draws) is drawn as error bars.
    """
    fig, axes = _grid(len(results), len(results), (4.2, 3.2))
    for i, (ax, (name, r)) in enumerate(zip(axes, results.items())):
        inv = 1.0 / np.asarray(r["sizes"], np.float64)
        ax.errorbar(inv, r["fid"], yerr=r.get("fid_std"), fmt="o", color=f"C{i}", capsize=3, label="FID_N (measured)")
        line = np.linspace(0, inv.max() * 1.05, 50)
        ax.plot(line, r["fid_inf"] + r["slope"] * line, "--", color=f"C{i}", lw=1, label="linear fit")
        ax.plot(0, r["fid_inf"], "*", ms=12, color="k", label=f"FID_inf = {r['fid_inf']:.2f}")
        for n, x, y in zip(r["sizes"], inv, r["fid"]):
            ax.annotate(f"N={n}", (x, y), textcoords="offset points", xytext=(3, -10), fontsize=7)
        ax.set(xlabel="1 / N", ylabel="FID", title=name)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
