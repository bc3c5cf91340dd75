"""Training checkpoints: ``tf.train.Checkpoint`` files kept by a ``tf.train.CheckpointManager``.

A run's checkpoint folder holds::

    checkpoint                            the index: the kept checkpoints, oldest first
    ckpt-N.index  ckpt-N.data-00000-of-00001   the state after N completed epochs

A checkpoint tracks the objects of ``gan.checkpoint_items()`` (both networks, both
optimisers with their step counters, the latent sampler's seed state, the EMA
generator, heads such as InfoGAN's Q), every Keras variable of those objects that
TensorFlow's object graph does not reach (the seed states of ``Dropout`` layers,
saved under ``untracked/<item>/<i>``), and ``run_state``: a JSON string (epoch,
history, fixed noise) stored as a variable in the same files, so a checkpoint and
its record are written together and cannot disagree.

TensorFlow writes the data first and then replaces the index file atomically: a
save that is interrupted leaves the index pointing at the previous checkpoints.
Before a restore, every tensor of the checkpoint is read (checksums included) and
its names, shapes and dtypes are compared with the model's, so a damaged
checkpoint or one of another model is reported before any variable changes.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import warnings
from collections import deque
from pathlib import Path

import numpy as np

RUN_STATE = "run_state"
UNTRACKED = "untracked"
_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_NAME = re.compile(r"^ckpt-(\d+)\.index$")
REBUILD = "use a new output folder, or rebuild the model the checkpoint came from"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the model."""


class UnreadableCheckpointError(CheckpointError):
    """A checkpoint whose files are damaged, incomplete or missing."""


def variables_of(obj) -> list:
    """The variables of one checkpoint item: a model's, an optimiser's, a seed generator's state."""
    import keras

    if isinstance(obj, keras.random.SeedGenerator):
        return [obj.state]
    if isinstance(obj, keras.Variable):  # e.g. GAN.checkpoint_items()["seed_generator"], the state variable
        return [obj]
    return list(getattr(obj, "variables", []))


def tracked_variables(items: dict) -> dict[str, list]:
    """``{item name: [variables]}`` for ``gan.checkpoint_items()``: what a checkpoint restores."""
    return {name: variables_of(obj) for name, obj in items.items()}


def _trackables(items: dict) -> dict:
    import keras

    if RUN_STATE in items or UNTRACKED in items:
        raise ValueError(f"checkpoint_items() must not use the names {RUN_STATE!r} or {UNTRACKED!r}: "
                         "train() keeps its own record under them; rename the item")
    # A keras SeedGenerator is not a TensorFlow trackable; its state variable is.
    return {name: obj.state if isinstance(obj, keras.random.SeedGenerator) else obj for name, obj in items.items()}


def _clean(key: str) -> str:
    return key.removesuffix(_SUFFIX)


def list_checkpoints(folder: str | Path) -> list[Path]:
    """The complete checkpoints in ``folder`` as prefixes (``.../ckpt-N``), oldest first.

    They are the ones the ``checkpoint`` index lists: a save that was interrupted
    before the index was updated is not among them.
    """
    import tensorflow as tf

    folder = Path(folder)
    if not (folder / "checkpoint").is_file():
        return []
    try:
        state = tf.train.get_checkpoint_state(str(folder))
    except ValueError:  # an index that names no checkpoint
        return []
    return [] if state is None else [Path(p) for p in state.all_model_checkpoint_paths]


def read_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Every tensor of a checkpoint and its run record: ``(arrays by name, record)``.

    Names drop TensorFlow's ``/.ATTRIBUTES/VARIABLE_VALUE`` ending (e.g.
    ``g_optimizer/_iterations``). Reading checks every tensor's checksum. Raises
    UnreadableCheckpointError if a file is damaged or missing, CheckpointError if the
    checkpoint holds no run record (it was not written by ``gan_utils.train``).
    """
    import tensorflow as tf

    path = Path(path)
    try:
        reader = tf.train.load_checkpoint(str(path))
        tensors = {_clean(key): reader.get_tensor(key) for key in sorted(reader.get_variable_to_shape_map())
                   if key != _GRAPH_KEY}
        raw = tensors.pop(RUN_STATE, None)
        record = None if raw is None else json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
        arrays = {key: np.asarray(value) for key, value in tensors.items()}
    except (tf.errors.OpError, ValueError, IndexError, OSError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise UnreadableCheckpointError(
            f"checkpoint {path} is unreadable ({type(e).__name__}: {first}); a run resumes from the checkpoint "
            f"before it. To start over, use a new output folder") from e
    if not isinstance(record, dict) or "epoch" not in record:
        raise CheckpointError(f"checkpoint {path} has no run record ({RUN_STATE}): it was not written by "
                              f"gan_utils.train; {REBUILD}")
    return arrays, record


class TrainingCheckpoints:
    """The checkpoints of one run folder for one model.

    Args:
        folder: the checkpoint folder (created by the first save).
        items: ``gan.checkpoint_items()``: name -> model, optimiser, seed generator ...
            Optimisers must be built (``GAN.compile`` builds them) so that their
            slots exist before a restore.
        keep: how many of the newest checkpoints to keep (at least 1).
    """

    def __init__(self, folder: str | Path, items: dict, keep: int = 3):
        import tensorflow as tf

        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be a positive integer, got {keep!r}")
        self.folder = Path(folder)
        self.items = dict(items)
        trackables = _trackables(self.items)
        root = tf.train.Checkpoint(**trackables)  # TrackableView keeps only a weak reference to it
        reached = {id(o) for o in tf.train.TrackableView(root).descendants()}
        untracked = {name: [v for v in variables_of(obj) if id(v) not in reached] for name, obj in self.items.items()}
        self.run_state = tf.Variable("", dtype=tf.string, trainable=False, name=RUN_STATE)
        self.checkpoint = tf.train.Checkpoint(**trackables, **{UNTRACKED: {k: v for k, v in untracked.items() if v},
                                                               RUN_STATE: self.run_state})
        self.checkpoint.save_counter  # noqa: B018  (created now, so a restore finds it like a save wrote it)
        try:
            self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.folder), max_to_keep=keep,
                                                      checkpoint_name="ckpt")
        except ValueError as e:  # an index file that parses but names no checkpoint (e.g. empty)
            raise CheckpointError(
                f"the checkpoint index {self.folder / 'checkpoint'} is damaged ({e}); move it aside and run again: "
                "the checkpoints are then found without it") from e
        self._layout = None
        self._unreadable: set[str] = set()

    def paths(self) -> list[Path]:
        """The kept checkpoints (prefixes ``.../ckpt-N``), oldest first."""
        return [Path(p) for p in self.manager.checkpoints]

    def save(self, epoch: int, record: dict) -> Path:
        """Write ``ckpt-<epoch>`` with ``record`` (JSON-serialisable) and drop all but the newest ``keep``.

        A checkpoint of the same number that a restore found unreadable is moved to
        ``unreadable/`` first, never overwritten.
        """
        prefix = self.folder / f"ckpt-{epoch}"
        if str(prefix) in self._unreadable:
            self._move_aside(prefix)
        self.run_state.assign(json.dumps(dict(record, epoch=int(epoch))))
        return Path(self.manager.save(checkpoint_number=int(epoch)))

    def _move_aside(self, prefix: Path) -> None:
        target = self.folder / "unreadable"
        target.mkdir(exist_ok=True)
        for f in sorted(self.folder.glob(prefix.name + ".*")):
            k, dest = 1, target / f.name
            while dest.exists():
                k, dest = k + 1, target / f"{f.name}.{k}"
            shutil.move(f, dest)
        warnings.warn(f"moved the unreadable checkpoint {prefix} to {target}/ before writing a new one of that "
                      "epoch; delete it when you no longer need it", stacklevel=3)
        self._unreadable.discard(str(prefix))

    def layout(self) -> dict[str, tuple]:
        """``{name: (shape, dtype)}`` of what a checkpoint of this model holds (written once to a temp folder)."""
        import tensorflow as tf

        if self._layout is None:
            with tempfile.TemporaryDirectory(prefix="gan-utils-layout-") as tmp:
                reader = tf.train.load_checkpoint(self.checkpoint.write(str(Path(tmp) / "live")))
                dtypes = reader.get_variable_to_dtype_map()
                self._layout = {_clean(k): (tuple(s), dtypes[k].name)
                                for k, s in reader.get_variable_to_shape_map().items() if k != _GRAPH_KEY}
        return self._layout

    def _described(self) -> dict[str, str]:
        """``{checkpoint name: "item variable-path"}``, e.g. ``generator dense_0/kernel`` (for messages).

        A variable is saved under the first path a breadth-first walk of the object graph
        reaches it by (``tf.train.TrackableView``), so a generator weight may appear as
        ``g_optimizer/_trainable_variables/0``.
        """
        import tensorflow as tf

        owner = {}
        for name, obj in self.items.items():
            for v in variables_of(obj):
                owner.setdefault(id(v), f"{name} {getattr(v, 'path', v.name)}")
        view, paths, names = tf.train.TrackableView(self.checkpoint), {id(self.checkpoint): ""}, {}
        queue = deque([self.checkpoint])
        while queue:
            obj = queue.popleft()
            for child_name, child in view.children(obj).items():
                if id(child) not in paths:
                    paths[id(child)] = f"{paths[id(obj)]}/{child_name}".lstrip("/")
                    names.setdefault(paths[id(child)], owner.get(id(child), ""))
                    queue.append(child)
        return {k: v for k, v in names.items() if v}

    def check_fits(self, path: Path, arrays: dict[str, np.ndarray]) -> None:
        """CheckpointError naming what differs, if ``arrays`` (read from ``path``) do not fit this model."""
        live = {k: v for k, v in self.layout().items() if k != RUN_STATE}
        described = self._described()

        def name(key):
            return f"{key} ({described[key]})" if key in described else key

        problems = []
        missing = [name(k) for k in sorted(set(live) - set(arrays))]
        extra = sorted(set(arrays) - set(live))
        if missing:
            problems.append(f"this model has {len(missing)} variable(s) the checkpoint lacks ({_few(missing)})")
        if extra:
            problems.append(f"the checkpoint has {len(extra)} variable(s) this model lacks ({_few(extra)})")
        problems += [f"{name(k)} has shape {a.shape} in the checkpoint but {live[k][0]} in this model"
                     for k, a in arrays.items() if k in live and tuple(a.shape) != live[k][0]]
        problems += [f"{name(k)} is {_dtype_name(a)} in the checkpoint but {live[k][1]} in this model"
                     for k, a in arrays.items()
                     if k in live and tuple(a.shape) == live[k][0] and _dtype_name(a) != live[k][1]]
        if problems:
            raise CheckpointError(
                f"checkpoint {path} was written by a different model or configuration: " + "; ".join(problems[:4])
                + (f"; and {len(problems) - 4} more differences" if len(problems) > 4 else "")
                + f". Nothing was restored: {REBUILD}")

    def restore(self, path: str | Path) -> dict:
        """Restore ``path`` (a ``ckpt-N`` prefix) into the model; return its run record.

        Everything is read and checked before anything is assigned, so a damaged
        checkpoint (UnreadableCheckpointError) or one of another model
        (CheckpointError) leaves the model unchanged.
        """
        path = Path(path)
        arrays, record = read_checkpoint(path)
        self.check_fits(path, arrays)
        status = self.checkpoint.read(str(path))
        try:
            status.assert_consumed()
        except AssertionError as e:
            raise CheckpointError(
                f"checkpoint {path} matched this model's variable names and shapes but not its object structure "
                f"({str(e).splitlines()[0]}); the model may be partly restored: {REBUILD}") from e
        return record

    def restore_latest(self) -> dict | None:
        """Restore the newest readable checkpoint; its run record, or None if there is none.

        An unreadable checkpoint (damaged or missing files) is skipped with a warning and
        the one before it is used; it is not deleted (a later save of the same epoch moves
        it to ``unreadable/``). A checkpoint of a different model raises CheckpointError.
        If the index file is missing or damaged, the ``ckpt-N.index`` files found in the
        folder are tried, newest first.
        """
        candidates = self.paths()
        if not candidates:
            candidates = self._scan()
        errors = []
        for path in reversed(candidates):
            try:
                return self.restore(path)
            except UnreadableCheckpointError as e:
                errors.append(str(e))
                self._unreadable.add(str(path))
                warnings.warn(f"{e}; trying the previous checkpoint", stacklevel=2)
        if errors:
            raise CheckpointError(f"no readable checkpoint in {self.folder}:\n" + "\n".join(errors)
                                  + "\nThe files were left as they are. Move the damaged checkpoints aside to "
                                  "start that run over in this folder, or use a new output folder")
        return None

    def _scan(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        found = sorted((int(m.group(1)), self.folder / f"ckpt-{m.group(1)}")
                       for p in self.folder.iterdir() if (m := _NAME.match(p.name)))
        if found:
            warnings.warn(f"the checkpoint index {self.folder / 'checkpoint'} is missing or unreadable; trying the "
                          f"{len(found)} checkpoint(s) found in the folder, newest first", stacklevel=3)
        return [p for _, p in found]


def _dtype_name(a: np.ndarray) -> str:
    return "string" if a.dtype == object or a.dtype.kind in "SU" else a.dtype.name


def _few(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


# --------------------------------------------------------------- one-call helpers


def save_checkpoint(folder: str | Path, epoch: int, items: dict, record: dict, keep: int = 3) -> Path:
    """Write ``folder/ckpt-<epoch>`` of ``items`` (``gan.checkpoint_items()``) with ``record``."""
    return TrainingCheckpoints(folder, items, keep).save(epoch, record)


def restore_checkpoint(path: str | Path, items: dict) -> dict:
    """Restore the checkpoint ``path`` (``.../ckpt-N``) into ``items``; return its run record."""
    path = Path(path)
    return TrainingCheckpoints(path.parent, items).restore(path)


def restore_latest(folder: str | Path, items: dict) -> dict | None:
    """Restore the newest readable checkpoint in ``folder`` into ``items``; its record, or None if there is none."""
    return TrainingCheckpoints(folder, items).restore_latest()
