"""Execute notebooks top to bottom in a fresh kernel and save their outputs in place.

Used by `make run` (full mode unless GAN_QUICK=1 is set). A notebook that fails
is not overwritten: the partly executed copy goes to artifacts/failed/.

After a run, TensorFlow's start-up log lines (absl, oneDNN, CUDA, CPU features)
and tf.function retracing warnings are removed from the saved stream outputs:
they say nothing about the lesson and differ from machine to machine.
`--clean-only` does only that, on notebooks that were executed earlier:

    python scripts/run_notebooks.py notebooks/*.ipynb                # run and save
    python scripts/run_notebooks.py --clean-only notebooks/*.ipynb   # only remove the log noise
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The kernel inherits this process's environment. TF_CPP_MIN_LOG_LEVEL silences TensorFlow's own C++
# logs (e.g. the CPU-instructions notice); the lines absl writes before its logging is initialised
# ignore it, so the filter below removes those.
KERNEL_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}

# One regular expression per kind of noise line, matched against each line of a stream output.
NOISE_PATTERNS = [
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"),
    re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\]"),  # absl/glog-formatted C++ log line
    re.compile(r"oneDNN custom operations are on"),
    re.compile(r"Unable to register cu(DNN|FFT|BLAS) factory"),
    re.compile(r"computation placer already registered"),
    re.compile(r"failed call to cuInit"),
    re.compile(r"Could not find cuda drivers on your machine"),
    re.compile(r"This TensorFlow binary is optimized to use available CPU instructions"),
    re.compile(r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags"),
    re.compile(r"triggered tf\.function retracing"),
]


def is_noise(line: str) -> bool:
    """True for a start-up log or retracing-warning line (one line, without its newline)."""
    return any(p.search(line) for p in NOISE_PATTERNS)


def clean_text(text: str) -> tuple[str, int]:
    """Removes the noise lines from a stream's text; returns (text, lines removed)."""
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if not is_noise(line.rstrip("\r\n"))]
    return "".join(kept), len(lines) - len(kept)


def clean_outputs(nb: dict) -> int:
    """Removes noise lines from every stream output of a notebook (a dict, edited in place).

    A stream output left empty is removed. Returns the number of lines removed.
    """
    removed = 0
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                source = out.get("text", "")
                text, n = clean_text(source if isinstance(source, str) else "".join(source))
                removed += n
                if n:
                    if not text:
                        continue
                    out["text"] = text.splitlines(keepends=True) if isinstance(source, list) else text
            outputs.append(out)
        cell["outputs"] = outputs
    return removed


def clean_file(path: Path) -> int:
    """Cleans an executed notebook file in place (its JSON layout kept); returns the lines removed."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    removed = clean_outputs(nb)
    if removed:
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return removed


def run(path: Path) -> tuple[bool, float]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    for key, value in KERNEL_ENV.items():
        os.environ.setdefault(key, value)
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
    clean_outputs(nb)
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


def main(args: list[str]) -> int:
    clean_only = "--clean-only" in args
    paths = [a for a in args if a != "--clean-only"]
    if not paths:
        print("no notebooks given (usage: run_notebooks.py [--clean-only] NOTEBOOK ...)")
        return 1
    if clean_only:
        for p in paths:
            path = Path(p).resolve()
            print(f"{_show(path)}: removed {clean_file(path)} log lines")
        return 0
    mode = "quick" if os.environ.get("GAN_QUICK", "").lower() in {"1", "true", "yes", "on"} else "full"
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
