"""MNIST and Fashion-MNIST loading with checksums, and ``tf.data`` pipelines.

``load_mnist()`` returns ``((x_train, y_train), (x_test, y_test))`` exactly like
``keras.datasets.mnist.load_data()``: images uint8 [N, 28, 28] in [0, 255],
labels uint8 [N]. Every file's decompressed content is checked against its
canonical SHA-256 before anything is returned; no user file is ever modified.

Where the four IDX files are looked for, in order: an explicit ``path``;
``$GAN_DATA_DIR/<name>/`` and ``$GAN_DATA_DIR``; the project's ``data/<name>/``;
for Fashion-MNIST Debian's ``/usr/share/datasets/fashion-mnist/``; the Keras
cache ``~/.keras/datasets/<name>/``. Only when no copy exists anywhere is a
download tried (into the Keras cache, checksummed, written atomically).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from .config import DATA_ENV, project_root

SPLITS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# SHA-256 of the decompressed IDX files. MNIST: the canonical sums (also in
# data/README.md). Fashion-MNIST: the content of Zalando's release. Debian's
# dataset-fashion-mnist gz files are recompressed (their MD5s differ from the
# ones Zalando publishes for its gz files), but their decompressed SHA-256
# equal those that other projects derived from archives matching Zalando's MD5s.
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
MIRRORS = {
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion_mnist": "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
CACHE_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion-mnist"}
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
SOURCES = ("files", "tfds")


class DatasetError(RuntimeError):
    """A data file that is missing, truncated, corrupted or not what it claims to be."""


def _check_name(name: str) -> None:
    if name not in SHA256:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(SHA256)}")


def _file_in(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def candidate_folders(name: str) -> list[Path]:
    """The folders searched for ``name``'s files, in order (explicit path excluded)."""
    folders = []
    env = os.environ.get(DATA_ENV)
    if env:
        folders += [Path(env).expanduser() / name, Path(env).expanduser()]
    root = project_root()
    if root is not None:
        folders.append(root / "data" / name)
    if name == "fashion_mnist":
        folders.append(DEBIAN_FASHION)
    folders.append(keras_cache(name))
    return folders


def keras_cache(name: str) -> Path:
    """``~/.keras/datasets/<mnist|fashion-mnist>`` (honours ``$KERAS_HOME``)."""
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    return home / "datasets" / CACHE_NAMES[name]


def _complete(folder: Path) -> bool:
    return all(_file_in(folder, s) for s in SPLITS)


def _read_verified(path: Path, name: str, stem: str) -> bytes:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        raise DatasetError(
            f"{path} is truncated or not a valid gzip file ({e}). Replace it with a good copy "
            f"(e.g. from the repository's data/{name}/), or move it away so another copy is used."
        ) from e
    expected = SHA256[name][stem]
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise DatasetError(
            f"{path} is corrupted or not the original {name} file: SHA-256 of its content is "
            f"{actual}, expected {expected}. Replace it with a good copy (e.g. from the repository's "
            f"data/{name}/), or move it away so another copy is used. The file was not changed."
        )
    return raw


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    if len(raw) < 8 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DatasetError(f"{path} is not an unsigned-byte IDX file (bad header); replace it with a good copy")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise DatasetError(
            f"{path} is truncated: its header promises shape {dims} ({int(np.prod(dims))} bytes) but it holds "
            f"{len(raw) - offset}; replace it with a good copy"
        )
    return np.frombuffer(raw, np.uint8, offset=offset).reshape(dims)


def _load_folder(folder: Path, name: str):
    arrays = [_parse_idx(_read_verified(p, name, s), p) for s in SPLITS if (p := _file_in(folder, s))]
    x_train, y_train, x_test, y_test = arrays
    return (x_train, y_train), (x_test, y_test)


def _download(url: str, target: Path) -> None:
    """Fetch ``url`` into ``target`` (replaced in tests; the caller verifies the bytes)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        target.write_bytes(response.read())


def _download_all(name: str, searched: list[Path]) -> Path:
    folder = keras_cache(name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stem in SPLITS:
            final = folder / f"{stem}.gz"
            tmp = folder / f".tmp-{os.getpid()}-{stem}.gz"
            try:
                _download(MIRRORS[name] + f"{stem}.gz", tmp)
                _read_verified(tmp, name, stem)
                os.replace(tmp, final)
            finally:
                if tmp.exists():
                    tmp.unlink()
    except DatasetError:
        raise
    except OSError as e:  # URLError is an OSError
        hint = "install Debian's dataset-fashion-mnist package, " if name == "fashion_mnist" else ""
        raise DatasetError(
            f"no copy of {name} found and the download failed ({e}). Searched: "
            + ", ".join(str(f) for f in searched)
            + f". Fix: {hint}copy the four *-ubyte.gz files into data/{name}/ of the repository, "
            f"or into a folder named by ${DATA_ENV}."
        ) from e
    return folder


def load_dataset(name: str, path: str | Path | None = None, source: str = "files"):
    """Load MNIST or Fashion-MNIST as uint8 arrays (see the module docstring).

    Args:
        name: "mnist" or "fashion_mnist".
        path: a folder holding the four IDX files (.gz or not); if given, only it is used.
        source: "files" (default, checksummed) or "tfds" (``tensorflow_datasets.load``).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: uint8 [N, 28, 28] and uint8 [N].
    """
    _check_name(name)
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {SOURCES}")
    if source == "tfds":
        return _load_tfds(name)
    if path is not None:
        folder = Path(path).expanduser()
        missing = [s for s in SPLITS if not _file_in(folder, s)]
        if missing:
            raise DatasetError(f"{folder} lacks {', '.join(missing)} (.gz or uncompressed); put all four files there")
        return _load_folder(folder, name)
    searched = candidate_folders(name)
    for folder in searched:
        if _complete(folder):
            return _load_folder(folder, name)
    return _load_folder(_download_all(name, searched), name)


def _load_tfds(name: str):
    import tensorflow_datasets as tfds

    out = []
    for split in tfds.load(name, split=["train", "test"], as_supervised=True):
        # One batch holding the whole split (batch_size=-1 in tfds.load aborts under mock data).
        images, labels = split.batch(1 << 20).get_single_element()
        out.append((np.asarray(images, np.uint8).reshape(-1, 28, 28), np.asarray(labels).astype(np.uint8)))
    return tuple(out)


def load_mnist(path: str | Path | None = None, source: str = "files"):
    """MNIST as ``((x_train, y_train), (x_test, y_test))``, uint8 (see ``load_dataset``)."""
    return load_dataset("mnist", path, source)


def load_fashion_mnist(path: str | Path | None = None, source: str = "files"):
    """Fashion-MNIST as ``((x_train, y_train), (x_test, y_test))``, uint8 (see ``load_dataset``)."""
    return load_dataset("fashion_mnist", path, source)


def to_float_images(images) -> np.ndarray:
    """uint8 [N, H, W] or [N, H, W, C] in [0, 255] -> float32 [N, H, W, C] in [-1, 1] (x / 127.5 - 1).

    Float input already in [-1, 1] is passed through as float32.
    """
    arr = np.asarray(images)
    if arr.size == 0:
        raise ValueError("images is empty; pass at least one image")
    if arr.ndim not in (3, 4):
        raise ValueError(f"images must be [N, H, W] or [N, H, W, C], got shape {arr.shape}")
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 127.5 - 1.0
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"images must be uint8 in [0, 255] or float in [-1, 1], got dtype {arr.dtype}")
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("images contain NaN or Inf")
    if lo < -1.0 - 1e-6 or hi > 1.0 + 1e-6:
        hint = (" They look like raw pixels: pass uint8, or scale with x / 127.5 - 1." if hi > 2 else
                " Scale [0, 1] images with 2 * x - 1.")
        raise ValueError(f"float images must be in [-1, 1], got values in [{lo:g}, {hi:g}].{hint}")
    return arr.astype(np.float32)


def to_uint8_images(images) -> np.ndarray:
    """float [N, H, W, C] in [-1, 1] -> uint8 in [0, 255]: round((x + 1) * 127.5), clipped."""
    arr = np.asarray(images, dtype=np.float32)
    return np.clip(np.round((arr + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_dataset(images, labels=None, batch_size: int = 128, shuffle: bool = True, seed: int = 0,
                 cache: bool = True, drop_remainder: bool = True, num_classes: int | None = None):
    """A ``tf.data`` pipeline of float32 [B, H, W, C] batches in [-1, 1] (or ``(images, labels)``).

    from_tensor_slices -> cache -> shuffle(N, seed, reshuffled every epoch) ->
    batch -> prefetch(AUTOTUNE). Labels come out as int32 [B].
    """
    import tensorflow as tf

    x = to_float_images(images)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if drop_remainder and batch_size > len(x):
        raise ValueError(f"batch_size {batch_size} exceeds the {len(x)} images: with drop_remainder "
                         "the dataset would yield no batch; use a smaller batch_size")
    tensors = x
    if labels is not None:
        y = np.asarray(labels)
        if y.shape != (len(x),):
            raise ValueError(f"labels must have shape [{len(x)}] (one per image), got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"labels must be integers, got dtype {y.dtype}")
        if num_classes is not None and len(y) and (y.min() < 0 or y.max() >= num_classes):
            bad = y[(y < 0) | (y >= num_classes)][0]
            raise ValueError(f"label {bad} is out of range: labels must be in [0, {num_classes})")
        tensors = (x, y.astype(np.int32))
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
