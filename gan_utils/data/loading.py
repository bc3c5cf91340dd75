"""MNIST and Fashion-MNIST loading with checksums (the tf.data pipeline is in ``pipeline.py``).

``load_mnist()`` returns ``((x_train, y_train), (x_test, y_test))`` like
``keras.datasets.mnist.load_data()``. The four IDX files (gzip or not) are looked
for in: an explicit ``path`` (then nowhere else); ``$GAN_DATA_DIR/<name>/`` (a
sub-folder per dataset, since MNIST and Fashion-MNIST use the same file names); the checkout's ``data/<name>/``; for Fashion-MNIST Debian's
``/usr/share/datasets/fashion-mnist/``; the Keras cache ``~/.keras/datasets/``.
Only when no folder holds all four is a download tried, into the Keras cache.
Contents are checked against canonical SHA-256s; existing files are never changed.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import numbers
import os
import shutil
import tempfile
import zlib
from pathlib import Path

import numpy as np

from ..config import DATA_ENV, project_root

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# SHA-256 of the decompressed IDX files. mnist: the canonical sums (data/mnist/SHA256SUMS).
# fashion_mnist: sums of Debian's dataset-fashion-mnist files. Debian recompressed them, so
# their .gz MD5s differ from those in Zalando's README (train-images 8d4fb7e6...), but
# their decompressed MD5s (f4a8712d..., 9018921c..., 8181f547..., 15d48437...) equal those
# published for Zalando's archives after gunzip: the content is Zalando's release.
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}
NAMES = tuple(SHA256)
SOURCES = ("files", "tfds")
MIRRORS = {
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


class DatasetError(RuntimeError):
    """A data file is missing, truncated, corrupted or not the expected dataset."""


def keras_cache_dir(name: str) -> Path:
    """``$KERAS_HOME/datasets/<mnist|fashion-mnist>`` (default ``~/.keras``): where downloads go."""
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()
    return home / "datasets" / name.replace("_", "-")


def search_folders(name: str) -> list[Path]:
    """The folders searched for ``name``'s files when no ``path`` is given, in order."""
    folders = []
    env = os.environ.get(DATA_ENV)
    if env:
        folders.append(Path(env).expanduser() / name)
    root = project_root()
    if root is not None:
        folders.append(root / "data" / name)
    if name == "fashion_mnist":
        folders.append(DEBIAN_FASHION_DIR)
    folders.append(keras_cache_dir(name))
    return folders


def _find(folder: Path, stem: str) -> Path | None:
    """``folder/stem.gz`` or ``folder/stem``, whichever exists first."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _fix_hint(name: str, path: Path) -> str:
    if name == "mnist":
        good = "copy a good file from the repository's data/mnist/ (git checkout data/mnist)"
    else:
        good = f"copy a good file from {DEBIAN_FASHION_DIR} (apt-get install --reinstall dataset-fashion-mnist)"
    return f"Fix: {good}, or move {path} out of the way so that another copy is used or a fresh one downloaded. It was left unchanged."


def _read_idx(path: Path, name: str, stem: str, fix: str | None = None) -> np.ndarray:
    """Read one IDX file (gzip or not), check header, size and SHA-256; uint8 array."""
    fix = fix or _fix_hint(name, path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise DatasetError(f"{path} is truncated or not a valid gzip file ({e}). {fix}") from e
    ndim = 3 if "images" in stem else 1
    if len(raw) < 4 + 4 * ndim or raw[:4] != bytes([0, 0, 8, ndim]):
        raise DatasetError(f"{path} is not a {ndim}-D unsigned-byte IDX file (header {raw[:4].hex()}, "
                           f"expected 0000080{ndim}). {fix}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    header, expected_size = 4 + 4 * ndim, int(np.prod(dims))
    if len(raw) - header != expected_size:
        problem = "truncated" if len(raw) - header < expected_size else "longer than its header says"
        raise DatasetError(f"{path} is {problem}: its header promises shape {dims} ({expected_size} bytes of data) "
                           f"but it holds {len(raw) - header}. {fix}")
    expected, actual = SHA256[name][stem], hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise DatasetError(f"{path} does not hold the original {name} {stem}: the SHA-256 of its content is {actual}, "
                           f"expected {expected}. {fix}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims).copy()


def _load_folder(folder: Path, name: str):
    paths = [_find(folder, stem) for stem in FILES]
    missing = [stem for stem, p in zip(FILES, paths) if p is None]
    if missing:
        raise DatasetError(f"{folder} lacks {', '.join(missing)} (.gz or uncompressed). "
                           f"Fix: put all four {name} files there, or pass another folder.")
    x_train, y_train, x_test, y_test = (_read_idx(p, name, stem) for p, stem in zip(paths, FILES))
    return (x_train, y_train), (x_test, y_test)


def _download(url: str, target: Path) -> None:
    """Write the bytes at ``url`` to ``target`` (tests replace this function)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
        shutil.copyfileobj(response, out)


def _where_to_put(name: str) -> str:
    debian = "install Debian's package (apt-get install dataset-fashion-mnist), or " if name != "mnist" else ""
    return (f"Fix: {debian}copy the four files {', '.join(s + '.gz' for s in FILES)} into the repository's "
            f"data/{name}/, or into a folder named by the environment variable {DATA_ENV}.")


def _download_missing(name: str, searched: list[Path]) -> Path:
    """Download the files missing from the Keras cache folder, each verified before it gets its final name."""
    folder = keras_cache_dir(name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stem in FILES:
            if _find(folder, stem) is not None:
                continue  # never replace a file that is already there
            url = MIRRORS[name] + f"{stem}.gz"
            fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=folder)
            os.close(fd)
            tmp = Path(tmp)
            try:
                _download(url, tmp)
                _read_idx(tmp, name, stem, fix=f"The download from {url} was discarded; try again later. "
                          + _where_to_put(name))
                os.replace(tmp, folder / f"{stem}.gz")
            finally:
                tmp.unlink(missing_ok=True)
    except (OSError, http.client.HTTPException) as e:  # urllib.error.URLError is an OSError
        raise DatasetError(
            f"no complete copy of {name} was found and the download from {MIRRORS[name]} failed ({e}). "
            f"Searched: {', '.join(str(f) for f in searched)}. {_where_to_put(name)}"
        ) from e
    return folder


def _load_tfds(name: str, data_dir: str | Path | None):
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ImportError("source='tfds' needs tensorflow-datasets: pip install tensorflow-datasets") from e
    kwargs = {} if data_dir is None else {"data_dir": str(data_dir)}
    splits = tfds.load(name, split=["train", "test"], batch_size=-1, as_supervised=True, **kwargs)
    return tuple((np.asarray(x, np.uint8).reshape(-1, 28, 28), np.asarray(y).astype(np.uint8)) for x, y in splits)


def load_dataset(name: str, path: str | os.PathLike | None = None, source: str = "files"):
    """Load MNIST or Fashion-MNIST as uint8 arrays, checksummed (search order in the module docstring).

    Args:
        name: "mnist" or "fashion_mnist".
        path: a folder holding the four IDX files (.gz or uncompressed); when given,
            only it is used. With ``source="tfds"`` it is tfds' ``data_dir``.
        source: "files" (default) or "tfds" (``tensorflow_datasets.load``, no checksum here).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: images uint8 [N, 28, 28] in
        [0, 255], labels uint8 [N] in [0, 9]; N is 60000 and 10000.

    Raises:
        ValueError: unknown ``name`` or ``source``.
        DatasetError: a file is missing, truncated or corrupted, or none was found and downloading failed.
    """
    for kind, value, valid in (("dataset", name, NAMES), ("source", source, SOURCES)):
        if value not in valid:
            raise ValueError(f"unknown {kind} {value!r}; valid ones: {', '.join(valid)}")
    if source == "tfds":
        return _load_tfds(name, path)
    if path is not None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise DatasetError(f"{folder} is not a folder. Fix: pass the folder that holds the four {name} files.")
        return _load_folder(folder, name)
    searched = search_folders(name)
    for folder in searched:
        if all(_find(folder, stem) is not None for stem in FILES):
            return _load_folder(folder, name)
    return _load_folder(_download_missing(name, searched), name)


def load_mnist(path: str | os.PathLike | None = None, source: str = "files"):
    """MNIST digits: ``((x_train, y_train), (x_test, y_test))``, uint8 (see ``load_dataset``)."""
    return load_dataset("mnist", path, source)


def load_fashion_mnist(path: str | os.PathLike | None = None, source: str = "files"):
    """Fashion-MNIST: ``((x_train, y_train), (x_test, y_test))``, uint8 (see ``load_dataset``)."""
    return load_dataset("fashion_mnist", path, source)


def labelled_subset(images, labels, per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` images of every class, drawn without replacement: (images [k * per_class, ...], labels int32).

    The few labelled images of a semi-supervised model (``InfoGAN(labelled=...)``),
    ordered by class; the same ``seed`` gives the same images.
    """
    labels = np.asarray(labels)
    if isinstance(per_class, bool) or not isinstance(per_class, numbers.Integral) or per_class < 1:
        raise ValueError(f"per_class must be a positive integer (labelled images per class, e.g. 10), got {per_class!r}")
    if labels.ndim != 1 or len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers [N] with one label per image ({len(images)}), got "
                         f"{labels.dtype} {labels.shape}")
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() < per_class:
        raise ValueError(f"class {classes[counts.argmin()]} has only {counts.min()} images, fewer than "
                         f"per_class={per_class}: ask for fewer, or pass more of the training set")
    rng = np.random.default_rng(seed)
    chosen = np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in classes])
    return np.asarray(images)[chosen], labels[chosen].astype(np.int32)


def to_float_images(images) -> np.ndarray:
    """uint8 [N, H, W] or [N, H, W, C] in [0, 255] -> float32 [N, H, W, C] in [-1, 1] (x / 127.5 - 1).

    Float input already in [-1, 1] is returned as float32 (a channel axis added if missing).
    Raises ValueError on empty input, rank not 3 or 4, a dtype other than uint8 or float,
    NaN/Inf, or float values outside [-1, 1].
    """
    arr = np.asarray(images)
    if arr.dtype != np.uint8 and not np.issubdtype(arr.dtype, np.floating):
        hint = " Cast pixels in [0, 255] with x.astype(np.uint8)." if np.issubdtype(arr.dtype, np.number) else ""
        raise ValueError(f"images must be uint8 pixels in [0, 255] or floats in [-1, 1], got dtype {arr.dtype}.{hint}")
    if arr.size == 0:
        raise ValueError(f"images is empty (shape {arr.shape}); pass at least one image")
    if arr.ndim not in (3, 4):
        raise ValueError(f"images must be [N, H, W] or [N, H, W, C], got shape {arr.shape}; "
                         "add a batch axis for a single image (x[None])")
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("images contain NaN or Inf; check how they were produced")
    if lo < -1.0 or hi > 1.0:
        if lo >= 0.0 and hi <= 255.0:
            hint = "values in [0, 255] look like raw pixels: pass uint8, or scale with x / 127.5 - 1"
        else:
            hint = "rescale them to [-1, 1]"
        raise ValueError(f"float images must be in [-1, 1], got values in [{lo:g}, {hi:g}]; {hint}")
    return arr.astype(np.float32)


def to_uint8_images(images) -> np.ndarray:
    """float [N, H, W, C] (any shape) in [-1, 1] -> uint8 in [0, 255]: round((x + 1) * 127.5), clipped.

    Accepts NumPy arrays and TensorFlow tensors; uint8 input is returned as is. Raises
    ValueError on non-numeric input or NaN/Inf (e.g. from a diverged generator).
    """
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"images must be floats in [-1, 1], got dtype {arr.dtype}")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError("images contain NaN or Inf (has the generator diverged?); they cannot become pixels")
    return np.clip(np.round((arr + 1.0) * 127.5), 0, 255).astype(np.uint8)


