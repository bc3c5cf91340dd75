"""Atomic file writes: write to a temporary name in the same folder, then rename.

A crash or an interrupt during a save leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps the file's ending (``.keras``, ``.weights.h5`` ...),
    since some writers check it. On an exception the temporary file is removed
    and ``path`` is left as it was.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name to write to")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; elsewhere folders cannot be opened)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # the file is already in place; a folder we cannot open cannot be synced either
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse to sync a folder; the rename itself is still atomic
    finally:
        os.close(fd)


_TEMPORARY = re.compile(r"^\.tmp-(\d+)-")


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):  # no such process; a number no process id can have
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the ``.tmp-<pid>-*`` files ``atomic_path`` left in ``folder`` when its process died.

    Files of processes that still run are kept (they may be writing). Only on POSIX
    systems, where asking whether a process exists is harmless. Returns what was deleted.
    Process ids are only checked on this machine: do not let runs on two machines (or
    containers) write into one shared output folder at the same time.
    """
    folder = Path(folder)
    if os.name != "posix" or not folder.is_dir():
        return []
    removed = []
    for path in folder.iterdir():
        m = _TEMPORARY.match(path.name)
        if m and path.is_file() and int(m.group(1)) != os.getpid() and not _process_exists(int(m.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_json(path: str | Path, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
