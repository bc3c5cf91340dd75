"""Interrupted runs: a real SIGKILL mid-epoch, then the same command again, ends exactly like
a run that was never interrupted; the same seed gives the same losses; the data order of an
epoch depends only on (seed, epoch); a SIGKILL in the middle of a checkpoint save leaves
the previous checkpoint usable; what an interrupted run left behind is cleaned up.

Other resume tests live in test_training.py (the history continues, optimizer steps are
counted from the checkpoint, a damaged newest checkpoint falls back to the previous one,
a checkpoint of another model is refused, mixed precision resumes exactly).
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from gan_utils import load_mnist, make_dataset
from gan_utils.training.checkpoints import list_checkpoints, read_checkpoint

MNIST_DIR = Path(__file__).resolve().parents[1] / "data" / "mnist"
EPOCHS = 4
STALL_EPOCH, STALL_BATCH = 3, 6  # the victim stops (1-based) at batch 6 of epoch 3: checkpoint 2 exists

# Trains a tiny GAN (BatchNorm in G, dropout in D, EMA) on 512 MNIST images, 16 steps per
# epoch, deterministic ops. Given a marker path that does not exist yet, it writes the
# marker at STALL_BATCH of STALL_EPOCH and then sleeps until it is killed; run again with
# the same arguments, it finds the marker and trains through.
SCRIPT = textwrap.dedent(
    f"""
    import os, sys, time
    import keras, numpy as np
    import gan_utils as gu

    images, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    marker = sys.argv[4] if len(sys.argv) > 4 else None
    gu.set_seed(0, deterministic=True)
    dataset = gu.make_dataset(np.load(images), batch_size=32, seed=0)
    gan = gu.GAN(gu.build_mlp_generator(16, (28, 28, 1), hidden=(32, 64)),
                 gu.build_mlp_discriminator((28, 28, 1), hidden=(64,), dropout=0.3), seed=0, ema_decay=0.9)
    gan.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5))

    class Stall(keras.callbacks.Callback):
        epoch = 0
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1
        def on_train_batch_end(self, batch, logs=None):
            if marker and not os.path.exists(marker) and (self.epoch, batch + 1) == ({STALL_EPOCH}, {STALL_BATCH}):
                open(marker, "w").write("inside epoch {STALL_EPOCH}")
                time.sleep(600)

    result = gu.train(gan, dataset, out, epochs, callbacks=[Stall()], verbose=0, grid_size=16)
    print("DONE", result.resumed_from, result.epochs)
    """
)


def _command(tmp_path, out, marker=None):
    script = tmp_path / "train_tiny.py"
    if not script.exists():
        script.write_text(SCRIPT)
        (x, _), _ = load_mnist(MNIST_DIR)
        np.save(tmp_path / "images.npy", x[:512])
    args = [sys.executable, str(script), str(tmp_path / "images.npy"), str(out), str(EPOCHS)]
    return args + ([str(marker)] if marker else [])


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")


@pytest.fixture
def start():
    """Start a run, its output going to a file (a pipe nobody reads could fill up and block it).

    Runs still going when the test ends (e.g. after a failed assertion) are killed.
    """
    started = []

    def start(args, log: Path) -> subprocess.Popen:
        with open(log, "w") as f:
            started.append(subprocess.Popen(args, env=_env(), stdout=f, stderr=subprocess.STDOUT, text=True))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait_for(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before the marker (code {proc.returncode}): "
                                 + log.read_text()[-3000:])
        if time.monotonic() > deadline:
            raise AssertionError(f"no marker after {timeout} s")
        time.sleep(0.1)


def test_sigkill_mid_epoch_then_rerun_equals_an_uninterrupted_run(tmp_path, start):
    from gan_utils import load_generator

    reference, victim = tmp_path / "reference", tmp_path / "victim"
    marker = tmp_path / "inside-epoch-3"
    ref_log, log = tmp_path / "reference.log", tmp_path / "victim.log"
    ref_proc = start(_command(tmp_path, reference), ref_log)
    proc = start(_command(tmp_path, victim, marker), log)
    _wait_for(marker, proc, log)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    ckpts = victim / "checkpoints"
    assert [p.name for p in list_checkpoints(ckpts)] == ["ckpt-1", "ckpt-2"]
    assert not (victim / "generator.keras").exists()  # written only when a run completes
    # What a kill at a worse moment leaves: the next epoch's frame drawn but its checkpoint save cut
    # off -- TensorFlow's shard folder, data files the index does not list yet, a half-written index
    # temporary -- and a frame of an epoch the run will never reach.
    (ckpts / "ckpt-3_temp").mkdir()
    (ckpts / "ckpt-3_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half a shard")
    for name in ("ckpt-3.index", "ckpt-3.data-00000-of-00001"):
        (ckpts / name).write_bytes(b"a save the index never listed")
    (ckpts / ("checkpoint.tmp" + "0" * 32)).write_text('model_checkpoint_path: "ckpt-')
    for stale in ("epoch_0003.png", "epoch_0009.png"):
        (victim / "frames" / stale).write_bytes(b"a frame from the interrupted epoch")

    again = subprocess.run(_command(tmp_path, victim, marker), env=_env(), capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"DONE 2 {EPOCHS}" in again.stdout
    assert "unreadable" not in again.stderr  # the files the index does not list were not even tried
    assert ref_proc.wait(timeout=300) == 0, ref_log.read_text()[-3000:]

    # Every loss of every epoch is equal, not just close ("seconds" is wall-clock time).
    history = {run: json.loads((run / "history.json").read_text()) for run in (reference, victim)}
    for h in history.values():
        h.pop("seconds")
        assert all(len(v) == EPOCHS for v in h.values()), h
    assert history[victim] == history[reference]
    # The last checkpoints hold the same networks, optimiser states (step counters included), seed
    # states (the latent sampler's and the dropout layer's), EMA weights, fixed noise and history.
    (ref_arrays, ref_record), (arrays, record) = (read_checkpoint(run / "checkpoints" / f"ckpt-{EPOCHS}")
                                                  for run in (reference, victim))
    assert sorted(arrays) == sorted(ref_arrays)
    assert {"seed_generator", "untracked/discriminator/0", "g_optimizer/_iterations"} <= set(arrays)
    for key in ref_arrays:
        np.testing.assert_array_equal(arrays[key], ref_arrays[key], err_msg=key)
    assert int(arrays["g_optimizer/_iterations"]) == EPOCHS * 16
    for r in (record, ref_record):
        r["history"].pop("seconds")
    assert record == ref_record and record["epoch"] == EPOCHS
    assert [p.name for p in list_checkpoints(ckpts)] == ["ckpt-2", "ckpt-3", "ckpt-4"]
    assert not list(ckpts.glob("*_temp")) and not list(ckpts.glob("checkpoint.tmp*"))
    # The saved generators are equal, and so is every frame; the GIF has one frame per epoch.
    for a, b in zip(load_generator(victim).get_weights(), load_generator(reference).get_weights()):
        np.testing.assert_array_equal(a, b)
    frames = sorted(p.name for p in (victim / "frames").iterdir())
    assert frames == [f"epoch_{k:04d}.png" for k in range(1, EPOCHS + 1)]
    for name in frames:
        assert (victim / "frames" / name).read_bytes() == (reference / "frames" / name).read_bytes(), name
    from PIL import Image

    assert Image.open(victim / "training.gif").n_frames == EPOCHS


# Trains a tiny GAN for 2 epochs keeping 1 checkpoint, and SIGKILLs itself inside the save of
# checkpoint 2 at the moment given: while TensorFlow writes the data (after the shard is in
# ckpt-2_temp/, before ckpt-2.index exists), after the data but before the index file names
# ckpt-2, or while the checkpoint that fell out of the window is being deleted. Without a
# moment it trains through.
KILL_IN_SAVE = textwrap.dedent(
    """
    import os, signal, sys
    import keras, numpy as np
    import gan_utils as gu
    from tensorflow.python.checkpoint import checkpoint_management
    from tensorflow.python.ops import gen_io_ops

    out, moment = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def wrap(module, name, at):
        real = getattr(module, name)
        def hooked(*args, **kwargs):
            if at(args, kwargs):
                die()
            return real(*args, **kwargs)
        setattr(module, name, hooked)

    if moment == "writing the data":
        wrap(gen_io_ops, "merge_v2_checkpoints", lambda a, k: "ckpt-2'" in str(a[1]))
    elif moment == "updating the index":
        wrap(checkpoint_management, "update_checkpoint_state_internal",
             lambda a, k: str(k.get("model_checkpoint_path")).endswith("ckpt-2"))
    elif moment == "deleting the oldest":
        wrap(checkpoint_management, "_delete_file_if_exists", lambda a, k: "ckpt-1." in str(a[0]))

    gu.set_seed(0, deterministic=True)
    images = np.random.default_rng(0).integers(0, 256, (64, 8, 8), dtype=np.uint8)
    gan = gu.GAN(gu.build_mlp_generator(8, (8, 8, 1), hidden=(16,)),
                 gu.build_mlp_discriminator((8, 8, 1), hidden=(16,), dropout=0.3), seed=0)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    result = gu.train(gan, gu.make_dataset(images, batch_size=16, seed=0), out, 2, verbose=0, grid_size=4,
                      keep_checkpoints=1)
    print("DONE", result.resumed_from, result.epochs)
    """
)


@pytest.mark.parametrize("moment, kept, resumes_from", [
    ("writing the data", ["ckpt-1"], 1),
    ("updating the index", ["ckpt-1"], 1),
    ("deleting the oldest", ["ckpt-1", "ckpt-2"], 2),
])
def test_a_sigkill_inside_a_checkpoint_save_leaves_a_usable_checkpoint(moment, kept, resumes_from, tmp_path):
    """keep_checkpoints=1: checkpoint 1 is deleted only after checkpoint 2 is written and indexed."""
    script, out = tmp_path / "kill_in_save.py", tmp_path / "run"
    script.write_text(KILL_IN_SAVE)
    killed = subprocess.run([sys.executable, str(script), str(out), moment], env=_env(), capture_output=True,
                            text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    ckpts = out / "checkpoints"
    assert [p.name for p in list_checkpoints(ckpts)] == kept
    if moment == "writing the data":
        assert (ckpts / "ckpt-2_temp").is_dir() and not (ckpts / "ckpt-2.index").exists()
    if moment == "updating the index":
        assert (ckpts / "ckpt-2.index").is_file()  # complete, but not listed
    assert read_checkpoint(ckpts / f"ckpt-{resumes_from}")[1]["epoch"] == resumes_from

    again = subprocess.run([sys.executable, str(script), str(out)], env=_env(), capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"DONE {resumes_from} 2" in again.stdout and "unreadable" not in again.stderr
    assert list_checkpoints(ckpts)[-1].name == "ckpt-2"
    assert read_checkpoint(ckpts / "ckpt-2")[1]["epoch"] == 2
    assert not list(ckpts.glob("*_temp"))


def test_same_seed_same_losses_on_cpu():
    """Two fresh builds with the same seed take exactly the same first steps."""
    import keras

    from gan_utils import GAN, build_mlp_discriminator, build_mlp_generator, set_seed

    images = np.random.default_rng(0).integers(0, 256, (96, 8, 8), dtype=np.uint8)

    def first_steps(seed):
        set_seed(seed)
        gan = GAN(build_mlp_generator(8, (8, 8, 1), hidden=(16,)),
                  build_mlp_discriminator((8, 8, 1), hidden=(16,), dropout=0.2), seed=seed)
        gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
        return gan.fit(make_dataset(images, batch_size=16, seed=seed), epochs=2, verbose=0).history

    first = first_steps(0)
    assert first_steps(0) == first
    assert first_steps(1) != first


def test_epoch_order_depends_only_on_seed_and_epoch():
    x = np.arange(48, dtype=np.uint8).reshape(48, 1, 1)

    def first_pixels(ds):
        return [b.numpy()[:, 0, 0, 0].tolist() for b in ds]

    order = make_dataset(x, batch_size=8, seed=5).epoch_order
    assert order.batches_per_epoch == 6
    stream = first_pixels(order.epochs(0).take(3 * 6))
    epochs = [stream[k * 6 : (k + 1) * 6] for k in range(3)]
    for k in range(3):  # each epoch is a permutation of the images ...
        assert sorted(sum(epochs[k], [])) == sorted(set(sum(epochs[0], [])))
        assert len(set(sum(epochs[k], []))) == 48
    assert epochs[0] != epochs[1] != epochs[2]  # ... reshuffled from epoch to epoch
    # Starting at epoch 2 (a resumed run), in a fresh dataset, gives epoch 2's batches.
    again = make_dataset(x, batch_size=8, seed=5).epoch_order
    assert first_pixels(again.epochs(2).take(6)) == epochs[2]
    assert first_pixels(make_dataset(x, batch_size=8, seed=6).epoch_order.epochs(2).take(6)) != epochs[2]
    # Epochs padded to a whole number of steps_per_execution wrap round to their first batches.
    padded = first_pixels(order.epochs(1, batches_per_epoch=8).take(16))
    assert padded[:6] == epochs[1] and padded[6:8] == epochs[1][:2] and padded[8:14] == epochs[2]
    with pytest.raises(ValueError, match="first_epoch"):
        order.epochs(-1)


def test_resume_with_several_steps_per_execution_matches_an_uninterrupted_run(tiny_images, tmp_path):
    """Epochs are whole numbers of compiled calls (6 batches per pass, 4 steps per call: 4 steps)."""
    import keras

    from gan_utils import GAN, build_mlp_discriminator, build_mlp_generator, train

    images = np.concatenate([tiny_images, tiny_images[:32]])  # 96 images, 6 batches of 16

    def run(out, epochs):
        keras.utils.set_random_seed(0)
        gan = GAN(build_mlp_generator(8, (8, 8, 1), hidden=(16,)), build_mlp_discriminator((8, 8, 1), hidden=(16,)),
                  seed=1)
        gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), steps_per_execution=4)
        result = train(gan, make_dataset(images, batch_size=16, seed=2), out, epochs=epochs, verbose=0, grid_size=4)
        return result, int(gan.g_optimizer.iterations.numpy())

    whole, steps = run(tmp_path / "whole", 3)
    assert steps == 3 * 4
    run(tmp_path / "parts", 1)
    resumed, steps = run(tmp_path / "parts", 3)
    assert resumed.resumed_from == 1 and steps == 3 * 4
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert resumed.history[key] == whole.history[key], key


def test_labels_stay_with_their_images_when_shuffled():
    x = np.arange(40, dtype=np.uint8).reshape(40, 1, 1)
    ds = make_dataset(x, np.arange(40) % 10, batch_size=8, seed=1, num_classes=10)
    for images, labels in ds.epoch_order.epochs(3).take(5):
        pixels = np.rint((images.numpy()[:, 0, 0, 0] + 1) * 127.5).astype(int)
        assert (pixels % 10).tolist() == labels.numpy().tolist()


# ------------------------------------------------------------- a crash in the middle of a save


def _half_write_then_crash(target, *args, **kwargs):
    """A writer that dies half-way: some bytes reach the file, then an error."""
    with open(target, "wb") if isinstance(target, (str, Path)) else _NoClose(target) as f:
        f.write(b"PK\x03\x04 half a file")
    raise OSError("No space left on device (simulated)")


class _NoClose:
    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self.f

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("what", ["checkpoint", "generator", "history", "frame", "gif"])
def test_a_crash_while_saving_leaves_the_previous_file_intact(what, tiny_gan, tmp_path, monkeypatch):
    import keras
    from PIL import Image

    from gan_utils import load_generator, make_gif, save_generator, save_image_grid
    from gan_utils.io import write_json
    from gan_utils.training.checkpoints import restore_latest, save_checkpoint

    grid = np.zeros((4, 8, 8, 1), np.uint8)
    frame = save_image_grid(grid, tmp_path / "epoch_0001.png")
    items = tiny_gan.checkpoint_items()
    saves = {
        "checkpoint": (lambda: save_checkpoint(tmp_path, 1, items, {"n": 1}, keep=1),
                       tmp_path / "ckpt-1.data-00000-of-00001", None, None),
        "generator": (lambda: save_generator(tiny_gan.generator, tmp_path / "generator.keras"),
                      tmp_path / "generator.keras", lambda: keras.Model, "save"),
        "history": (lambda: write_json(tmp_path / "history.json", {"d_loss": [1.0]}),
                    tmp_path / "history.json", lambda: Path, "write_text"),
        "frame": (lambda: save_image_grid(grid + 255, frame), frame, lambda: Image.Image, "save"),
        "gif": (lambda: make_gif([frame], tmp_path / "training.gif"), tmp_path / "training.gif",
                lambda: Image.Image, "save"),
    }
    save, path, owner, name = saves[what]
    save()  # a good file
    before = path.read_bytes()
    kept = {p.name: p.read_bytes() for p in [*tmp_path.glob("ckpt-1.*"), tmp_path / "checkpoint"] if p.is_file()}
    if what == "history":
        monkeypatch.setattr(Path, "write_text", lambda self, *a, **k: _half_write_then_crash(self))
    elif what in ("frame", "gif"):
        monkeypatch.setattr(Image.Image, "save", lambda self, fp, *a, **k: _half_write_then_crash(fp))
    elif what == "generator":
        monkeypatch.setattr(keras.Model, "save", lambda self, fp, *a, **k: _half_write_then_crash(fp))
    else:  # TensorFlow's last step of writing checkpoint data: merging the shards into ckpt-N.index/.data
        from tensorflow.python.ops import gen_io_ops

        monkeypatch.setattr(gen_io_ops, "merge_v2_checkpoints",
                            lambda *a, **k: _half_write_then_crash(tmp_path / "ckpt-2.index"))
    with pytest.raises(OSError, match="simulated"):
        if what == "checkpoint":  # the next epoch's checkpoint, which would replace the kept one (keep=1)
            save_checkpoint(tmp_path, 2, items, {"n": 2}, keep=1)
        else:
            save()
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".tmp-*")), "the temporary file was left behind"
    if what == "checkpoint":
        assert len(kept) == 3  # ckpt-1.index, ckpt-1.data-00000-of-00001 and the index file are untouched
        assert {name: (tmp_path / name).read_bytes() for name in kept} == kept
        assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-1"]
        assert restore_latest(tmp_path, items)["n"] == 1
    elif what == "generator":
        assert load_generator(path).count_params() == tiny_gan.generator.count_params()
    elif what == "history":
        assert json.loads(path.read_text()) == {"d_loss": [1.0]}
    else:
        Image.open(path).load()


# ------------------------------------------------------------------- diverging runs


def _tiny_gan_class(poison):
    """A GAN subclass whose generator loss ``poison(loss, finished_steps)`` rewrites."""
    import keras

    from gan_utils import GAN, build_mlp_discriminator, build_mlp_generator

    class Poisoned(GAN):
        def generator_loss(self, real, fake, labels=None, z=None):
            loss = poison(self.generator_loss_fn(self.discriminate(fake, labels, training=True)),
                          self.g_optimizer.iterations)
            self.track(g_loss=loss)
            return loss

    keras.utils.set_random_seed(0)
    gan = Poisoned(build_mlp_generator(8, (8, 8, 1), hidden=(16,)), build_mlp_discriminator((8, 8, 1), hidden=(16,)),
                   seed=1, ema_decay=0.9)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    return gan


def _resumes_after_divergence(out, tiny_images, epochs_kept):
    """The kept checkpoint loads, and the same train call with a healthy model resumes from it."""
    from gan_utils import train

    assert [p.name for p in list_checkpoints(out / "checkpoints")] == [f"ckpt-{epochs_kept}"]
    healthy = _tiny_gan_class(lambda loss, steps: loss)
    result = train(healthy, make_dataset(tiny_images, batch_size=16), out, epochs=epochs_kept + 1, verbose=0,
                   grid_size=4)
    assert result.resumed_from == epochs_kept and np.isfinite(result.history["g_loss"]).all()


def test_a_nan_loss_stops_with_step_loss_and_causes_and_keeps_the_last_good_checkpoint(tiny_images, tmp_path):
    import tensorflow as tf

    from gan_utils import TrainingDivergedError, train

    # From the 7th step on (epoch 2, step 3 with 4 steps per epoch) G's loss is NaN; its gradient stays finite.
    gan = _tiny_gan_class(lambda loss, steps: loss + tf.where(steps >= 6, float("nan"), 0.0))
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError) as err:
        train(gan, make_dataset(tiny_images, batch_size=16), out, epochs=3, verbose=0, grid_size=4)
    message = str(err.value)
    for part in ("non-finite loss at epoch 2, step 3 (training step 7 overall)", "'g_loss': nan",
                 "learning rate that is too high", "float16", str(out / "checkpoints"), "run the same command"):
        assert part in message, (part, message)
    assert not (out / "generator.keras").exists()  # nothing is saved from a diverged model
    _resumes_after_divergence(out, tiny_images, epochs_kept=1)


def test_a_nan_gradient_in_the_last_step_of_an_epoch_is_caught_before_its_checkpoint(tiny_images, tmp_path):
    import tensorflow as tf

    from gan_utils import TrainingDivergedError, train

    def nan_gradient_at_step_8(loss, steps):
        @tf.custom_gradient
        def identity(x):
            return x, lambda dy: dy * tf.where(steps == 7, float("nan"), 1.0)

        return identity(loss)

    gan = _tiny_gan_class(nan_gradient_at_step_8)  # step 8 is the last of epoch 2; its loss is still finite
    out = tmp_path / "run"
    with pytest.raises(TrainingDivergedError, match=r"non-finite values in generator variable .* at the end of "
                       r"epoch 2 \(training step 8 overall\), although the logged losses were finite.*learning rate"):
        train(gan, make_dataset(tiny_images, batch_size=16), out, epochs=3, verbose=0, grid_size=4)
    assert not (out / "frames" / "epoch_0002.png").exists()
    _resumes_after_divergence(out, tiny_images, epochs_kept=1)
