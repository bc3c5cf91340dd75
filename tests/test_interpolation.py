"""Linear and spherical interpolation between latent vectors, against values worked out by hand."""

import math

import numpy as np
import pytest

import gan_utils as gu
from gan_utils.interpolation import latent_walk, lerp, slerp

E1 = np.array([1.0, 0.0, 0.0], np.float32)
E2 = np.array([0.0, 1.0, 0.0], np.float32)


def test_exported_from_the_package():
    assert gu.slerp is slerp and gu.lerp is lerp and gu.latent_walk is latent_walk


@pytest.mark.parametrize("fn", [slerp, lerp])
def test_endpoints_are_a_and_b(fn):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 16)).astype(np.float32)
    path = fn(a, b, [0.0, 1.0])
    assert path.shape == (2, 16) and path.dtype == np.float32
    np.testing.assert_allclose(path[0], a, rtol=0, atol=1e-6)
    np.testing.assert_allclose(path[1], b, rtol=0, atol=1e-6)


def test_slerp_midpoint_of_orthogonal_unit_vectors():
    # omega = pi/2, so both weights are sin(pi/4) / sin(pi/2) = 1/sqrt(2).
    mid = slerp(E1, E2, 0.5)
    assert mid.shape == (1, 3)
    np.testing.assert_allclose(mid[0], (E1 + E2) / math.sqrt(2), atol=1e-7)


def test_slerp_quarter_point_of_orthogonal_unit_vectors():
    # At t = 1/3 the point is (cos(pi/6), sin(pi/6), 0): a third of the way round the quarter circle.
    point = slerp(E1, E2, 1 / 3)[0]
    np.testing.assert_allclose(point, [math.sqrt(3) / 2, 0.5, 0.0], atol=1e-7)


def test_slerp_keeps_the_norm_and_lerp_shrinks_it():
    t = np.linspace(0, 1, 11)
    np.testing.assert_allclose(np.linalg.norm(slerp(E1, E2, t), axis=1), 1.0, atol=1e-6)
    # |(1 - t) e1 + t e2| = sqrt((1 - t)^2 + t^2), which is 1/sqrt(2) at t = 1/2.
    np.testing.assert_allclose(np.linalg.norm(lerp(E1, E2, t), axis=1), np.sqrt((1 - t) ** 2 + t**2), atol=1e-6)
    assert np.linalg.norm(lerp(E1, E2, 0.5)) == pytest.approx(1 / math.sqrt(2), abs=1e-7)


def test_slerp_keeps_equal_norms_in_high_dimension():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 100))
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    norms = np.linalg.norm(slerp(a, b, np.linspace(0, 1, 9)), axis=1)
    np.testing.assert_allclose(norms, np.linalg.norm(a), rtol=1e-5)


def test_lerp_values():
    np.testing.assert_allclose(lerp([0.0, 2.0], [4.0, -2.0], [0.25, 0.5]), [[1.0, 1.0], [2.0, 0.0]])


@pytest.mark.parametrize("b", [2.0 * E1, E1 + 1e-9 * E2, -E1, np.zeros(3, np.float32)])
def test_parallel_antiparallel_and_zero_vectors_give_finite_output(b):
    path = slerp(E1, b, np.linspace(0, 1, 5))
    assert np.all(np.isfinite(path))
    np.testing.assert_allclose(path, lerp(E1, b, np.linspace(0, 1, 5)), atol=1e-6)


def test_slerp_of_identical_vectors_is_constant():
    a = np.array([0.3, -1.2, 2.0], np.float32)
    np.testing.assert_allclose(slerp(a, a, np.linspace(0, 1, 4)), np.tile(a, (4, 1)), atol=1e-6)


@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_latent_walk(method):
    walk = latent_walk(E1, E2, steps=5, method=method)
    assert walk.shape == (5, 3) and walk.dtype == np.float32
    np.testing.assert_allclose(walk[0], E1, atol=1e-7)
    np.testing.assert_allclose(walk[-1], E2, atol=1e-7)
    fn = slerp if method == "slerp" else lerp
    np.testing.assert_allclose(walk, fn(E1, E2, [0, 0.25, 0.5, 0.75, 1]), atol=1e-7)


@pytest.mark.parametrize("a, b, match", [
    (np.zeros((2, 3)), np.zeros((2, 3)), r"a must be one latent vector.*\(2, 3\)"),
    (np.float32(1.0), np.float32(1.0), r"a must be one latent vector.*\(\)"),
    (np.zeros(0), np.zeros(0), "D >= 1"),
    (np.zeros(3), np.zeros(4), r"same shape.*\(3,\) and \(4,\)"),
    (np.array([1.0, np.nan]), np.zeros(2), "a contains NaN"),
    (np.zeros(2), np.array([np.inf, 0.0]), "b contains NaN or inf"),
    (np.array(["x", "y"]), np.zeros(2), "numeric"),
])
@pytest.mark.parametrize("fn", [slerp, lerp])
def test_bad_vectors_raise(fn, a, b, match):
    with pytest.raises(ValueError, match=match):
        fn(a, b, 0.5)


@pytest.mark.parametrize("t, match", [
    (1.5, r"\[0, 1\]"),
    ([-0.1, 0.5], r"\[0, 1\]"),
    (np.nan, r"\[0, 1\]"),
    ([], "empty"),
    ([[0.1, 0.2]], "1-D"),
    ("half", "number"),
])
@pytest.mark.parametrize("fn", [slerp, lerp])
def test_bad_steps_raise(fn, t, match):
    with pytest.raises(ValueError, match=match):
        fn(E1, E2, t)


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 1}, "steps must be an integer >= 2"),
    ({"steps": 4.0}, "steps must be an integer"),
    ({"steps": True}, "steps must be an integer"),
    ({"method": "cubic"}, "method must be one of"),
])
def test_latent_walk_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        latent_walk(E1, E2, **kwargs)
