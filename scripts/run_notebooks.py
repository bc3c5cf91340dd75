"""Execute notebooks top to bottom in a fresh kernel and save their outputs in place.

Used by `make run` (full mode unless GAN_QUICK=1 is set). A notebook that fails
is not overwritten: the partly executed copy goes to artifacts/failed/.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]


def run(path: Path) -> tuple[bool, float]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
        ok = True
    except CellExecutionError as e:
        ok = False
        print(f"  FAILED: {str(e).splitlines()[-1] if str(e) else e}", flush=True)
    seconds = time.perf_counter() - start
    if ok:
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        nbformat.write(nb, tmp)
        os.replace(tmp, path)
    else:
        failed = ROOT / "artifacts" / "failed" / path.name
        failed.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, failed)
        print(f"  kept {path} unchanged; the failed run is in {failed}", flush=True)
    return ok, seconds


def _show(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(paths: list[str]) -> int:
    mode = "quick" if os.environ.get("GAN_QUICK", "").lower() in {"1", "true", "yes", "on"} else "full"
    if not paths:
        print("no notebooks given")
        return 1
    results = []
    for i, p in enumerate(paths, 1):
        path = Path(p).resolve()
        print(f"[{i}/{len(paths)}] {_show(path)} ({mode} mode) started {time.strftime('%H:%M:%S')}", flush=True)
        ok, seconds = run(path)
        print(f"  {'done' if ok else 'failed'} in {seconds / 60:.1f} min", flush=True)
        results.append((path, ok, seconds))
    print("\nSummary")
    artifacts = ROOT / "artifacts" / ("quick" if mode == "quick" else "")
    for path, ok, seconds in results:
        where = artifacts / path.stem
        print(f"  {'ok  ' if ok else 'FAIL'} {path.name:32s} {seconds / 60:5.1f} min   artifacts: {_show(where)}")
    print(f"  total {sum(s for _, _, s in results) / 60:.1f} min")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
