"""Drawing samples from a saved generator."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from .data import to_uint8_images
from .io import atomic_path


def balanced_labels(n: int, num_classes: int = 10) -> np.ndarray:
    """int32 [n]: 0, 1, ..., K-1, 0, 1, ... (every class within one of n/K)."""
    return (np.arange(n) % num_classes).astype(np.int32)


def generate_images(
    generator: keras.Model, n: int, seed: int = 0, batch_size: int = 500, labels=None, num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray | None]:
    """Draw ``n`` images from a generator: ``(uint8 [n, H, W, C], labels int32 [n] or None)``.

    z ~ N(0, I) from a NumPy generator seeded with ``seed``. A conditional
    generator (two inputs) gets ``labels``, balanced over ``num_classes`` by default.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    latent_dim = int(generator.inputs[0].shape[-1])
    conditional = len(generator.inputs) == 2
    if conditional:
        labels = balanced_labels(n, num_classes) if labels is None else np.asarray(labels, np.int32)
        if labels.shape != (n,):
            raise ValueError(f"labels must be int32 [n] = [{n}], got shape {labels.shape}")
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        z = rng.standard_normal((stop - start, latent_dim)).astype(np.float32)
        inputs = [z, labels[start:stop]] if conditional else z
        out.append(to_uint8_images(np.asarray(generator(inputs, training=False))))
    return np.concatenate(out), (labels if conditional else None)


def write_samples(path: str | Path, images: np.ndarray, labels: np.ndarray | None = None) -> Path:
    """Write ``images`` (and ``labels``) to an ``.npz`` file, atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"sample files end in .npz, got {path}")
    arrays = {"images": images} if labels is None else {"images": images, "labels": labels}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return path
