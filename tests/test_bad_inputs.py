"""Bad input, one case per test: each raises a clear error of the expected type whose message
names the problem and the fix, and leaves every file that existed before unchanged.

This is the single list of user-facing bad-input cases. Closely related tests live beside
the code they test: data-file search and download (test_data.py), checkpoints of another
model restored directly (test_training.py), bad labels for label_accuracy and conditional
generate_images (test_conditional.py), bad builder arguments (test_models.py, test_dcgan.py,
test_wgan.py), diverging runs (test_resume.py).
"""

import contextlib
import gzip
import io
import re
import shutil
import urllib.error
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from gan_utils import CheckpointError
from gan_utils.data import loading

MNIST_DIR = Path(__file__).resolve().parents[1] / "data" / "mnist"


class CLIError(Exception):
    """The command line exited with a non-zero code; ``message`` is what it printed to stderr."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def cli(*argv):
    """Run ``python -m gan_utils`` in-process; raise CLIError on a non-zero exit (argparse's included)."""
    from gan_utils.__main__ import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code
    if code:
        raise CLIError(code, err.getvalue())


@dataclass
class Case:
    call: object  # no arguments; must raise
    error: type
    says: tuple  # regular expressions the message must all match: the problem, then the fix
    absent: tuple = ()  # paths that must not exist afterwards
    code: int = 2  # for CLIError: the exit code


class Env:
    """What the cases build on: a tmp folder, tiny models, a monkeypatch."""

    def __init__(self, tmp: Path, monkeypatch):
        self.tmp, self.monkeypatch = tmp, monkeypatch

    def gan(self, latent_dim=8, image_shape=(8, 8, 1), compile=True):
        import keras

        from gan_utils import GAN, build_mlp_discriminator, build_mlp_generator

        keras.utils.set_random_seed(0)
        gan = GAN(build_mlp_generator(latent_dim, image_shape, hidden=(16,)),
                  build_mlp_discriminator(image_shape, hidden=(16,)), seed=1)
        if compile:
            gan.compile()
        return gan

    def conditional_gan(self):
        from gan_utils import GAN, build_conditional_discriminator, build_conditional_generator

        gan = GAN(build_conditional_generator(8, (8, 8, 1), 10, width=8),
                  build_conditional_discriminator((8, 8, 1), 10, width=8))
        gan.compile()
        return gan

    def images(self, n=32, shape=(8, 8)):
        return np.random.default_rng(0).integers(0, 256, (n, *shape), dtype=np.uint8)

    def dataset(self, **kwargs):
        from gan_utils import make_dataset

        return make_dataset(self.images(), batch_size=16, **kwargs)

    def file(self, name, content=b"keep me"):
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path

    def mnist_copy(self, missing=()):
        """``tmp/data/mnist/`` with the shipped files (but ``missing``), the only place MNIST is looked for."""
        folder = self.tmp / "data" / "mnist"
        folder.mkdir(parents=True)
        for stem in loading.FILES:
            if stem not in missing:
                shutil.copyfile(MNIST_DIR / f"{stem}.gz", folder / f"{stem}.gz")
        self.monkeypatch.setenv("GAN_DATA_DIR", str(folder.parent))
        self.monkeypatch.setattr(loading, "project_root", lambda: None)
        self.monkeypatch.setattr(loading, "DEBIAN_FASHION_DIR", self.tmp / "no-debian")
        self.monkeypatch.setenv("KERAS_HOME", str(self.tmp / "keras_home"))

        def offline(url, target):
            raise urllib.error.URLError("no network (test)")

        self.monkeypatch.setattr(loading, "_download", offline)
        return folder


CASES = {}
MARKS = {}


def case(name, marks=()):
    def register(build):
        CASES[name] = build
        MARKS[name] = marks
        return build

    return register


# ------------------------------------------------------------ images and labels (make_dataset)
# make_dataset checks images through to_float_images, so these cover it too.


def _make_dataset(t, images=None, **kwargs):
    from gan_utils import make_dataset

    images = np.zeros((10, 4, 4), np.uint8) if images is None else images
    return lambda: make_dataset(images, **{"batch_size": 2, **kwargs})


@case("images-one-image-without-batch-axis")
def _(t):
    return Case(_make_dataset(t, np.zeros((28, 28), np.uint8)), ValueError,
                (r"must be \[N, H, W\] or \[N, H, W, C\], got shape \(28, 28\)", r"x\[None\]"))


@case("images-rank-5")
def _(t):
    return Case(_make_dataset(t, np.zeros((2, 28, 28, 1, 1), np.uint8)), ValueError,
                (r"got shape \(2, 28, 28, 1, 1\)", r"\[N, H, W, C\]"))


@case("images-empty")
def _(t):
    return Case(_make_dataset(t, np.zeros((0, 28, 28), np.uint8)), ValueError, ("empty", "at least one image"))


@case("images-dtype-strings")
def _(t):
    return Case(_make_dataset(t, np.array(["a", "b"]).reshape(2, 1, 1)), ValueError,
                ("dtype <U1", r"uint8 pixels in \[0, 255\] or floats in \[-1, 1\]"))


@case("images-dtype-bool")
def _(t):
    return Case(_make_dataset(t, np.zeros((2, 3, 3), bool)), ValueError, ("dtype bool", "uint8 pixels"))


@case("images-dtype-int64-pixels")
def _(t):
    return Case(_make_dataset(t, np.zeros((2, 3, 3), np.int64)), ValueError, ("dtype int64", r"x.astype\(np.uint8\)"))


@case("images-floats-in-0-255")
def _(t):
    return Case(_make_dataset(t, np.full((10, 4, 4), 255.0, np.float32)), ValueError,
                (r"must be in \[-1, 1\], got values in \[255, 255\]", "look like raw pixels",
                 "pass uint8, or scale with x / 127.5 - 1"))


@case("images-floats-out-of-range")
def _(t):
    images = np.full((10, 4, 4), 1.5, np.float32)
    images[0] = -450.0
    return Case(_make_dataset(t, images), ValueError, (r"got values in \[-450, 1.5\]", r"rescale them to \[-1, 1\]"))


@case("images-nan")
def _(t):
    return Case(_make_dataset(t, np.full((1, 2, 2), np.nan, np.float32), batch_size=1), ValueError,
                ("contain NaN or Inf", "check how they were produced"))


@case("labels-out-of-range")
def _(t):
    return Case(_make_dataset(t, labels=np.array([0] * 9 + [12]), num_classes=10), ValueError,
                (r"label 12 \(index 9\) is out of range", r"labels must be in \[0, 10\)"))


@case("labels-negative")
def _(t):
    return Case(_make_dataset(t, labels=np.array([-1] + [0] * 9), num_classes=10), ValueError,
                (r"label -1 \(index 0\) is out of range", r"\[0, 10\)"))


@case("labels-float")
def _(t):
    return Case(_make_dataset(t, labels=np.zeros(10, np.float32)), ValueError,
                ("labels must be integers, got dtype float32", r"labels.astype\(int\)"))


@case("labels-one-per-image")
def _(t):
    return Case(_make_dataset(t, labels=np.zeros(5, np.int64)), ValueError,
                (r"labels must have shape \[10\] \(one per image\), got \(5,\)",))


for _bad in (0, -3, 2.5):
    case(f"make-dataset-batch-size-{_bad}")(
        lambda t, bad=_bad: Case(_make_dataset(t, batch_size=bad), ValueError,
                                 (f"batch_size must be a positive integer, got {bad}",)))


@case("make-dataset-batch-larger-than-data")
def _(t):
    return Case(_make_dataset(t, batch_size=11), ValueError,
                ("batch_size 11 is larger than the 10 images", "use a smaller batch_size or drop_remainder=False"))


@case("make-dataset-negative-seed")
def _(t):
    return Case(_make_dataset(t, seed=-1), ValueError, ("seed must be a non-negative integer or None, got -1",))


# ----------------------------------------------------------------------------- train()


def _train(t, gan=None, dataset=None, out=None, **kwargs):
    from gan_utils import train

    gan = gan or t.gan()
    dataset = t.dataset() if dataset is None else dataset
    out = out or t.tmp / "run"
    return lambda: train(gan, dataset, out, **{"epochs": 1, "verbose": 0, **kwargs})


for _bad in (0, -1, 1.5):
    case(f"train-epochs-{_bad}")(
        lambda t, bad=_bad: Case(_train(t, epochs=bad), ValueError,
                                 (f"epochs must be a positive integer, got {bad}",), absent=(t.tmp / "run",)))


@case("train-keep-no-checkpoints")
def _(t):
    return Case(_train(t, keep_checkpoints=0), ValueError, ("keep_checkpoints must be a positive integer, got 0",),
                absent=(t.tmp / "run",))


@case("train-uncompiled-gan")
def _(t):
    return Case(_train(t, gan=t.gan(compile=False)), ValueError,
                ("compile the GAN before training", r"gan.compile\(d_optimizer=..., g_optimizer=...\)"))


@case("train-output-folder-is-a-file")
def _(t):
    return Case(_train(t, out=t.file("run")), NotADirectoryError,
                (r"output folder .*run exists and is a file", "remove it or choose another --out"))


@case("train-images-of-another-shape")
def _(t):
    from gan_utils import make_dataset

    return Case(_train(t, dataset=make_dataset(t.images(shape=(28, 28)), batch_size=16)), ValueError,
                (r"image batches of shape \(16, 28, 28, 1\) but this GAN was built for images of shape \(8, 8, 1\)",
                 r"build the generator and discriminator with image_shape=\(28, 28, 1\)"), absent=(t.tmp / "run",))


@case("train-uint8-pixels")
def _(t):
    import tensorflow as tf

    raw = tf.data.Dataset.from_tensor_slices(t.images()[..., None]).batch(16)
    return Case(_train(t, dataset=raw), ValueError,
                ("the dataset yields uint8 images", r"floats in \[-1, 1\]", "x / 127.5 - 1", "make_dataset"))


@case("train-numpy-array-instead-of-dataset")
def _(t):
    return Case(_train(t, dataset=t.images()[..., None]), TypeError,
                ("must be a tf.data.Dataset of image batches, got a NumPy array", r"gu.make_dataset\(images"))


@case("train-conditional-gan-without-labels")
def _(t):
    return Case(_train(t, gan=t.conditional_gan()), ValueError,
                ("this GAN is conditional but the dataset yields images only",
                 r"make_dataset\(images, labels, num_classes=K"))


@case("train-resume-with-another-latent-size")
def _(t):
    from gan_utils.training.checkpoints import save_checkpoint

    other = t.gan(latent_dim=4)
    save_checkpoint(t.tmp / "run" / "checkpoints", 2, other.checkpoint_items(), {"history": {}})
    return Case(_train(t, epochs=3), CheckpointError,
                (r"ckpt-2 was written by a different model or configuration",
                 r"has shape \(4, 16\) in the checkpoint but \(8, 16\) in this model", "Nothing was restored",
                 "use a new output folder", "rebuild the model the checkpoint came from"))


@case("train-resume-with-dropout-the-checkpoint-lacks")
def _(t):
    import keras

    from gan_utils import GAN, build_mlp_discriminator, build_mlp_generator
    from gan_utils.training.checkpoints import save_checkpoint

    save_checkpoint(t.tmp / "run" / "checkpoints", 1, t.gan().checkpoint_items(), {"history": {}})
    keras.utils.set_random_seed(0)
    with_dropout = GAN(build_mlp_generator(8, (8, 8, 1), hidden=(16,)),
                       build_mlp_discriminator((8, 8, 1), hidden=(16,), dropout=0.3), seed=1)
    with_dropout.compile()
    return Case(_train(t, gan=with_dropout, epochs=2), CheckpointError,
                ("different model or configuration", r"this model has 1 variable\(s\) the checkpoint lacks "
                 r"\(untracked/discriminator/0 \(discriminator \S*seed_generator_state\)\)",
                 "rebuild the model the checkpoint came from"))


def _damage(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))


@case("train-resume-from-a-corrupted-checkpoint")
def _(t):
    from gan_utils.training.checkpoints import save_checkpoint

    save_checkpoint(t.tmp / "run" / "checkpoints", 1, t.gan().checkpoint_items(), {"history": {}})
    _damage(t.tmp / "run" / "checkpoints" / "ckpt-1.data-00000-of-00001")
    return Case(_train(t, epochs=2), CheckpointError,
                (r"no readable checkpoint in .*checkpoints", r"ckpt-1 is unreadable", "Checksum does not match",
                 "files were left as they are", "use a new output folder"))


@case("train-resume-with-an-empty-checkpoint-index")
def _(t):
    from gan_utils.training.checkpoints import save_checkpoint

    save_checkpoint(t.tmp / "run" / "checkpoints", 1, t.gan().checkpoint_items(), {"history": {}})
    (t.tmp / "run" / "checkpoints" / "checkpoint").write_bytes(b"")
    return Case(_train(t, epochs=2), CheckpointError,
                (r"checkpoint index .*checkpoints/checkpoint is damaged", "move it aside and run again"))


@case("train-resume-from-a-checkpoint-train-did-not-write")
def _(t):
    import tensorflow as tf

    gan = t.gan()
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(generator=gan.generator), t.tmp / "run" / "checkpoints",
                                         max_to_keep=1, checkpoint_name="ckpt")
    manager.save(checkpoint_number=1)
    return Case(_train(t, gan=gan, epochs=2), CheckpointError,
                ("ckpt-1 has no run record", "not written by gan_utils.train", "use a new output folder"))


@case("train-recipe-epochs-0")
def _(t):
    from gan_utils import train_recipe

    return Case(lambda: train_recipe("gan", t.tmp / "run", epochs=0), ValueError,
                ("epochs must be a positive integer, got 0",), absent=(t.tmp / "run",))


@case("train-recipe-negative-batch-size")
def _(t):
    from gan_utils import train_recipe

    return Case(lambda: train_recipe("gan", t.tmp / "run", batch_size=-2), ValueError,
                ("batch_size must be a positive integer, got -2",), absent=(t.tmp / "run",))


@case("train-recipe-unknown-model")
def _(t):
    import re

    from gan_utils import RECIPES, train_recipe

    return Case(lambda: train_recipe("nosuch", t.tmp / "run"), ValueError,
                ("unknown model 'nosuch'", "choose one of " + re.escape(str(sorted(RECIPES)))))


# ------------------------------------------------------------------- generators and samples


@case("generate-with-noise-of-another-latent-size")
def _(t):
    gan = t.gan(latent_dim=64)
    return Case(lambda: gan.generate(np.zeros((2, 100), np.float32)), ValueError,
                (r"z must be float32 \[B, latent_dim\] = \[B, 64\] for this GAN, got shape \(2, 100\)",
                 r"gan.sample_latent\(B\)"))


@case("generate-images-from-a-discriminator")
def _(t):
    from gan_utils import generate_images

    d = t.gan().discriminator
    return Case(lambda: generate_images(d, 4), ValueError,
                ("is not a generator", "looks like a discriminator", "gan.generator", "generator.keras"))


@case("generate-images-labels-for-an-unconditional-generator")
def _(t):
    from gan_utils import generate_images

    g = t.gan().generator
    return Case(lambda: generate_images(g, 3, labels=[1, 2, 3]), ValueError,
                ("labels were given but this generator is unconditional", "drop labels"))


@case("generate-images-zero-samples")
def _(t):
    from gan_utils import generate_images

    g = t.gan().generator
    return Case(lambda: generate_images(g, 0), ValueError, ("n must be a positive integer, got 0",))


@case("classifier-score-of-no-samples")
def _(t):
    from gan_utils import classifier_score

    return Case(lambda: classifier_score(np.zeros((0, 10))), ValueError,
                (r"probs must be \[N, K\] with N >= 1, got shape \(0, 10\)",))


@case("label-accuracy-of-no-samples")
def _(t):
    from gan_utils import label_accuracy

    return Case(lambda: label_accuracy(np.zeros((0, 10)), np.zeros(0, np.int64)), ValueError,
                ("no samples", "at least one"))


# -------------------------------------------------------------------------- command line


@case("cli-unknown-model")
def _(t):
    return Case(lambda: cli("train", "nosuch", "--out", t.tmp / "x"), CLIError,
                ("argument model: invalid choice: 'nosuch'", "choose from", "gan"), absent=(t.tmp / "x",))


for _flag in ("--epochs", "--batch-size"):
    for _value in ("0", "-2", "x"):
        case(f"cli-train{_flag}-{_value}")(
            lambda t, flag=_flag, value=_value: Case(
                lambda: cli("train", "gan", "--out", t.tmp / "x", flag, value), CLIError,
                (f"argument {flag}: expected a positive integer, got '?{value}'?",), absent=(t.tmp / "x",)))


@case("cli-train-output-folder-is-a-file")
def _(t):
    return Case(lambda: cli("train", "gan", "--out", t.file("run"), "--epochs", "1", "--quick"), CLIError,
                ("error: output folder .* is a file", "remove it or choose another --out"))


@case("cli-train-corrupted-data-file")
def _(t):
    folder = t.mnist_copy()
    target = folder / "train-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(target.read_bytes()))
    content[100] ^= 0x01  # one label changes; the header stays valid
    target.write_bytes(gzip.compress(bytes(content)))
    return Case(lambda: cli("train", "gan", "--out", t.tmp / "run", "--quick"), CLIError,
                (r"train-labels-idx1-ubyte.gz does not hold the original mnist", "SHA-256",
                 r"Fix: copy a good file from the repository's data/mnist/", "It was left unchanged"),
                absent=(t.tmp / "run",))


@case("cli-train-missing-data-file")
def _(t):
    t.mnist_copy(missing=("t10k-labels-idx1-ubyte",))
    return Case(lambda: cli("train", "gan", "--out", t.tmp / "run", "--quick"), CLIError,
                ("no complete copy of mnist was found and the download .* failed", r"Searched: .*data/mnist",
                 "Fix: copy the four files"), absent=(t.tmp / "run",))


@case("cli-sample-missing-run")
def _(t):
    return Case(lambda: cli("sample", t.tmp / "nothing", "--n", "3", "--out", t.tmp / "x.npz"), CLIError,
                (r"no generator at .*nothing;", r"train one first \(python -m gan_utils train ... --out DIR\)"), absent=(t.tmp / "x.npz",))


@case("cli-sample-a-discriminator-file")
def _(t):
    path = t.tmp / "discriminator.keras"
    t.gan().discriminator.save(path)
    return Case(lambda: cli("sample", path, "--n", "3", "--out", t.tmp / "x.npz"), CLIError,
                ("discriminator.keras is not a generator", "looks like a discriminator", "generator.keras that train"),
                absent=(t.tmp / "x.npz",))


@case("cli-sample-a-corrupted-generator-file")
def _(t):
    t.gan().generator.save(t.tmp / "good.keras")
    good = (t.tmp / "good.keras").read_bytes()
    path = t.file("run/generator.keras", good[: len(good) // 2])  # cut short, as by a full disk
    return Case(lambda: cli("sample", t.tmp / "run", "--n", "3", "--out", t.tmp / "x.npz"), CLIError,
                (f"{path} is not a readable .keras file", "re-run the train command that wrote it"),
                absent=(t.tmp / "x.npz",))


@case("cli-evaluate-a-samples-file-with-no-images")
def _(t):
    path = t.tmp / "empty.npz"
    np.savez(path, images=np.zeros((0, 28, 28, 1), np.uint8))
    return Case(lambda: cli("evaluate", path), CLIError, ("empty.npz holds no images", "gan_utils sample RUN --n N"))


@case("fid-with-fewer-samples-than-feature-dimensions")
def _(t):
    from gan_utils import fid

    rng = np.random.default_rng(0)
    return Case(lambda: fid(rng.random((50, 128)), rng.random((1000, 128))), ValueError,
                ("has 50 samples but 128 feature dimensions", "at least 129", "use kid"))


@case("evaluate-images-of-the-wrong-size-for-the-classifier")
def _(t):
    from gan_utils import classifier_features

    return Case(lambda: classifier_features(np.zeros((4, 32, 32, 1), np.uint8)), ValueError,
                (r"takes \[N, 28, 28, 1\] images, got shape \(4, 32, 32, 1\)",))


@case("cli-sample-output-is-a-folder")
def _(t):
    t.gan().generator.save(t.tmp / "generator.keras")
    (t.tmp / "out.npz").mkdir()
    return Case(lambda: cli("sample", t.tmp / "generator.keras", "--n", "3", "--out", t.tmp / "out.npz"), CLIError,
                ("out.npz is a folder", "give a file name"))


@case("cli-sample-zero-samples")
def _(t):
    return Case(lambda: cli("sample", t.tmp, "--n", "0", "--out", t.tmp / "x.npz"), CLIError,
                ("argument --n: expected a positive integer, got 0",), absent=(t.tmp / "x.npz",))


# --------------------------------------------------------------------------------- runner


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", [pytest.param(name, id=name, marks=MARKS[name]) for name in CASES])
def test_bad_input(name, tmp_path, monkeypatch):
    spec = CASES[name](Env(tmp_path, monkeypatch))
    before = _files(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "checkpoint ... unreadable; trying the previous one"
        with pytest.raises(spec.error) as err:
            spec.call()
    message = str(err.value)
    if isinstance(err.value, CLIError):
        assert err.value.code == spec.code, message
    for pattern in spec.says:
        assert re.search(pattern, message, flags=re.S), f"{pattern!r} not in: {message}"
    after = _files(tmp_path)
    for path, content in before.items():
        assert path in after, f"{path} was deleted"
        assert after[path] == content, f"{path} was changed"
    for path in spec.absent:
        assert not Path(path).exists(), f"{path} was created"
