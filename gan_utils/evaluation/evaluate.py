"""Evaluate samples against real MNIST with every metric at once, and print the table.

    ref = Reference.mnist()                      # features of the test set, train pixels
    row = evaluate_samples(images, ref, labels)  # FID, KID, score, P/R, D/C, KL, memorisation
    print(format_table({"dcgan": row, "real floor": evaluate_real_floor(ref)}))

The reference set for FID, KID, precision/recall and density/coverage is the
MNIST *test* set; memorisation looks for the nearest *training* image. All
images go through the same pipeline: uint8 pixels -> the shipped classifier's
128-d penultimate features (``metrics.classifier_outputs``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from . import distances as dist
from .classifier import (
    as_mnist_uint8,
    class_fractions,
    classifier_outputs,
    classifier_score,
    kl_to_uniform,
    label_accuracy,
)


@dataclass
class Reference:
    """Real data to compare samples with, features computed once.

    Attributes:
        features, probs: classifier features [M, 128] and p(y|x) [M, 10] of the real reference images.
        images: uint8 [M, 28, 28, 1], the reference images.
        train_images: uint8 [T, 28, 28, 1], searched for nearest neighbours (memorisation).
        classifier: the feature extractor.
    """

    features: np.ndarray
    probs: np.ndarray
    images: np.ndarray
    train_images: np.ndarray
    classifier: object

    @classmethod
    def mnist(cls, n_reference: int = 10000, n_train: int | None = None, classifier=None,
              seed: int = 0) -> Reference:
        """MNIST test images (all, or ``n_reference`` of them) and training images (all, or the first ``n_train``).

        Fewer than all 10,000 test images are a random subset drawn with ``seed``, not the
        first ``n_reference``: MNIST's test set is not shuffled, and its first 5,000 digits
        (from NIST's original training set) are cleaner and easier than its last 5,000
        (LeCun, Cortes & Burges' MNIST page); against the first 5,000 alone one DCGAN's FID
        was 18.3, against all 10,000 7.3 (the same 5,000 samples).
        """
        from ..data import load_mnist
        from .classifier import load_classifier

        (x_train, _), (x_test, _) = load_mnist()
        classifier = classifier or load_classifier()
        if n_reference < len(x_test):
            x_test = x_test[np.sort(np.random.default_rng(seed).permutation(len(x_test))[:n_reference])]
        test = x_test[..., None]
        features, probs = classifier_outputs(test, classifier)
        train = x_train[:n_train, ..., None] if n_train else x_train[..., None]
        return cls(features, probs, test, train, classifier)

    def nearest_train(self, images) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-space distance to the nearest training image and its index, for uint8 ``images``: ([N], [N])."""
        d, i = dist.nearest_neighbours(_pixels(images), self._train_pixels(), 1, dtype=np.float32)
        return d[:, 0], i[:, 0]

    def test_nn(self) -> np.ndarray:
        """Distance from each reference (test) image to its nearest training image, computed once: [M]."""
        if getattr(self, "_test_nn", None) is None:
            self._test_nn = self.nearest_train(self.images)[0]
        return self._test_nn

    def radii(self, k: int) -> np.ndarray:
        """k-th nearest-neighbour radii of the reference features, computed once per k: [M]."""
        cache = self.__dict__.setdefault("_radii", {})
        if k not in cache:
            cache[k] = dist.kth_neighbour_radii(self.features, k)
        return cache[k]

    def _train_pixels(self) -> np.ndarray:
        if getattr(self, "_train_px", None) is None:
            self._train_px = _pixels(self.train_images)
        return self._train_px


def _pixels(images: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 [N, H*W*C] in [0, 1] (the memorisation search space)."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def evaluate_samples(images, reference: Reference, labels=None, memorise: bool = True,
                     kid_subset: int = 1000, seed: int = 0) -> dict:
    """Every metric of ``images`` against ``reference``.

    Args:
        images: uint8 [N, 28, 28(, 1)] or float [-1, 1] [N, 28, 28, 1] samples.
        reference: ``Reference.mnist()``.
        labels: int [N], the labels a conditional generator was given (adds label accuracy).
        memorise: run the nearest-training-image search (the slowest metric).

    Returns:
        A dict: ``n``, ``fid`` (None when N <= 128, the feature size), ``kid`` and ``kid_std``,
        ``score``, ``precision``, ``recall`` (k=3), ``density``, ``coverage`` (k=5), ``class_kl``,
        ``class_fractions``, ``label_accuracy`` and ``label_accuracy_per_class`` (or None),
        ``memorisation_ratio`` and ``copies``
        (or None), and ``seconds`` spent on each metric.
    """
    images = as_mnist_uint8(images)
    seconds = {}
    t = time.perf_counter()
    features, probs = classifier_outputs(images, reference.classifier)
    seconds["features"] = time.perf_counter() - t
    n, dim = features.shape
    row: dict = {"n": int(n)}

    def timed(name, fn):
        start = time.perf_counter()
        value = fn()
        seconds[name] = time.perf_counter() - start
        return value

    row["fid"] = timed("fid", lambda: dist.fid(features, reference.features)) if n > dim else None
    k = timed("kid", lambda: dist.kid(features, reference.features, kid_subset, seed=seed))
    row["kid"], row["kid_std"] = k["mean"], k["std"]
    row["score"] = classifier_score(probs)
    radii3, radii5 = reference.radii(3), reference.radii(5)  # once per reference, not timed per model
    row.update(timed("precision_recall", lambda: dist.precision_recall(reference.features, features, 3, radii3)))
    row.update(timed("density_coverage", lambda: dist.density_coverage(reference.features, features, 5, radii5)))
    fractions = class_fractions(probs)
    row["class_fractions"] = [float(f) for f in fractions]
    row["class_kl"] = kl_to_uniform(fractions)
    row["label_accuracy"] = row["label_accuracy_per_class"] = None
    if labels is not None:
        accuracy = label_accuracy(probs, labels)
        row["label_accuracy"] = accuracy["overall"]
        # A class that was never asked for has no accuracy: None (JSON null), not NaN.
        row["label_accuracy_per_class"] = [None if math.isnan(a) else a for a in accuracy["per_class"]]
    row["memorisation_ratio"] = row["copies"] = None
    if memorise:
        reference.test_nn()  # computed once per reference, not timed per model
        m = timed("memorisation", lambda: dist.memorisation_summary(reference.nearest_train(images)[0],
                                                                    reference.test_nn()))
        row["memorisation_ratio"], row["copies"] = m["ratio"], m["copies"]
    row["seconds"] = {key: round(v, 2) for key, v in seconds.items()}
    return row


def evaluate_real_floor(reference: Reference, n: int | None = None, seed: int = 0) -> dict:
    """The real-data floor: ``n`` MNIST *training* images (chosen with ``seed``) evaluated as if generated.

    No model can beat real digits by much, so this row is the scale for the
    others (FID of train vs test is not 0: the sets differ, and FID is biased at
    finite N). Memorisation is not computed: these images are the training set.
    """
    n = n or len(reference.images)
    pick = np.random.default_rng(seed).choice(len(reference.train_images), n, replace=False)
    return evaluate_samples(reference.train_images[np.sort(pick)], reference, memorise=False, seed=seed)


COLUMNS = [
    ("n", "N", "{:d}"),
    ("fid", "FID", "{:.2f}"),
    ("kid", "KID", "{:.2f}"),
    ("score", "score", "{:.2f}"),
    ("precision", "precision", "{:.3f}"),
    ("recall", "recall", "{:.3f}"),
    ("density", "density", "{:.3f}"),
    ("coverage", "coverage", "{:.3f}"),
    ("class_kl", "class KL", "{:.4f}"),
    ("label_accuracy", "label acc", "{:.2%}"),
    ("memorisation_ratio", "NN ratio", "{:.2f}"),
    ("train_minutes", "train min", "{:.1f}"),
]


def _cell(row: dict, key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def format_table(rows: dict[str, dict], markdown: bool = False) -> str:
    """The metrics table, one line per named row (plain aligned text, or a Markdown table)."""
    header = ["run"] + [title for _, title, _ in COLUMNS]
    body = [[name] + [_cell(row, key, fmt) for key, _, fmt in COLUMNS] for name, row in rows.items()]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    fmt_line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                       for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt_line(header)] + [fmt_line(r) for r in body])


def training_minutes(run_dir) -> float | None:
    """Minutes of training recorded in a run folder's ``history.json`` (sum of ``seconds``), or None."""
    import json
    from pathlib import Path

    path = Path(run_dir) / "history.json"
    if not path.is_file():
        return None
    try:
        seconds = json.loads(path.read_text()).get("seconds", [])
    except (ValueError, AttributeError):
        return None
    return sum(seconds) / 60 if seconds else None
