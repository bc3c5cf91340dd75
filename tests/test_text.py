"""Keeps the text a reader sees honest: lessons, not lab logs.

Checked, for every notebook in notebooks/ (new ones included), README.md, the other
READMEs and docs/*.md, and the docstrings and comments of gan_utils/ and tests/:

- no log vocabulary (LOG_PATTERNS below): dates, numbered work periods, "scratch"
  runs, "previous run", "tried and not adopted", the issue tracker, run histories,
  internal targets, and the FILL placeholder (a number still to be measured: the test
  fails until it is filled in);
- markdown cells of at most MAX_CELL_WORDS words, README files of at most
  MAX_README_LINES lines;
- committed notebooks executed top to bottom (execution counts 1, 2, 3 ... over the
  code cells, none skipped);
- no TensorFlow start-up log lines or retracing warnings in committed outputs.

benchmarks/RESULTS.md is exempt: it is where the history of the measurements lives,
with dates and the commands that reproduce them.

Each failure names the file, the cell (or line) and the offending text. The checkers
are plain functions, tested below on small constructed examples so that they can fail.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Guides a reader sees besides the notebooks (benchmarks/RESULTS.md is not one of them: see above).
READMES = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", ROOT / "data" / "README.md",
           *sorted((ROOT / "docs").glob("*.md"))]
MAX_CELL_WORDS = 250
MAX_README_LINES = 250

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_ORDINAL = r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|\d+(?:st|nd|rd|th))"

# (name, pattern). All are case-insensitive except FILL. Chosen to avoid legitimate uses:
# - "from scratch" (writing a network yourself) is allowed; "scratch" anywhere else is not.
# - "session" alone is allowed (a Colab session, "restart this session"); a numbered or dated
#   work period ("eighth session", "an earlier session", "this session's CPU", "that day") is not.
# - an ordinal "pass" followed by of/through/over is a computation ("a second pass of D
#   over the batch") and allowed; "third pass" as a round of work is not.
# - years in references ("NeurIPS 2014") are allowed; full dates and month-year are not.
LOG_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("date", re.compile(r"\b(?:19|20)\d\d-[01]\d-[0-3]\d\b")),
    ("date", re.compile(rf"\b(?:[0-3]?\d\s+)?{_MONTH}\s+(?:19|20)\d\d\b", re.I)),
    ("date", re.compile(r"\b(?:yesterday|that day|this morning|tonight)\b", re.I)),
    ("work period", re.compile(rf"\b(?:{_ORDINAL}|earlier|previous|prior|later|last)\s+(?:work\s+)?sessions?\b|\bthis session's\b", re.I)),
    ("work period", re.compile(rf"\b{_ORDINAL}\s+(?:pass|round|sitting)\b(?!\s+(?:of|through|over)\b)", re.I)),
    ("work period", re.compile(rf"\b{_ORDINAL}\s+run\s+(?:that|this|of the)\s+day\b", re.I)),
    ("scratch run", re.compile(r"(?<!from )\bscratch\b", re.I)),
    ("previous run", re.compile(r"\b(?:previous|earlier|prior|older)\s+(?:full\s+|notebook\s+|committed\s+)?(?:runs?|recipes?)\b", re.I)),
    ("previous run", re.compile(r"\b(?:previous|earlier)\s+run\s+of\s+this\s+notebook\b", re.I)),
    ("tried and not adopted", re.compile(r"\btried and not adopted\b|\bnot adopted\b|\(adopted\)", re.I)),
    # An issue of another project ("tensorflow/tensorflow issue 72388") is a fair reference; ours are not.
    ("issue tracker", re.compile(r"\bthe issue's\b|(?:\b[\w-]+/[\w.-]+\s+)?\bissue\s*#?\d+\b", re.I)),
    ("run history", re.compile(r"\b(?:run|tuning)[- ]histor(?:y|ies)\b|\bsince this (?:run|session)\b", re.I)),
    ("internal target", re.compile(r"\b(?:the\s+)?target\s+(?:score|of\s+(?:at\s+least\s+)?\d)", re.I)),
    ("placeholder", re.compile(r"\bFILL\b")),
]

NOISE = None  # the runner's noise filter, loaded once


def _runner():
    global NOISE
    if NOISE is None:
        spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "scripts" / "run_notebooks.py")
        NOISE = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(NOISE)
    return NOISE


# ---------------------------------------------------------------- checkers


def log_hits(text: str, with_lines: bool = False) -> list[tuple]:
    """(kind, matched text with a little context[, line]) for every log-vocabulary hit in text.

    The whole text is searched, so a phrase broken over two lines is found too; ``line``
    is the 1-based line of the text where the hit starts.
    """
    hits = []
    for kind, pattern in LOG_PATTERNS:
        for m in pattern.finditer(text):
            if kind == "issue tracker" and "/" in m.group(0):
                continue
            a, b = max(m.start() - 30, 0), min(m.end() + 30, len(text))
            hit = (kind, " ".join(text[a:b].split()))
            hits.append(hit + (text.count("\n", 0, m.start()) + 1,) if with_lines else hit)
    return hits


def word_count(markdown: str) -> int:
    """Words of a markdown cell; a display-math block ($$ ... $$) counts as one word."""
    return len(re.sub(r"\$\$.*?\$\$", " MATH ", markdown, flags=re.S).split())


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def _comments(code: str) -> list[tuple[int, str]]:
    """(line, text) of the comments in Python code; [] if it does not tokenize (e.g. magics)."""
    try:
        return [(t.start[0], t.string) for t in tokenize.generate_tokens(io.StringIO(code).readline)
                if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []


def _docstrings(code: str) -> list[tuple[int, str]]:
    """(line, text) of the module, class and function docstrings in Python code."""
    out = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                out.append((node.body[0].lineno, doc))
    return out


def notebook_text_problems(nb: dict, name: str) -> list[str]:
    """Log vocabulary in markdown cells and code comments; markdown cells that are too long."""
    problems = []
    for i, cell in enumerate(nb.get("cells", [])):
        src = _source(cell)
        if cell.get("cell_type") == "markdown":
            problems += [f"{name} cell {i}: {kind}: '{hit}'" for kind, hit in log_hits(src)]
            words = word_count(src)
            if words > MAX_CELL_WORDS:
                problems.append(f"{name} cell {i}: markdown cell of {words} words (at most {MAX_CELL_WORDS}): "
                                f"'{' '.join(src.split()[:12])} ...'")
        elif cell.get("cell_type") == "code":
            for line, comment in _comments(src):
                problems += [f"{name} cell {i} line {line}: {kind}: '{hit}'" for kind, hit in log_hits(comment)]
    return problems


def execution_order_problems(nb: dict, name: str) -> list[str]:
    """Code cells must be executed top to bottom: counts 1, 2, 3 ..., no unexecuted cell in between.

    Empty code cells are ignored (Jupyter does not execute them). Unexecuted cells after the
    last executed one are allowed only if none of them has outputs.
    """
    problems, expected, seen_gap = [], 1, None
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or not _source(cell).strip():
            continue
        count = cell.get("execution_count")
        if count is None:
            if cell.get("outputs"):
                problems.append(f"{name} cell {i}: has outputs but no execution count")
            if seen_gap is None:
                seen_gap = i
            continue
        if seen_gap is not None:
            problems.append(f"{name} cell {seen_gap}: not executed, but cell {i} after it was (count {count})")
            seen_gap = None
        if count != expected:
            problems.append(f"{name} cell {i}: execution count {count}, expected {expected} (run top to bottom)")
        expected = count + 1
    return problems


def output_noise_problems(nb: dict, name: str) -> list[str]:
    """TensorFlow start-up log lines or retracing warnings in stream outputs."""
    runner, problems = _runner(), []
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream":
                continue
            for line in _source({"source": out.get("text", "")}).splitlines():
                if runner.is_noise(line):
                    problems.append(f"{name} cell {i}: log noise in {out.get('name')}: '{line[:100]}'")
    return problems


def python_text_problems(code: str, name: str) -> list[str]:
    """Log vocabulary in the docstrings and comments of a Python file."""
    problems = []
    for line, text in _docstrings(code) + _comments(code):
        problems += [f"{name}:{line}: {kind}: '{hit}'" for kind, hit in log_hits(text)]
    return problems


def readme_problems(text: str, name: str, check_vocabulary: bool = True) -> list[str]:
    problems = []
    lines = text.splitlines()
    if len(lines) > MAX_README_LINES:
        problems.append(f"{name}: {len(lines)} lines (at most {MAX_README_LINES}); results belong in benchmarks/RESULTS.md")
    if check_vocabulary:
        problems += [f"{name}:{n}: {kind}: '{hit}'" for kind, hit, n in log_hits(text, with_lines=True)]
    return problems


def _report(problems: list[str]) -> str:
    return f"{len(problems)} problem(s):\n" + "\n".join(problems)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ---------------------------------------------------------------- the repository


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_text(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    problems = notebook_text_problems(nb, _rel(path))
    assert not problems, _report(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executed_in_order(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    problems = execution_order_problems(nb, _rel(path))
    assert not problems, _report(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_outputs_without_log_noise(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    problems = output_noise_problems(nb, _rel(path))
    assert not problems, _report(problems) + "\nclean with: python scripts/run_notebooks.py --clean-only " + _rel(path)


@pytest.mark.parametrize("path", [p for p in READMES if p.exists()], ids=lambda p: _rel(p))
def test_readme(path):
    problems = readme_problems(path.read_text(encoding="utf-8"), _rel(path))
    assert not problems, _report(problems)


def test_package_and_tests_docstrings_and_comments():
    files = sorted((ROOT / "gan_utils").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    problems = []
    for path in files:
        if path.name == Path(__file__).name:  # this file spells out the patterns it looks for
            continue
        problems += python_text_problems(path.read_text(encoding="utf-8"), _rel(path))
    assert not problems, _report(problems)


# ---------------------------------------------------------------- the checkers themselves


@pytest.mark.parametrize("text", [
    "Measured on 2026-12-04.",
    "a run from Dec 2026",
    "on 4 December 2026, alone on the CPU",
    "the second run that day",
    "Since the eighth session the recipe ...",
    "in an earlier session",
    "On this session's 2-core CPU the run took",
    "after the third pass, the score rose",
    "Tried and not adopted (settings)",
    "the two blocks (adopted)",
    "in our scratch runs",
    "a scratch script",
    "the previous run of this notebook",
    "the previous recipe scored less",
    "in an earlier full run",
    "the issue's measure",
    "see issue 28",
    "run history",
    "Tuning history and commands",
    "the target score of 9.4",
    "| 02 DCGAN | FILL |",
])
def test_log_vocabulary_is_caught(text):
    assert log_hits(text), text


@pytest.mark.parametrize("text", [
    "Write the generator from scratch with keras.layers.",
    "Goodfellow et al., NeurIPS 2014. Brock et al. (2019).",
    "a killed Colab session resumes from the checkpoint; restart this session to free memory",
    "one more pass of D over the generated batch; a second pass of D through the net",
    "D's target for real images is 1 - alpha",
    "the previous checkpoint stays in use",
    "What this run shows: the history of the losses",
    "the fill colour, filled circles",
    "a Keras bug (keras-team/keras issue 20542)",
    "may 5 samples differ",
])
def test_legitimate_text_passes(text):
    assert not log_hits(text), log_hits(text)


def _nb(*cells):
    return {"cells": list(cells)}


def _md(text):
    return {"cell_type": "markdown", "source": text}


def _code(src="x = 1", count=None, outputs=()):
    return {"cell_type": "code", "source": src, "execution_count": count, "outputs": list(outputs)}


def test_notebook_text_checker_names_cell_and_text():
    nb = _nb(_md("# Title"), _code("x = 1  # from a scratch run", 1), _md("Fine.\n\nAs in the previous run of this notebook."))
    problems = notebook_text_problems(nb, "nb.ipynb")
    assert any(p.startswith("nb.ipynb cell 2: previous run:") and "previous run of this notebook" in p for p in problems)
    assert any(p.startswith("nb.ipynb cell 1 line 1: scratch run:") for p in problems)


def test_long_markdown_cell_is_caught_and_math_counts_once():
    long = _md(" ".join(["word"] * (MAX_CELL_WORDS + 1)))
    assert any("cell 0: markdown cell of 251 words" in p for p in notebook_text_problems(_nb(long), "nb"))
    ok = _md(" ".join(["word"] * 200) + "\n$$\n" + " + ".join(["x"] * 200) + "\n$$\n")
    assert notebook_text_problems(_nb(ok), "nb") == []


def test_execution_order_checker():
    good = _nb(_md("t"), _code(count=1), _code(count=2), _code("", None), _code(count=3), _code("y = 2", None))
    assert execution_order_problems(good, "nb") == []
    out_of_order = _nb(_code(count=1), _code(count=3), _code(count=2))
    assert any("cell 1: execution count 3, expected 2" in p for p in execution_order_problems(out_of_order, "nb"))
    restarted = _nb(_code(count=5), _code(count=6))
    assert any("cell 0: execution count 5, expected 1" in p for p in execution_order_problems(restarted, "nb"))
    skipped = _nb(_code(count=1), _code(count=None), _code(count=2))
    assert any("cell 1: not executed, but cell 2 after it was" in p for p in execution_order_problems(skipped, "nb"))
    stale = _nb(_code(count=1), _code(count=None, outputs=[{"output_type": "stream", "name": "stdout", "text": "1\n"}]))
    assert any("cell 1: has outputs but no execution count" in p for p in execution_order_problems(stale, "nb"))


STARTUP = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796582011.321486   31599 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors.\n"
    "I0000 00:00:1796582011.322225   31599 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.\n"
    "E0000 00:00:1733.5   12 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to register factory\n"
    "E0000 00:00:1733.5   12 cuda_blas.cc:1418] Unable to register cuBLAS factory: Attempting to register factory\n"
    "W0000 00:00:1733.5   12 gpu_device.cc:2344] computation placer already registered.\n"
    "E0000 00:00:1733.5   12 cuda_executor.cc:1228] failed call to cuInit: INTERNAL: CUDA error\n"
    "2026-12-04 10:00:00.000000: I tensorflow/core/platform/cpu_feature_guard.cc:210] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.\n"
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.\n"
)
RETRACING = ("WARNING:tensorflow:5 out of the last 13 calls to <function f at 0x7f> triggered tf.function retracing. "
             "Tracing is expensive.\n")


def test_noise_filter_on_constructed_outputs():
    runner = _runner()
    nb = _nb(
        _code(count=1, outputs=[
            {"output_type": "stream", "name": "stderr", "text": STARTUP},
            {"output_type": "stream", "name": "stdout", "text": ["Python 3.11, TensorFlow 2.21\n", RETRACING, "done\n"]},
            {"output_type": "stream", "name": "stdout", "text": "I0000 is not a log line without its time stamp\n"},
            {"output_type": "execute_result", "data": {"text/plain": "1"}, "metadata": {}, "execution_count": 1},
        ]),
    )
    assert len(output_noise_problems(nb, "nb")) == STARTUP.count("\n") + 1
    assert runner.clean_outputs(nb) == STARTUP.count("\n") + 1
    outputs = nb["cells"][0]["outputs"]
    assert [o["output_type"] for o in outputs] == ["stream", "stream", "execute_result"]  # empty stderr removed
    assert outputs[0]["text"] == ["Python 3.11, TensorFlow 2.21\n", "done\n"]  # a list stays a list
    assert outputs[1]["text"] == "I0000 is not a log line without its time stamp\n"
    assert output_noise_problems(nb, "nb") == []


def test_clean_file_keeps_the_json_layout(tmp_path):
    nb = _nb(_md("# T"), _code(count=1, outputs=[{"output_type": "stream", "name": "stderr", "text": STARTUP + "kept\n"}]))
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert _runner().clean_file(path) == STARTUP.count("\n")
    cleaned = json.loads(path.read_text(encoding="utf-8"))
    assert cleaned["cells"][1]["outputs"][0]["text"] == "kept\n"
    assert path.read_text(encoding="utf-8") == json.dumps(cleaned, indent=1, ensure_ascii=False) + "\n"
    assert _runner().clean_file(path) == 0


def test_python_and_readme_checkers():
    code = '"""Module doc."""\n\ndef f():\n    """Scores 9.1 (2026-12-04)."""\n    return 1  # the issue\'s measure\n'
    problems = python_text_problems(code, "m.py")
    assert any(p.startswith("m.py:4: date:") for p in problems)
    assert any(p.startswith("m.py:5: issue tracker:") for p in problems)
    assert python_text_problems('"""Build it from scratch."""\nx = "a previous run"\n', "ok.py") == []  # strings are code
    assert any("251 lines" in p for p in readme_problems("line\n" * 251, "README.md"))
    assert any("README.md:2: placeholder" in p for p in readme_problems("# T\n| 04 | FILL |\n", "README.md"))
    assert any("README.md:3: previous run" in p for p in readme_problems("# T\n\nas in the previous\nrun\n", "README.md"))
