"""The one training path every GAN in this collection goes through.

``train(gan, dataset, out_dir, epochs)`` runs ``gan.fit`` with the callbacks
that record history, draw a fixed-noise grid per epoch and checkpoint, resumes
from the newest checkpoint in ``out_dir`` when there is one, and at the end
saves ``generator.keras``, ``history.json``, the loss curves and the GIF.

Files written under ``out_dir``::

    checkpoints/checkpoint                  the index of the kept checkpoints (``tf.train.CheckpointManager``)
    checkpoints/ckpt-N.index                checkpoint N (after N epochs): ``tf.train.Checkpoint`` files
    checkpoints/ckpt-N.data-00000-of-00001
    frames/epoch_NNNN.png   training.gif   generator.keras   history.json   losses.png

A checkpoint that a resume found unreadable is moved to ``checkpoints/unreadable/``
when that epoch's checkpoint is written again (see ``training.checkpoints``).
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from ..distribute import check_steps_per_execution, check_workers_agree, is_chief
from ..io import atomic_path, remove_stale_temporaries, write_json
from ..plotting import make_gif, plot_history
from ..sampling import check_generator, num_classes_of
from .callbacks import (
    Checkpointer,
    HistoryRecorder,
    NaNGuard,
    RunState,
    SampleGrid,
    TimeBudget,
    over_time_budget,
)
from .checkpoints import TrainingCheckpoints


@dataclass
class TrainResult:
    """What ``train`` returns: the run's folder, its full history and its files."""

    out_dir: Path
    history: dict[str, list[float]]
    epochs: int
    resumed_from: int
    stopped_by_budget: bool = False

    @property
    def generator_path(self) -> Path:
        return self.out_dir / "generator.keras"

    @property
    def gif_path(self) -> Path:
        return self.out_dir / "training.gif"

    @property
    def frames(self) -> list[Path]:
        """The per-epoch grids of epochs 1 ... ``epochs`` that exist, in order."""
        return [p for p in (frame_path(self.out_dir, k) for k in range(1, self.epochs + 1)) if p.is_file()]


def frame_path(out_dir: str | Path, epoch: int) -> Path:
    """``out_dir/frames/epoch_NNNN.png``: the sample grid after ``epoch`` epochs."""
    return Path(out_dir) / "frames" / f"epoch_{epoch:04d}.png"


def prepare_out_dir(out_dir: str | Path, create: bool = True) -> Path:
    """Create the output folder (if ``create``); a clear error if the path is an existing file."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output folder {out} exists and is a file; remove it or choose another --out")
    if create:
        out.mkdir(parents=True, exist_ok=True)
    return out


def fixed_inputs(gan, count: int = 64, seed: int = 1234, num_classes: int | None = None):
    """Noise (and labels, if conditional) for the per-epoch sample grids.

    Unconditional: ``count`` noise vectors. Conditional: a class grid of
    ``num_classes`` rows (row k asks for class k; default ``num_classes_of``
    the generator) by ``max(1, count // num_classes)`` columns, each column one
    noise vector shared by every row, so a frame shows the label changing the
    digit while z keeps the style.
    """
    rng = np.random.default_rng(seed)
    if not gan.conditional:
        return rng.standard_normal((count, gan.latent_dim)).astype(np.float32), None
    num_classes = num_classes or num_classes_of(gan.generator)
    cols = max(1, count // num_classes)
    noise = rng.standard_normal((cols, gan.latent_dim)).astype(np.float32)
    return np.tile(noise, (num_classes, 1)), np.repeat(np.arange(num_classes, dtype=np.int32), cols)


def save_generator(generator: keras.Model, path: str | Path) -> Path:
    """Save a generator as a ``.keras`` file, atomically."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"generator files end in .keras, got {path}")
    with atomic_path(path) as tmp:
        generator.save(tmp)
    return path


def load_generator(path: str | Path, check=check_generator) -> keras.Model:
    """Load a saved generator with Keras' safe mode on (no arbitrary code is run).

    ``path`` is a ``.keras`` file or a run folder (its ``generator.keras``). Raises
    FileNotFoundError if there is none, ValueError if the file is damaged or holds a
    model that is not a generator (e.g. a discriminator; ``check(model, what)`` decides,
    by default ``sampling.check_generator``: z -> images). The file is never changed.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "generator.keras"
    if not path.is_file():
        raise FileNotFoundError(f"no generator at {path}; train one first (python -m gan_utils train ... --out DIR)")
    rewrite = ("re-run the train command that wrote it (it resumes from the run's checkpoints and writes "
               "generator.keras again), or pass another generator file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a readable .keras file (damaged, or not a Keras model at all); {rewrite}")
    from ..models import layers  # noqa: F401  (registers gan_utils' own layers, so safe mode can rebuild them)

    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for a damaged archive
        raise ValueError(f"{path} could not be loaded as a Keras model ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}); {rewrite}") from e
    return check(model, str(path))


def train(
    gan,
    dataset,
    out_dir: str | Path,
    epochs: int,
    callbacks: list | None = None,
    verbose: int | str = 2,
    keep_checkpoints: int = 3,
    grid_size: int | None = None,
    score_samples: int = 0,
    num_classes: int | None = None,
    max_minutes: float | None = None,
) -> TrainResult:
    """Train a compiled ``GAN`` on ``dataset`` for ``epochs`` epochs in total.

    Re-running with the same ``out_dir`` resumes from the newest checkpoint and
    trains only the epochs that remain. A checkpoint (``tf.train.Checkpoint`` of
    ``gan.checkpoint_items()``) holds everything the next epoch depends on (both
    networks, both optimisers with their step counters, the latent sampler's and
    the dropout layers' seed states, the EMA generator, and a record of the epoch,
    history and fixed noise), and a dataset from ``make_dataset`` gives epoch k
    the same batches whether or not the run was interrupted, so on a deterministic
    setup (CPU, or ``set_seed(..., deterministic=True)``) a resumed run ends with
    exactly the losses and weights of an uninterrupted one. Frames of epochs after
    the checkpoint (written before an interruption) are deleted and drawn again.
    A damaged newest checkpoint is skipped with a warning (the one before it is
    used); a checkpoint of another model raises ``CheckpointError`` before any
    weight changes.

    Several devices or machines: build and compile the GAN under a ``tf.distribute``
    strategy's scope (``gan_utils.distribute.make_strategy``); ``train`` reads it off the
    model. Each dataset batch is then the global batch, split over the replicas. Only the
    chief writes into ``out_dir``; other workers resume from its checkpoints and write to a
    temporary folder that is deleted at the end. ``steps_per_execution > 1`` is refused
    under several replicas. On one device, with a ``make_dataset`` dataset, every epoch is a
    whole number of ``steps_per_execution`` calls: up to ``steps_per_execution - 1`` batches
    of each pass are left out (see ``_epoch_indexed``).

    Args:
        gan: a compiled ``gan_utils.GAN`` (or subclass), built under the strategy's scope if any.
        dataset: ``tf.data.Dataset`` of float32 [B, H, W, C] in [-1, 1]
            batches, or ``(images, labels)`` for conditional GANs.
        out_dir: run folder (created).
        epochs: total epochs (counting those a checkpoint already holds).
        callbacks: extra Keras callbacks, run after the built-in ones (those with
            ``runs_first = True``, such as ``RecalibrateBatchNorm``, before them).
        verbose: passed to ``fit`` (1 progress bar, 2 one line per epoch).
        keep_checkpoints: how many of the newest checkpoints to keep.
        grid_size: images in each per-epoch grid (default 64, or for a conditional
            GAN a class grid of one row per class and 10 columns; see ``fixed_inputs``).
        score_samples: if > 0, record ``history["score"]``, the classifier score of
            this many samples after every epoch (MNIST-shaped generators only), and
            for a conditional GAN ``history["label_acc"]``.
        num_classes: labels of a conditional GAN (default: the size of the
            generator's Embedding, see ``sampling.num_classes_of``).
        max_minutes: a budget of training time (``history["seconds"]``, summed over
            resumed runs; scoring and sample grids are not counted). Training stops
            after the epoch when one more epoch as long as the longest so far would
            exceed it, so a slower machine trains fewer epochs instead of running
            longer; ``result.epochs`` says how many were done and
            ``result.stopped_by_budget`` whether the budget ended the run. None: no budget.

    To start over, delete ``out_dir`` (or use a new one).
    """
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool)
                                    or num_classes < 1):
        raise ValueError(f"num_classes must be a positive integer or None, got {num_classes!r}")
    if gan.conditional:
        num_classes = num_classes or num_classes_of(gan.generator)
    if grid_size is None:
        grid_size = 10 * num_classes if gan.conditional else 64  # a class grid: one row per class, 10 columns
    for name, value in (("keep_checkpoints", keep_checkpoints), ("grid_size", grid_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(score_samples, int) or isinstance(score_samples, bool) or score_samples < 0:
        raise ValueError(f"score_samples must be 0 (off) or a positive integer, got {score_samples!r}")
    if max_minutes is not None and (isinstance(max_minutes, bool) or not isinstance(max_minutes, (int, float))
                                    or not math.isfinite(max_minutes) or max_minutes <= 0):
        raise ValueError(f"max_minutes must be a positive number of minutes or None (no budget), got {max_minutes!r}")
    if getattr(gan, "d_optimizer", None) is None:
        raise ValueError("compile the GAN before training: gan.compile(d_optimizer=..., g_optimizer=...)")
    check_dataset(gan, dataset)
    check_steps_per_execution(gan)
    chief = is_chief(gan.distribute_strategy)
    out = prepare_out_dir(out_dir, create=chief)
    # Under several machines every worker runs the same saves (they may read variables across workers),
    # but only the chief writes into out_dir; the others write to a temporary folder, deleted at the end.
    folder = out if chief else Path(tempfile.mkdtemp(prefix="gan-utils-worker-"))
    try:
        result = _train_into(gan, dataset, out, folder, epochs, callbacks, verbose, keep_checkpoints, grid_size,
                             score_samples, num_classes, max_minutes)
    finally:
        if not chief:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def _train_into(gan, dataset, out: Path, folder: Path, epochs, callbacks, verbose, keep_checkpoints, grid_size,
                score_samples, num_classes, max_minutes) -> TrainResult:
    """``train``'s work: resume from ``out``'s checkpoints, write into ``folder`` (``out`` on the chief)."""
    ckpt_dir = folder / "checkpoints"
    checkpoints = TrainingCheckpoints(ckpt_dir, gan.checkpoint_items(), keep_checkpoints)
    source = checkpoints if folder == out else TrainingCheckpoints(out / "checkpoints", gan.checkpoint_items())
    record = source.restore_latest()
    if record is not None:
        state = RunState.from_record(record)
    else:
        # A model that draws its grid from the data (e.g. Pix2Pix: fixed (input, target) pairs) says how.
        grid_inputs = getattr(gan, "grid_inputs", None)
        state = RunState(*(grid_inputs(dataset, grid_size) if grid_inputs is not None
                           else fixed_inputs(gan, grid_size, num_classes=num_classes)))
    resumed_from = state.epoch
    check_workers_agree(gan.distribute_strategy, state.epoch, out / "checkpoints")
    _forget_unfinished_epochs(folder, state.epoch)
    if state.epoch < epochs and not over_time_budget(state.history.get("seconds", []), max_minutes):
        builtin = [
            NaNGuard(out / "checkpoints"),
            HistoryRecorder(state, score_samples, num_classes),
            Checkpointer(state, checkpoints),
        ]
        if max_minutes is not None:  # after HistoryRecorder (it reads the epoch's seconds) and the Checkpointer
            builtin.append(TimeBudget(state, max_minutes))
        if len(gan.image_shape) == 3:  # image grids for images; other data (e.g. 2-D toy points) has none
            builtin.insert(2, SampleGrid(state, folder / "frames", ncols=_grid_columns(gan, state)))
        dataset, fit_kwargs = _epoch_indexed(gan, dataset, state.epoch)
        # Callbacks marked runs_first (e.g. RecalibrateBatchNorm) come before the built-in ones, so the
        # NaN check, the history, the grids and the checkpoint see what they changed.
        first = [c for c in callbacks or [] if getattr(c, "runs_first", False)]
        rest = [c for c in callbacks or [] if not getattr(c, "runs_first", False)]
        gan.fit(dataset, epochs=epochs, initial_epoch=state.epoch, callbacks=first + builtin + rest,
                verbose=verbose, shuffle=False, **fit_kwargs)
    # Epochs left over while the budget is spent: the budget ended the run (NaN and interrupts raise instead).
    stopped = state.epoch < epochs and over_time_budget(state.history.get("seconds", []), max_minutes)
    finish_run(gan, TrainResult(folder, state.history, state.epoch, resumed_from, stopped_by_budget=stopped))
    return TrainResult(out, state.history, state.epoch, resumed_from, stopped_by_budget=stopped)


def check_dataset(gan, dataset) -> None:
    """A clear error if ``dataset``'s batches cannot train ``gan`` (checked on its element_spec).

    Images must be float [B, *gan.image_shape] (in [-1, 1]; ``make_dataset`` scales them),
    and a conditional GAN needs ``(images, labels)`` batches. Datasets that are not
    ``tf.data.Dataset`` objects are passed on to Keras unchecked, except NumPy arrays.
    """
    import tensorflow as tf

    fix = "make one with gu.make_dataset(images, batch_size=...)"
    if isinstance(dataset, np.ndarray):
        raise TypeError(f"dataset must be a tf.data.Dataset of image batches, got a NumPy array of shape "
                        f"{dataset.shape}; {fix} (it scales pixels to [-1, 1], shuffles and batches)")
    if not isinstance(dataset, tf.data.Dataset):
        return
    spec = dataset.element_spec
    parts = list(spec) if isinstance(spec, tuple) else [spec]
    images = parts[0]
    if not isinstance(images, tf.TensorSpec):
        raise ValueError(f"the dataset yields {spec}; it must yield image batches, or (images, labels); {fix}")
    if gan.conditional and len(parts) < 2:
        raise ValueError("this GAN is conditional but the dataset yields images only; give it (images, labels) "
                         "batches: gu.make_dataset(images, labels, num_classes=K, batch_size=...)")
    shape = None if images.shape.rank is None else tuple(images.shape)  # unknown rank: Keras checks each batch
    if shape is not None and (len(shape) != len(gan.image_shape) + 1
                              or any(s not in (None, e) for s, e in zip(shape[1:], gan.image_shape))):
        raise ValueError(
            f"the dataset yields image batches of shape {shape} but this GAN was built for images of shape "
            f"{gan.image_shape}; build the generator and discriminator with image_shape="
            f"{shape[1:] if len(shape) >= 2 else '(H, W, C)'}, or reshape/resize the images (make_dataset adds "
            "the channel axis of [N, H, W] images)"
        )
    if not images.dtype.is_floating:
        raise ValueError(
            f"the dataset yields {images.dtype.name} images; GANs here train on floats in [-1, 1] (the "
            f"generator's tanh range). Scale them: x / 127.5 - 1 for pixels in [0, 255], or {fix}"
        )
    gan.unpack_batch(spec)  # the model's own rule for what a batch holds (e.g. Pix2Pix: (targets, inputs))


def _epoch_indexed(gan, dataset, first_epoch: int):
    """``(dataset, fit kwargs)`` that start at ``first_epoch`` with that epoch's data.

    A dataset from ``make_dataset(shuffle=True)`` is replaced by its endless stream of
    epochs from ``first_epoch`` on (``EpochOrder.epochs``), fitted with ``steps_per_epoch``,
    so epoch k sees the same batches whether or not the run was resumed. Keras runs
    ``steps_per_execution`` steps per call, so an epoch is a whole number of calls: the
    last (fewer than ``steps_per_execution``) batches of each pass are left out, and a pass
    shorter than one call wraps round. Other datasets are used as they are: their order
    on a resumed run is whatever their own iteration gives.
    """
    order = getattr(dataset, "epoch_order", None)
    if order is None:
        return dataset, {}
    per_call = int(getattr(gan, "steps_per_execution", 1) or 1)
    steps = max(per_call, order.batches_per_epoch // per_call * per_call)
    return order.epochs(first_epoch, steps), {"steps_per_epoch": steps}


_CHECKPOINT_TEMPORARY = re.compile(r"^(ckpt-\d+_temp|checkpoint\.tmp[0-9a-f]{32})$")


def _forget_unfinished_epochs(out: Path, epoch: int) -> None:
    """Remove what an interrupted run left beyond its last checkpoint (``epoch`` epochs).

    Frames of later epochs belong to epochs that are about to be trained again;
    temporary files of a writer that was killed mid-save are never renamed into place:
    ``atomic_path``'s ``.tmp-<pid>-*`` files, and TensorFlow's ``ckpt-N_temp/`` shard
    folders and ``checkpoint.tmp<hex>`` index files. Checkpoints themselves are never
    touched here (one whose save was cut off before the index listed it is simply
    written again). Two runs must not share an output folder at the same time.
    """
    for frame in (out / "frames").glob("epoch_*.png"):
        number = frame.stem.removeprefix("epoch_")
        if number.isdigit() and int(number) > epoch:
            frame.unlink()
    for folder in (out, out / "checkpoints", out / "frames"):
        remove_stale_temporaries(folder)
    if (out / "checkpoints").is_dir():
        for path in (out / "checkpoints").iterdir():
            if _CHECKPOINT_TEMPORARY.match(path.name):
                shutil.rmtree(path) if path.is_dir() else path.unlink()


def _grid_columns(gan, state) -> int:
    """Columns of the per-epoch grid: one per noise vector of a class grid, else about sqrt(N).

    A model with its own ``grid_images`` draws rows of one image per fixed input.
    """
    if getattr(gan, "grid_images", None) is not None:
        return len(state.fixed_noise)
    if state.fixed_labels is not None:
        return max(1, int(np.sum(state.fixed_labels == state.fixed_labels[0])))
    return int(np.ceil(np.sqrt(len(state.fixed_noise))))


def finish_run(gan, result: TrainResult) -> None:
    """Write the generator, history, loss-curve figure and GIF of a run."""
    import matplotlib.pyplot as plt

    save_generator(gan.sampler, result.generator_path)
    write_json(result.out_dir / "history.json", result.history)
    if result.history:
        fig = plot_history(result.history)
        with atomic_path(result.out_dir / "losses.png") as tmp:
            fig.savefig(tmp, dpi=80, format="png")
        plt.close(fig)
    if result.frames:
        make_gif(result.frames, result.gif_path)
