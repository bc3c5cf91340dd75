"""Data loading: checksums, errors that never touch the user's files, search order, pipelines."""

import gzip
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from gan_utils import (
    DatasetError,
    data,
    load_fashion_mnist,
    load_mnist,
    make_dataset,
    to_float_images,
    to_uint8_images,
)
from gan_utils.config import project_root

MNIST_DIR = project_root() / "data" / "mnist"


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.fixture
def copy_dir(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for f in MNIST_DIR.glob("*.gz"):
        shutil.copy(f, folder / f.name)
    return folder


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No copy anywhere: no env folder, no project data/, an empty Keras home."""
    monkeypatch.delenv("GAN_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "project_root", lambda: None)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path


def test_mnist_matches_the_published_facts(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    scaled = x_train / 255.0
    assert round(scaled.mean(), 4) == 0.1307 and round(scaled.std(), 4) == 0.3081


def test_corrupted_file_names_file_and_both_hashes_and_is_left_alone(copy_dir):
    target = copy_dir / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[100] ^= 0xFF
    target.write_bytes(gzip.compress(bytes(raw)))
    before = target.read_bytes()
    with pytest.raises(DatasetError) as e:
        load_mnist(copy_dir)
    message = str(e.value)
    assert "train-labels-idx1-ubyte.gz" in message
    assert data.SHA256["mnist"]["train-labels-idx1-ubyte"] in message
    assert __import__("hashlib").sha256(bytes(raw)).hexdigest() in message
    assert target.read_bytes() == before


def test_truncated_gzip_is_named(copy_dir):
    target = copy_dir / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz.*truncated"):
        load_mnist(copy_dir)
    assert target.stat().st_size == 1000


def test_uncompressed_files_load_too(copy_dir):
    for f in list(copy_dir.glob("*.gz")):
        f.with_suffix("").write_bytes(gzip.decompress(f.read_bytes()))
        f.unlink()
    (x, _), _ = load_mnist(copy_dir)
    assert x.shape == (60000, 28, 28)


def test_missing_file_in_explicit_path(copy_dir):
    (copy_dir / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte"):
        load_mnist(copy_dir)


def test_gan_data_dir_is_honoured(copy_dir, nowhere, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(copy_dir.parent))
    assert data.candidate_folders("mnist")[0] == copy_dir
    (_, y), _ = load_mnist()
    assert len(y) == 60000


def test_offline_with_no_copy_says_where_to_put_files(nowhere, monkeypatch):
    def offline(url, target):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data, "_download", offline)
    with pytest.raises(DatasetError, match="(?s)no copy of mnist.*keras_home.*data/mnist"):
        load_mnist()


def test_download_goes_to_the_cache_and_is_verified(nowhere, monkeypatch):
    def fake_download(url, target):
        Path(target).write_bytes((MNIST_DIR / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(data, "_download", fake_download)
    (x, _), _ = load_mnist()
    assert x.shape == (60000, 28, 28)
    assert sorted(p.name for p in data.keras_cache("mnist").iterdir()) == sorted(p.name for p in MNIST_DIR.glob("*.gz"))


def test_bad_download_leaves_nothing_behind(nowhere, monkeypatch):
    monkeypatch.setattr(data, "_download", lambda url, target: Path(target).write_bytes(gzip.compress(b"junk")))
    with pytest.raises(DatasetError, match="expected"):
        load_mnist()
    assert list(data.keras_cache("mnist").iterdir()) == []


def test_unknown_dataset_and_source():
    with pytest.raises(ValueError, match="fashion_mnist"):
        data.load_dataset("cifar10")
    with pytest.raises(ValueError, match="tfds"):
        load_mnist(source="web")


@pytest.mark.skipif(not data.DEBIAN_FASHION.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian():
    (x, y), (xt, yt) = load_fashion_mnist(data.DEBIAN_FASHION)
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert np.bincount(y).tolist() == [6000] * 10


def test_tfds_source_offline_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        (x, y), (xt, yt) = load_mnist(source="tfds")
    assert x.shape == (12, 28, 28) and x.dtype == np.uint8
    assert y.shape == (12,) and y.dtype == np.uint8 and y.max() < 10
    assert xt.shape[1:] == (28, 28)


def test_float_uint8_round_trip_is_exact():
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    f = to_float_images(x)
    assert f.shape == (1, 16, 16, 1) and f.dtype == np.float32
    assert f.min() == -1.0 and f.max() == 1.0
    np.testing.assert_array_equal(to_uint8_images(f)[..., 0], x)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((28, 28), np.uint8), "shape"),
        (np.zeros((2, 28, 28, 1, 1), np.uint8), "shape"),
        (np.full((2, 28, 28), 255.0, np.float32), "raw pixels"),
        (np.full((2, 28, 28), 1.5, np.float32), r"\[-1, 1\]"),
        (np.array([["a"]] * 2).reshape(2, 1, 1), "dtype"),
        (np.zeros((0, 28, 28), np.uint8), "empty"),
        (np.full((1, 2, 2), np.nan, np.float32), "NaN"),
    ],
)
def test_bad_images(bad, match):
    with pytest.raises(ValueError, match=match):
        to_float_images(bad)


def test_make_dataset_images_and_labels(mnist):
    (x, y), _ = mnist
    ds = make_dataset(x[:256], batch_size=32, seed=3)
    batch = next(iter(ds))
    assert batch.shape == (32, 28, 28, 1) and batch.dtype.name == "float32"
    assert -1.0 <= float(batch.numpy().min()) and float(batch.numpy().max()) <= 1.0
    np.testing.assert_array_equal(batch, next(iter(make_dataset(x[:256], batch_size=32, seed=3))))
    images, labels = next(iter(make_dataset(x[:256], y[:256], batch_size=32, num_classes=10)))
    assert images.shape == (32, 28, 28, 1) and labels.dtype.name == "int32" and labels.shape == (32,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 1000}, "no batch"),
        ({"labels": np.zeros(5, np.int64)}, "one per image"),
        ({"labels": np.zeros(10, np.float32)}, "integers"),
        ({"labels": np.full(10, 12), "num_classes": 10}, "label 12 is out of range"),
    ],
)
def test_make_dataset_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_dataset(np.zeros((10, 4, 4), np.uint8), **{"batch_size": 2, **kwargs})
