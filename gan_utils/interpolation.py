"""Paths between latent vectors: linear and spherical interpolation.

A latent walk decodes the points of a path from ``a`` to ``b`` with a
generator; a good generator changes its images smoothly along it. With
z ~ N(0, I) in D dimensions almost all of the mass lies near the sphere of
radius sqrt(D), so White (2016, "Sampling Generative Networks") recommends the
spherical path (``slerp``), which keeps the norm between that of ``a`` and
``b``, over the straight line (``lerp``), whose midpoint is closer to the
origin than any typical sample.

All functions work in NumPy and return float32 arrays ``[steps, D]``.
"""

from __future__ import annotations

import numpy as np

# Below this value of sin(angle) the great circle through a and b is numerically
# undefined (a and b (anti)parallel) and slerp falls back to the straight line.
PARALLEL_EPS = 1e-6

METHODS = ("slerp", "lerp")


def _as_vector(name: str, v) -> np.ndarray:
    arr = np.asarray(v)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be a numeric latent vector, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(
            f"{name} must be one latent vector, float [D] with D >= 1, got shape {arr.shape}; "
            "for several pairs, interpolate each pair on its own"
        )
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf; latent vectors must be finite")
    return arr


def _as_steps(t) -> np.ndarray:
    steps = np.asarray(t, dtype=np.float64) if not isinstance(t, (str, bytes)) else None
    if steps is None or steps.ndim > 1:
        raise ValueError(f"t must be a number or a 1-D array of numbers in [0, 1], got {t!r}")
    steps = steps.reshape(-1)
    if steps.size == 0:
        raise ValueError("t is empty; pass at least one interpolation step in [0, 1]")
    if not np.all(np.isfinite(steps)) or steps.min() < 0.0 or steps.max() > 1.0:
        raise ValueError(f"every t must lie in [0, 1] (0 gives a, 1 gives b), got values in "
                         f"[{steps.min()}, {steps.max()}]")
    return steps


def _check_pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_vector("a", a), _as_vector("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return (1.0 - t)[:, None] * a[None, :] + t[:, None] * b[None, :]


def lerp(a, b, t) -> np.ndarray:
    """Linear interpolation ``(1 - t) a + t b``.

    Args:
        a, b: latent vectors, float [D].
        t: a number or a 1-D array of steps, each in [0, 1].

    Returns:
        float32 [len(t), D] (one row for a scalar ``t``).
    """
    a, b = _check_pair(a, b)
    return _lerp(a, b, _as_steps(t)).astype(np.float32)


def slerp(a, b, t) -> np.ndarray:
    """Spherical linear interpolation (White, 2016, "Sampling Generative Networks").

    With ``omega`` the angle between ``a`` and ``b``::

        slerp(a, b, t) = sin((1 - t) omega) / sin(omega) * a + sin(t omega) / sin(omega) * b

    The path follows the great circle from ``a`` to ``b``; for inputs of equal
    norm every point has that norm (for unequal norms and an angle close to
    180 degrees it swings far out, as the formula says). When ``a`` and ``b`` are (nearly) parallel
    or antiparallel, or one is zero, ``sin(omega)`` is about 0, the circle is
    not defined, and the result is the linear interpolation instead (finite,
    never NaN).

    Args:
        a, b: latent vectors, float [D].
        t: a number or a 1-D array of steps, each in [0, 1].

    Returns:
        float32 [len(t), D] (one row for a scalar ``t``); row ``i`` is the point at ``t[i]``.
    """
    a, b = _check_pair(a, b)
    steps = _as_steps(t)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a == 0.0 or norm_b == 0.0:
        return _lerp(a, b, steps).astype(np.float32)
    cos_omega = np.clip(np.dot(a / norm_a, b / norm_b), -1.0, 1.0)
    omega = np.arccos(cos_omega)
    sin_omega = np.sin(omega)
    if sin_omega < PARALLEL_EPS:
        return _lerp(a, b, steps).astype(np.float32)
    wa = np.sin((1.0 - steps) * omega) / sin_omega
    wb = np.sin(steps * omega) / sin_omega
    return (wa[:, None] * a[None, :] + wb[:, None] * b[None, :]).astype(np.float32)


def latent_walk(a, b, steps: int = 10, method: str = "slerp") -> np.ndarray:
    """``steps`` evenly spaced points from ``a`` to ``b``, both ends included.

    Args:
        a, b: latent vectors, float [D].
        steps: number of points, at least 2.
        method: "slerp" (spherical, White 2016; the default for Gaussian
            latents) or "lerp" (straight line).

    Returns:
        float32 [steps, D]: row 0 is ``a``, row ``steps - 1`` is ``b``. Feed it
        to a generator to decode the walk.
    """
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2 (both ends are included), got {steps!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    t = np.linspace(0.0, 1.0, int(steps))
    return slerp(a, b, t) if method == "slerp" else lerp(a, b, t)
