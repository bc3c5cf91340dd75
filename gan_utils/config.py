"""Run configuration: quick mode, seeds, project paths and output folders.

Nothing here touches the disk or the network at import time.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

QUICK_ENV = "GAN_QUICK"
ARTIFACTS_ENV = "GAN_ARTIFACTS_DIR"
DATA_ENV = "GAN_DATA_DIR"


def is_quick() -> bool:
    """True when the environment variable ``GAN_QUICK`` is set to 1/true/yes/on.

    Quick mode shrinks every run (few steps, small subsets, few samples) while
    still passing through every code path. Full mode is the default.
    """
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def pick(full, quick, quick_mode: bool | None = None):
    """Return ``quick`` in quick mode and ``full`` otherwise."""
    if quick_mode is None:
        quick_mode = is_quick()
    return quick if quick_mode else full


def project_root() -> Path | None:
    """The repository root when gan_utils runs from a checkout (``pip install -e .``).

    Returns None when the package is installed elsewhere (no ``pyproject.toml``
    beside the package folder).
    """
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def artifacts_dir(*parts: str, create: bool = True) -> Path:
    """Folder for what runs write: ``$GAN_ARTIFACTS_DIR``, else ``<repo>/artifacts``.

    Outside a checkout it falls back to ``./artifacts``. In quick mode runs go
    to ``<base>/quick/`` so they never resume from, or overwrite, a full run.
    ``parts`` name a sub-folder, e.g. ``artifacts_dir("01_vanilla_gan")``.
    """
    env = os.environ.get(ARTIFACTS_ENV)
    if env:
        base = Path(env).expanduser()
    else:
        root = project_root()
        base = (root if root is not None else Path.cwd()) / "artifacts"
    if is_quick():
        base = base / "quick"
    path = base.joinpath(*parts)
    if create:
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(
                f"output folder {path} exists and is a file; remove it or choose another folder"
            )
        path.mkdir(parents=True, exist_ok=True)
    return path


def set_seed(seed: int = 42, deterministic: bool = False) -> int:
    """Seed Python, NumPy and TensorFlow (``keras.utils.set_random_seed``).

    Args:
        seed: a non-negative integer.
        deterministic: also turn on TensorFlow's deterministic ops (slower;
            makes CPU runs bit-for-bit repeatable).

    Returns:
        The seed, for logging.
    """
    import keras
    import tensorflow as tf

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return seed


def device_report() -> str:
    """One line naming the TensorFlow/Keras versions and the devices visible."""
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    devices = f"{len(gpus)} GPU(s)" if gpus else f"CPU only ({os.cpu_count()} cores)"
    return (
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}, {devices}"
    )
