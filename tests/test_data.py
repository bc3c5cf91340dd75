"""gan_utils.data: checksummed loading, search order, downloads (faked), conversions, tf.data pipelines.

No test touches the network: the downloader is replaced, and the tfds test
runs on tfds' mock data with sockets disabled.
"""

import gzip
import hashlib
import shutil
import socket
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from gan_utils.data import (
    DatasetError,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    make_dataset,
    to_float_images,
    to_uint8_images,
)
from gan_utils.data import loading as data

MNIST_DIR = Path(__file__).resolve().parents[1] / "data" / "mnist"
GZ_FILES = [f"{stem}.gz" for stem in data.FILES]


@pytest.fixture(scope="module")
def mnist():
    return load_mnist(MNIST_DIR)


@pytest.fixture
def mnist_copy(tmp_path):
    """A tmp folder ``mnist/`` holding a copy of the four shipped .gz files."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in GZ_FILES:
        shutil.copyfile(MNIST_DIR / name, folder / name)
    return folder


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No copy anywhere: no $GAN_DATA_DIR, no checkout data/, no Debian folder, an empty Keras home."""
    monkeypatch.delenv("GAN_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "project_root", lambda: None)
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path


def _files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------- loading MNIST


def test_mnist_matches_published_facts(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    scaled = x_train / 255.0
    assert round(float(scaled.mean()), 4) == 0.1307 and round(float(scaled.std()), 4) == 0.3081
    x_train[0, 0, 0] = 1  # writable, like keras.datasets.mnist.load_data()


def test_default_search_finds_the_checkout_data(monkeypatch, tmp_path):
    monkeypatch.delenv("GAN_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "project_root", lambda: MNIST_DIR.parents[1])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(data, "_download", lambda url, target: pytest.fail("must not download"))
    (_, y), _ = load_mnist()
    assert y[:5].tolist() == [5, 0, 4, 1, 9]


def test_shipped_sha256sums_match_the_table():
    sums = dict(line.split()[::-1] for line in (MNIST_DIR / "SHA256SUMS").read_text().splitlines())
    assert {stem: sums[stem] for stem in data.FILES} == data.SHA256["mnist"]
    for name in GZ_FILES:
        assert hashlib.sha256((MNIST_DIR / name).read_bytes()).hexdigest() == sums[name]


def test_uncompressed_files_load_too(mnist_copy):
    for name in GZ_FILES:
        gz = mnist_copy / name
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    (_, y), (x_test, _) = load_mnist(mnist_copy)
    assert y[:5].tolist() == [5, 0, 4, 1, 9] and x_test.shape == (10000, 28, 28)


def test_corrupted_file_names_file_and_both_hashes_and_is_left_alone(mnist_copy):
    target = mnist_copy / "train-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(target.read_bytes()))
    content[100] ^= 0x01  # one label changes; the header stays valid
    target.write_bytes(gzip.compress(bytes(content)))
    before, mtime = target.read_bytes(), target.stat().st_mtime_ns
    with pytest.raises(DatasetError) as err:
        load_mnist(mnist_copy)
    message = str(err.value)
    assert str(target) in message
    assert data.SHA256["mnist"]["train-labels-idx1-ubyte"] in message
    assert hashlib.sha256(bytes(content)).hexdigest() in message
    assert "Fix:" in message and "data/mnist" in message
    assert target.read_bytes() == before and target.stat().st_mtime_ns == mtime


def test_truncated_gzip_is_named_and_left_alone(mnist_copy):
    target = mnist_copy / "t10k-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:5000])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz is truncated"):
        load_mnist(mnist_copy)
    assert target.stat().st_size == 5000


def test_truncated_uncompressed_file_reports_header_size(mnist_copy):
    gz = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    gz.unlink()
    raw = gzip.decompress((MNIST_DIR / gz.name).read_bytes())
    (mnist_copy / "t10k-labels-idx1-ubyte").write_bytes(raw[:-10])
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte is truncated.*\(10000,\)"):
        load_mnist(mnist_copy)


def test_missing_file_in_explicit_path_does_not_fall_back(mnist_copy, monkeypatch):
    (mnist_copy / "t10k-images-idx3-ubyte.gz").unlink()
    monkeypatch.setattr(data, "_download", lambda url, target: pytest.fail("must not download"))
    with pytest.raises(DatasetError, match="lacks t10k-images-idx3-ubyte"):
        load_mnist(mnist_copy)
    with pytest.raises(DatasetError, match="is not a folder"):
        load_mnist(mnist_copy / "does-not-exist")


def test_gan_data_dir_is_honoured(mnist_copy, nowhere, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(mnist_copy.parent))  # $GAN_DATA_DIR/mnist/
    assert data.search_folders("mnist")[0] == mnist_copy
    (_, y), _ = load_mnist()
    assert len(y) == 60000
    # Files right in $GAN_DATA_DIR are not used: MNIST and Fashion-MNIST share file names.
    monkeypatch.setenv("GAN_DATA_DIR", str(mnist_copy))
    assert mnist_copy not in data.search_folders("mnist")


def test_gan_data_dir_comes_before_the_checkout(mnist_copy, monkeypatch):
    monkeypatch.setattr(data, "project_root", lambda: MNIST_DIR.parents[1])
    monkeypatch.setenv("GAN_DATA_DIR", str(mnist_copy.parent))
    (mnist_copy / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\x01\x07"))
    with pytest.raises(DatasetError, match=str(mnist_copy)):
        load_mnist()


# ---------------------------------------------------------------- downloads (faked)


def test_offline_with_no_copy_lists_searched_folders(nowhere, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(nowhere / "env_data"))

    def offline(url, target):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data, "_download", offline)
    with pytest.raises(DatasetError) as err:
        load_mnist()
    message = str(err.value)
    for folder in data.search_folders("mnist"):
        assert str(folder) in message
    assert "data/mnist/" in message and "GAN_DATA_DIR" in message and "no network" in message
    assert _files_in(data.keras_cache_dir("mnist")) == []


def test_fashion_offline_message_names_the_debian_package(nowhere, monkeypatch):
    monkeypatch.setattr(data, "_download", lambda url, target: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(DatasetError, match="dataset-fashion-mnist"):
        load_fashion_mnist()


def test_download_goes_to_the_keras_cache_and_is_verified(nowhere, monkeypatch):
    urls = []

    def fake_download(url, target):
        urls.append(url)
        shutil.copyfile(MNIST_DIR / url.rsplit("/", 1)[1], target)

    monkeypatch.setattr(data, "_download", fake_download)
    (x, y), _ = load_mnist()
    assert x.shape == (60000, 28, 28) and y[:5].tolist() == [5, 0, 4, 1, 9]
    assert urls == [data.MIRRORS["mnist"] + name for name in GZ_FILES]
    assert _files_in(data.keras_cache_dir("mnist")) == sorted(GZ_FILES)  # no temporary file left


def test_download_fetches_only_missing_files_and_keeps_existing_ones(nowhere, monkeypatch):
    cache = data.keras_cache_dir("mnist")
    cache.mkdir(parents=True)
    for name in GZ_FILES[:3]:
        shutil.copyfile(MNIST_DIR / name, cache / name)
    mtimes = {name: (cache / name).stat().st_mtime_ns for name in GZ_FILES[:3]}
    urls = []

    def fake_download(url, target):
        urls.append(url)
        shutil.copyfile(MNIST_DIR / url.rsplit("/", 1)[1], target)

    monkeypatch.setattr(data, "_download", fake_download)
    load_mnist()
    assert urls == [data.MIRRORS["mnist"] + GZ_FILES[3]]
    assert {name: (cache / name).stat().st_mtime_ns for name in GZ_FILES[:3]} == mtimes


@pytest.mark.parametrize("payload", [b"junk", b"\0\0\x08\x03" + b"\0" * 20])
def test_bad_download_leaves_nothing_behind(nowhere, monkeypatch, payload):
    monkeypatch.setattr(data, "_download", lambda url, target: Path(target).write_bytes(gzip.compress(payload)))
    with pytest.raises(DatasetError, match="download from .*train-images-idx3-ubyte.gz was discarded"):
        load_mnist()
    assert _files_in(data.keras_cache_dir("mnist")) == []


def test_interrupted_download_leaves_nothing_behind(nowhere, monkeypatch):
    def dies_midway(url, target):
        Path(target).write_bytes(b"\x1f\x8b partial")
        raise ConnectionResetError("connection reset")

    monkeypatch.setattr(data, "_download", dies_midway)
    with pytest.raises(DatasetError, match="connection reset"):
        load_mnist()
    assert _files_in(data.keras_cache_dir("mnist")) == []



def test_real_downloader_with_a_local_mirror(nowhere, monkeypatch):
    """The real ``_download`` (urllib), pointed at a file:// mirror: no network needed."""
    monkeypatch.setitem(data.MIRRORS, "mnist", MNIST_DIR.as_uri() + "/")
    (_, y), _ = load_mnist()
    assert y[:5].tolist() == [5, 0, 4, 1, 9]
    assert _files_in(data.keras_cache_dir("mnist")) == sorted(GZ_FILES)


def test_unknown_dataset_and_source_list_valid_ones():
    with pytest.raises(ValueError, match="mnist, fashion_mnist"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="files, tfds"):
        load_mnist(source="web")


# ---------------------------------------------------------------- Fashion-MNIST and tfds


@pytest.mark.skipif(not data.DEBIAN_FASHION_DIR.is_dir(),
                    reason="Fashion-MNIST not installed: apt-get install dataset-fashion-mnist")
def test_fashion_mnist_from_the_debian_package(nowhere, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", Path("/usr/share/datasets/fashion-mnist"))
    monkeypatch.setattr(data, "_download", lambda url, target: pytest.fail("must not download"))
    (x, y), (x_test, y_test) = load_fashion_mnist()
    assert x.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x.dtype == y.dtype == np.uint8
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10


@pytest.fixture
def no_network(monkeypatch):
    """Every name lookup and socket connection from Python fails, and is recorded."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError(f"network access attempted in a test: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def test_tfds_source_offline_with_mock_data(no_network, monkeypatch, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    from tensorflow_datasets.core import splits as splits_lib

    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    # MockPolicy.USE_CODE needs no metadata files (nothing to fetch), but then the
    # split sizes are unknown and batch_size=-1 would ask TensorFlow for a batch of
    # sys.maxsize examples, which aborts the process. Tell tfds the sizes instead.
    monkeypatch.setattr(splits_lib.SplitDict, "total_num_examples", property(lambda self: 24))
    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        assert tfds.builder("mnist").info.splits.total_num_examples == 24
        (x, y), (x_test, y_test) = load_mnist(source="tfds")
    assert x.shape == (12, 28, 28) and x.dtype == np.uint8
    assert y.shape == (12,) and y.dtype == np.uint8 and int(y.max()) < 10
    assert x_test.shape == (12, 28, 28) and y_test.dtype == np.uint8
    assert no_network == []


# ---------------------------------------------------------------- conversions


def test_float_images_range_shape_and_exact_round_trip():
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    f = to_float_images(x)
    assert f.shape == (1, 16, 16, 1) and f.dtype == np.float32
    assert f.min() == -1.0 and f.max() == 1.0
    np.testing.assert_array_equal(to_uint8_images(f)[..., 0], x)
    rgb = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    assert to_float_images(rgb).shape == (2, 4, 4, 3)


def test_float_input_in_range_passes_as_float32():
    f = np.linspace(-1, 1, 2 * 5 * 5).reshape(2, 5, 5, 1)  # float64
    out = to_float_images(f)
    assert out.dtype == np.float32 and np.allclose(out, f)


def test_to_uint8_clips_rounds_and_accepts_tensors():
    import tensorflow as tf

    x = np.array([[-2.0, -1.0, 0.0, 0.999, 1.0, 3.0]], np.float32).reshape(1, 1, 6, 1)
    assert to_uint8_images(x).ravel().tolist() == [0, 0, 128, 255, 255, 255]
    out = to_uint8_images(tf.constant(x))
    assert out.dtype == np.uint8 and out.shape == (1, 1, 6, 1)
    with pytest.raises(ValueError, match="NaN"):
        to_uint8_images(np.full((1, 2, 2, 1), np.nan, np.float32))


# ---------------------------------------------------------------- tf.data pipelines


def test_make_dataset_spec_values_and_seed(mnist):
    import tensorflow as tf

    (x, y), _ = mnist
    ds = make_dataset(x[:256], batch_size=32, seed=3)
    assert ds.element_spec == tf.TensorSpec((32, 28, 28, 1), tf.float32)
    batches = [b.numpy() for b in ds]
    assert len(batches) == 8
    assert min(b.min() for b in batches) == -1.0 and max(b.max() for b in batches) == 1.0
    np.testing.assert_array_equal(batches[0], next(iter(make_dataset(x[:256], batch_size=32, seed=3))).numpy())
    assert not np.array_equal(batches[0], next(iter(ds)).numpy())  # reshuffled every epoch
    assert not np.array_equal(batches[0], next(iter(make_dataset(x[:256], batch_size=32, seed=4))).numpy())
    in_order = next(iter(make_dataset(x[:256], batch_size=32, shuffle=False)))
    np.testing.assert_array_equal(in_order, to_float_images(x[:32]))


def test_make_dataset_with_labels(mnist):
    import tensorflow as tf

    (x, y), _ = mnist
    ds = make_dataset(x[:100], y[:100], batch_size=16, shuffle=False, num_classes=10)
    assert ds.element_spec == (tf.TensorSpec((16, 28, 28, 1), tf.float32), tf.TensorSpec((16,), tf.int32))
    images, labels = next(iter(ds))
    assert labels.numpy().tolist() == y[:16].tolist()
    assert len(list(ds)) == 6  # 100 // 16, the remainder dropped
    kept = make_dataset(x[:100], y[:100], batch_size=16, drop_remainder=False)
    assert sum(int(b[1].shape[0]) for b in kept) == 100
