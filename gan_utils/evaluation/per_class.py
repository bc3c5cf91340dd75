"""Variety within each class: per-class precision, recall, FID and diversity in the classifier's feature space.

Overall recall can be high while each class is drawn in only a few styles: a
generator that gets every digit right but draws each one the same way covers
ten small islands of the real distribution. Splitting both sets by class shows
where variety is lost.

    result = per_class_evaluation(images, x_test, y_test, labels=requested, classifier=classifier)
    print(format_per_class(result))

A conditional generator's samples are grouped by the label they were asked
for; an unconditional generator's (``labels=None``) by the classifier's
predicted digit. Real images are grouped by their true labels.
"""

from __future__ import annotations

import numpy as np

from . import distances as dist

METRICS = ("precision", "recall", "fid", "diversity")


def mean_pairwise_distance(features, max_samples: int = 2000, seed: int = 0) -> float:
    """Mean Euclidean distance between two different rows of ``features`` [N, D] (N >= 2).

    Above ``max_samples`` rows, a random subset of that size (drawn with ``seed``) is used.
    """
    x = dist._as_features(features, "features")
    if len(x) > max_samples:
        x = x[np.random.default_rng(seed).choice(len(x), max_samples, replace=False)]
    sq = dist._sq_norms(x)
    d2 = sq[:, None] + sq[None, :] - 2 * (x @ x.T)
    n = len(x)
    return float(np.sqrt(np.clip(d2, 0, None)).sum() / (n * (n - 1)))


def uncovered(real_features, fake_features, k: int = 3) -> np.ndarray:
    """bool [M]: the real samples outside the fake manifold, those that recall (``distances.precision_recall``)
    counts as missed. Show ``real_images[uncovered(...)]`` to see what a generator never draws."""
    real = dist._as_features(real_features, "real_features")
    fake = dist._as_features(fake_features, "fake_features", min_rows=k + 1)
    dist._same_dim(real, fake, "real_features and fake_features")
    return dist._count_inside(real, fake, dist.kth_neighbour_radii(fake, k)) == 0


def _check_labels(labels, n: int, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be integers [{n}] (one class per feature row), got {labels.dtype} "
                         f"{labels.shape}")
    return labels


def per_class_metrics(real_features, real_labels, fake_features, fake_labels, num_classes: int | None = None,
                      k: int = 3) -> dict:
    """Precision/recall (k nearest neighbours), FID and diversity of each class, real class c against fake class c.

    ``diversity`` is the mean pairwise feature distance of the fake class-c samples
    divided by that of the real class-c samples (``mean_pairwise_distance``): 1 when
    the fakes are as spread out as real digits, 0 when they are all one image.
    Precision and recall are those of ``distances.precision_recall`` (Kynkaanniemi
    et al., 2019) within the class. A class with at most ``k`` samples on either side
    gets NaN everywhere (and ``fid`` is NaN whenever a side has no more samples than
    feature dimensions, see ``distances.fid``).

    Args:
        real_features, fake_features: float [M, D] and [N, D].
        real_labels, fake_labels: int [M] and [N], classes in [0, num_classes).
        num_classes: default: 1 + the largest label seen.
        k: neighbours of precision/recall.

    Returns:
        ``{"counts": int [K] (fake samples per class), "precision", "recall", "fid", "diversity":
        float [K] each, "mean": {metric: mean over classes, ignoring NaN}, "overall": {metric: of
        all samples, classes ignored}}``.
    """
    real = dist._as_features(real_features, "real_features")
    fake = dist._as_features(fake_features, "fake_features")
    dist._same_dim(real, fake, "real_features and fake_features")
    real_labels = _check_labels(real_labels, len(real), "real_labels")
    fake_labels = _check_labels(fake_labels, len(fake), "fake_labels")
    if num_classes is None:
        num_classes = int(max(real_labels.max(), fake_labels.max())) + 1
    result = {name: np.full(num_classes, np.nan) for name in METRICS}
    result["counts"] = np.bincount(fake_labels, minlength=num_classes)[:num_classes]
    for c in range(num_classes):
        r, f = real[real_labels == c], fake[fake_labels == c]
        if min(len(r), len(f)) <= k:
            continue
        pr = dist.precision_recall(r, f, k)
        result["precision"][c], result["recall"][c] = pr["precision"], pr["recall"]
        result["diversity"][c] = mean_pairwise_distance(f) / max(mean_pairwise_distance(r), 1e-12)
        if min(len(r), len(f)) > real.shape[1]:
            result["fid"][c] = dist.fid(f, r)
    overall = dist.precision_recall(real, fake, k)
    overall["fid"] = dist.fid(fake, real) if min(len(real), len(fake)) > real.shape[1] else float("nan")
    overall["diversity"] = mean_pairwise_distance(fake) / max(mean_pairwise_distance(real), 1e-12)
    result["overall"] = overall
    result["mean"] = {name: float(np.nanmean(result[name])) if np.isfinite(result[name]).any() else float("nan")
                      for name in METRICS}
    return result


def per_class_evaluation(images, real_images, real_labels, labels=None, classifier=None, k: int = 3,
                         num_classes: int = 10) -> dict:
    """``per_class_metrics`` of generated ``images`` against labelled real images, from pixels.

    Args:
        images: generated uint8 [N, 28, 28(, 1)] or float [-1, 1] [N, 28, 28, 1].
        real_images, real_labels: e.g. MNIST's test set, uint8 [M, 28, 28(, 1)] and int [M].
        labels: int [N], the labels a conditional generator was asked for; None groups
            the samples by the classifier's predicted class (an unconditional generator).
        classifier: the feature extractor (``load_classifier()`` by default).

    Returns:
        ``per_class_metrics``'s dict, plus ``"grouped_by"``: "requested label" or "predicted class".
    """
    from .classifier import classifier_features, classifier_outputs, load_classifier

    classifier = classifier or load_classifier()
    features, probs = classifier_outputs(images, classifier)
    grouped_by = "requested label"
    if labels is None:
        labels, grouped_by = probs.argmax(axis=1), "predicted class"
    result = per_class_metrics(classifier_features(real_images, classifier), np.asarray(real_labels).astype(np.int64),
                               features, np.asarray(labels), num_classes, k)
    result["grouped_by"] = grouped_by
    return result


def format_per_class(result: dict) -> str:
    """A plain-text table: one line per class, the class means, and the whole set with classes ignored."""
    header = f"{'class':>5}  {'n':>5}  {'precision':>9}  {'recall':>6}  {'FID':>6}  {'diversity':>9}"
    lines = [header]

    def line(name, count, values):
        cells = [f"{values['precision']:9.3f}", f"{values['recall']:6.3f}", f"{values['fid']:6.1f}",
                 f"{values['diversity']:9.3f}"]
        return f"{name:>5}  {count:>5}  " + "  ".join(cells)

    for c, count in enumerate(result["counts"]):
        lines.append(line(str(c), int(count), {name: result[name][c] for name in METRICS}))
    lines.append(line("mean", int(np.sum(result["counts"])), result["mean"]))
    if "overall" in result:
        lines.append(line("all", int(np.sum(result["counts"])), result["overall"]))
    return "\n".join(lines)
