"""Training checkpoints: every variable a resumed run needs, in one ``.npz`` file.

A checkpoint holds the generator and discriminator weights, both optimisers'
state, the latent sampler's seed state, and a JSON record (epoch, history,
fixed noise). It is a plain NumPy archive read with ``allow_pickle=False``:
no pickle, nothing executed on load. Files are written atomically
(``ckpt-00012.npz``) and the newest ``keep`` are kept.
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ..io import atomic_path

_NAME = re.compile(r"^ckpt-(\d{5,})\.npz$")
META_KEY = "__meta__"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the model."""


class UnreadableCheckpointError(CheckpointError):
    """A checkpoint file that is damaged or not a checkpoint at all."""


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoint files in ``folder``, oldest first (by epoch number)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(folder: str | Path, epoch: int, variables: dict[str, list], meta: dict, keep: int = 3) -> Path:
    """Write ``ckpt-<epoch>.npz`` atomically and delete all but the newest ``keep``.

    Args:
        folder: checkpoint folder (created if missing).
        epoch: number of completed epochs.
        variables: ``{group: [keras/tf variables]}`` (``GAN.state_variables()``).
        meta: JSON-serialisable record (history, fixed noise ...).
        keep: how many checkpoints to keep (at least 1).
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    folder = Path(folder)
    arrays = {f"{group}/{i:04d}": np.asarray(v) for group, vs in variables.items() for i, v in enumerate(vs)}
    arrays[META_KEY] = np.frombuffer(json.dumps(dict(meta, epoch=epoch)).encode(), dtype=np.uint8)
    path = folder / f"ckpt-{epoch:05d}.npz"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink()
    return path


def read_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint file: ``(arrays, meta)``. Raises CheckpointError if unreadable."""
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with loaded as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, UnicodeDecodeError) as e:
        raise UnreadableCheckpointError(
            f"checkpoint {path} is unreadable ({type(e).__name__}: {e}); move it aside "
            "to resume from the previous checkpoint, or use a new output folder to start over"
        ) from e
    return arrays, meta


def _check_fits(path: Path, arrays: dict[str, np.ndarray], variables: dict[str, list]) -> None:
    for group, vs in variables.items():
        stored = sorted(k for k in arrays if k.startswith(group + "/"))
        if len(stored) != len(vs):
            raise CheckpointError(
                f"checkpoint {path} holds {len(stored)} {group} variables but this model has {len(vs)}: "
                "it was written by a different model or configuration. Use a new output folder, or "
                "rebuild the model the checkpoint came from"
            )
        for i, v in enumerate(vs):
            a = arrays[f"{group}/{i:04d}"]
            if tuple(a.shape) != tuple(v.shape):
                raise CheckpointError(
                    f"checkpoint {path} was written by a different model or configuration: {group} variable {i} "
                    f"({getattr(v, 'path', v.name)}) has shape {a.shape} in the file but {tuple(v.shape)} in this "
                    "model. Use a new output folder, or rebuild the model the checkpoint came from"
                )


def restore_checkpoint(path: str | Path, variables: dict[str, list]) -> dict:
    """Assign a checkpoint's arrays to ``variables``; return its meta record.

    Everything is checked before anything is assigned, so a checkpoint that
    does not fit leaves the model untouched.
    """
    path = Path(path)
    arrays, meta = read_checkpoint(path)
    _check_fits(path, arrays, variables)
    for group, vs in variables.items():
        for i, v in enumerate(vs):
            v.assign(arrays[f"{group}/{i:04d}"].astype(np.dtype(v.dtype)))
    return meta


def restore_latest(folder: str | Path, variables: dict[str, list]) -> dict | None:
    """Restore the newest readable checkpoint in ``folder``; None if there is none.

    An unreadable newest file (e.g. damaged on disk) is skipped with a warning
    and the one before it is used; it is not deleted. A checkpoint from a
    different model raises CheckpointError.
    """
    errors = []
    for path in reversed(list_checkpoints(folder)):
        try:
            return restore_checkpoint(path, variables)
        except UnreadableCheckpointError as e:
            errors.append(str(e))
            warnings.warn(f"{e}; trying the previous checkpoint", stacklevel=2)
    if errors:
        raise CheckpointError("no readable checkpoint in " + str(folder) + ":\n" + "\n".join(errors))
    return None
