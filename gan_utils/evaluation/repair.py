"""Scores and figures for repaired images (inpainting, super-resolution): how close, how real, still the digit?

- PSNR and SSIM against the true image (``tf.image.psnr`` / ``tf.image.ssim``, images in [0, 255]):
  closeness pixel by pixel, which rewards the average of the plausible answers.
- The shipped classifier's accuracy on the repaired digits: does the repair keep the digit?
- FID between the repaired and the real digits in the classifier's feature space
  (``distances.fid``): do the repairs look like real digits, as a set?
"""

from __future__ import annotations

import numpy as np

from ..data import to_uint8_images


def _pixels(images, what: str) -> np.ndarray:
    """uint8 [N, H, W, C] from uint8 [N, H, W(, C)] or float in [-1, 1] (quantised like a saved PNG)."""
    from ..data import to_float_images

    arr = np.asarray(images)
    arr = arr if arr.dtype == np.uint8 else to_uint8_images(to_float_images(arr))
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise ValueError(f"{what} must be images [N, H, W(, C)], got shape {arr.shape}")
    return arr


def psnr_ssim(images, truth, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Per-image PSNR (dB) and SSIM of ``images`` against ``truth``: two float64 [N].

    Both are uint8 [N, H, W(, C)] or float [N, H, W, C] in [-1, 1], compared as pixels in
    [0, 255] (``max_val=255``; SSIM with TensorFlow's defaults, an 11 x 11 Gaussian window).
    An image equal to its truth has infinite PSNR.
    """
    import tensorflow as tf

    a, b = _pixels(images, "images"), _pixels(truth, "truth")
    if a.shape != b.shape:
        raise ValueError(f"images and truth must be paired, the same shape: got {a.shape} and {b.shape}")
    psnr, ssim = [], []
    for i in range(0, len(a), batch_size):
        x, y = tf.constant(a[i:i + batch_size], tf.float32), tf.constant(b[i:i + batch_size], tf.float32)
        psnr.append(tf.image.psnr(x, y, max_val=255.0).numpy())
        ssim.append(tf.image.ssim(x, y, max_val=255.0).numpy())
    return np.concatenate(psnr).astype(np.float64), np.concatenate(ssim).astype(np.float64)


def repair_scores(images, truth, labels, classifier=None, truth_features=None) -> dict:
    """PSNR, SSIM, classifier accuracy and FID of repaired MNIST digits against the true ones.

    Args:
        images: the repaired digits, uint8 [N, 28, 28(, 1)] or float [N, 28, 28, 1] in [-1, 1].
        truth: the true digits, the same shape (image i is the repair of truth i).
        labels: int [N], the true digits' classes.
        classifier: the shipped MNIST classifier (``load_classifier()`` by default).
        truth_features: the classifier's features of ``truth`` (``classifier_features``), to
            skip computing them again when scoring several repairs of the same digits.

    Returns:
        ``{"psnr": mean dB, "ssim": mean, "accuracy": fraction the classifier reads as the
        true digit, "fid": FID of repaired vs true digits (classifier features), "n": N}``.
        PSNR over images with infinite PSNR (exact copies) is left out of the mean.
    """
    from .classifier import classifier_features, classifier_outputs, load_classifier
    from .distances import fid

    labels = np.asarray(labels)
    if labels.shape != (len(images),):
        raise ValueError(f"labels must be [N] = [{len(images)}], one per image; got shape {labels.shape}")
    psnr, ssim = psnr_ssim(images, truth)
    classifier = classifier or load_classifier()
    features, probs = classifier_outputs(images, classifier)
    if truth_features is None:
        truth_features = classifier_features(truth, classifier)
    finite = psnr[np.isfinite(psnr)]
    return {
        "psnr": float(finite.mean()) if len(finite) else float("inf"),
        "ssim": float(ssim.mean()),
        "accuracy": float(np.mean(probs.argmax(axis=1) == labels)),
        "fid": fid(features, truth_features),
        "n": int(len(labels)),
    }


def format_repair_table(rows: dict[str, dict]) -> str:
    """An aligned text table of ``repair_scores`` rows (name -> scores)."""
    lines = [f"{'':24s} {'PSNR dB':>8s} {'SSIM':>6s} {'accuracy':>9s} {'FID':>7s}"]
    for name, r in rows.items():
        lines.append(f"{name:24s} {r['psnr']:8.2f} {r['ssim']:6.3f} {r['accuracy']:9.2%} {r['fid']:7.2f}")
    return "\n".join(lines)


def plot_repairs(columns: dict[str, np.ndarray], n: int = 10, size: float = 1.0, title: str | None = None):
    """One row per kind of image (e.g. input, L1 only, pix2pix, truth), ``n`` examples across; returns the Figure.

    Args:
        columns: name -> images [N, H, W(, C)] (uint8 or float in [-1, 1]), the same examples in the same order.
        n: examples shown (the first n).
        size: inches per image.
    """
    import matplotlib.pyplot as plt

    from ..plotting import tile_images

    names = list(columns)
    fig, axes = plt.subplots(len(names), 1, figsize=(size * n, size * len(names) * 1.1), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        grid = tile_images(_pixels(np.asarray(columns[name])[:n], name), ncols=n)
        ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
