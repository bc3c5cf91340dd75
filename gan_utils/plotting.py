"""Image grids, loss curves and GIFs.

Images are float [N, H, W, C] in [-1, 1] or uint8 [N, H, W(, C)] in [0, 255].
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .data import to_uint8_images
from .io import atomic_path


def tile_images(images, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """Arrange images in a grid: uint8 [rows*(H+pad)-pad, cols*(W+pad)-pad, C].

    Args:
        images: float [N, H, W, C] in [-1, 1] or uint8 [N, H, W(, C)].
        ncols: images per row (default: about sqrt(N)).
        pad: pixels of white space between images.
    """
    arr = np.asarray(images)
    arr = arr if arr.dtype == np.uint8 else to_uint8_images(arr)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or len(arr) == 0:
        raise ValueError(f"images must be [N, H, W, C] with N >= 1, got shape {arr.shape}")
    n, h, w, c = arr.shape
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    grid = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad, c), 255, np.uint8)
    for i, img in enumerate(arr):
        r, k = divmod(i, ncols)
        grid[r * (h + pad) : r * (h + pad) + h, k * (w + pad) : k * (w + pad) + w] = img
    return grid


def save_image_grid(images, path: str | Path, ncols: int | None = None, scale: int = 2) -> Path:
    """Write a grid of images to a PNG file (atomically), upscaled by ``scale``."""
    from PIL import Image

    grid = tile_images(images, ncols)
    if grid.shape[-1] == 1:
        grid = grid[..., 0]
    img = Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST)
    path = Path(path)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path


def plot_image_grid(images, ncols: int | None = None, title: str | None = None, ax=None, size: float = 5.0):
    """Show a grid of images with matplotlib; returns the Axes."""
    import matplotlib.pyplot as plt

    grid = tile_images(images, ncols)
    if ax is None:
        _, ax = plt.subplots(figsize=(size, size * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_class_grid(images, num_classes: int = 10, row_names: Sequence[str] | None = None, ax=None,
                    size: float = 6.0, title: str | None = None):
    """Show a class grid (row k = class k, e.g. from ``class_grid_images``) with each row named.

    Args:
        images: [num_classes * M, H, W(, C)], rows one after the other.
        num_classes: number of rows.
        row_names: a name per row (default "0", "1", ...).
    """
    n = len(images)
    if n == 0 or n % num_classes:
        raise ValueError(f"a class grid needs num_classes ({num_classes}) x M images, got {n}")
    ncols = n // num_classes
    ax = plot_image_grid(images, ncols=ncols, ax=ax, size=size, title=title)
    height = np.asarray(images).shape[1]
    names = row_names or [str(k) for k in range(num_classes)]
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([(height + 1) * k + height / 2 for k in range(num_classes)], names)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return ax


def plot_history(history: dict, keys: Sequence[Sequence[str]] = (("d_loss", "g_loss"), ("d_real", "d_fake")), size=(10, 3.2)):
    """Plot training curves from a history dict ``{name: [value per epoch]}``.

    By default: the two losses side by side with mean D(x) and D(G(z)).
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    panels = [[k for k in group if k in history] for group in keys]
    panels = [p for p in panels if p]
    if not panels:
        raise ValueError(f"history has none of the keys {keys}; it has {sorted(history)}")
    labels = {"d_loss": "D loss", "g_loss": "G loss", "d_real": "mean D(x)", "d_fake": "mean D(G(z))"}
    fig, axes = plt.subplots(1, len(panels), figsize=size, squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for key in panel:
            values = history[key]
            ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=labels.get(key, key))
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def make_gif(frames: Sequence[str | Path], path: str | Path, duration_ms: int = 300) -> Path:
    """Join PNG frames into a looping GIF (written atomically); the last frame lingers."""
    from PIL import Image

    if not frames:
        raise ValueError("make_gif needs at least one frame")
    images = []
    for f in frames:
        with Image.open(f) as im:  # read now and close, so that the frame files can be replaced
            images.append(im.copy())
    mode = "L" if all(im.mode in ("L", "LA", "1") for im in images) else "RGB"
    images = [im.convert(mode) for im in images]
    durations = [duration_ms] * (len(images) - 1) + [duration_ms * 4]
    path = Path(path)
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path


def show_gif(path: str | Path):
    """Display a GIF in a notebook from its file (not re-encoded)."""
    from IPython.display import Image

    return Image(filename=str(path))
