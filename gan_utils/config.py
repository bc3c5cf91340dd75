"""Run configuration: quick mode, seeds, project paths and output folders.

Nothing here touches the disk or the network at import time.
"""

from __future__ import annotations

import os
import platform
from contextlib import contextmanager
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


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), read from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def gpu_compute_capabilities() -> list[tuple[int, int] | None]:
    """The CUDA compute capability ``(major, minor)`` of each visible GPU; None where TensorFlow reports none.

    An empty list means TensorFlow computes on the CPU.
    """
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.get_visible_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        capabilities.append(tuple(capability) if capability else None)
    return capabilities


def resolve_precision(precision: str = "auto") -> str:
    """The Keras dtype policy name for ``precision``.

    "auto" reads the visible devices. With GPUs it goes by the lowest compute
    capability among them: ``mixed_bfloat16`` from 8.0 (Ampere and later),
    ``mixed_float16`` on 7.x (tensor cores without bfloat16; ``GAN.compile``
    adds loss scaling), ``float32`` below 7.0 or when a GPU reports no compute
    capability. Without a GPU: ``mixed_bfloat16`` when the CPU computes bfloat16
    natively (``cpu_has_bf16``), else ``float32``. Any other name is returned as is.
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {PRECISIONS}, got {precision!r}; "
            'pass "auto" to choose from the hardware'
        )
    if precision != "auto":
        return precision
    capabilities = gpu_compute_capabilities()
    if not capabilities:
        return "mixed_bfloat16" if cpu_has_bf16() else "float32"
    if any(capability is None for capability in capabilities):
        return "float32"
    lowest = min(capabilities)
    if lowest >= (8, 0):
        return "mixed_bfloat16"
    if lowest >= (7, 0):
        return "mixed_float16"
    return "float32"


@contextmanager
def dtype_policy(precision: str = "float32"):
    """Build models under a Keras dtype policy, then restore the previous one.

    Layers take the policy in force when they are created, so build the
    generator and discriminator inside the ``with`` block::

        with gu.config.dtype_policy("mixed_float16"):
            G, D = build_generator(), build_discriminator()

    ``GAN.compile`` then wraps the optimisers for loss scaling when a model
    computes in float16 (bfloat16 needs none: it has float32's exponent range).
    """
    import keras

    name = resolve_precision(precision)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield name
    finally:
        keras.mixed_precision.set_global_policy(previous)
