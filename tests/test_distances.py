"""FID, KID, precision/recall, density/coverage and memorisation against closed forms,
hand-worked cases and an independent implementation (the ``prdc`` package)."""

import numpy as np
import pytest

from gan_utils.evaluation import distances as dist


def _closed_form_fid(mu1, s1, mu2, s2):
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2), the square root taken with scipy's general sqrtm."""
    from scipy.linalg import sqrtm

    cross = sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * cross.real))


def test_frechet_distance_of_diagonal_gaussians_by_hand():
    # N((0,0), diag(1,4)) vs N((3,4), diag(4,9)): 25 + (1-2)^2 + (2-3)^2 = 27.
    d = dist.frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.array([3.0, 4.0]), np.diag([4.0, 9.0]))
    assert d == pytest.approx(27.0, abs=1e-10)


def test_frechet_distance_of_non_commuting_covariances_matches_sqrtm():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((6, 6)), rng.standard_normal((6, 6))
    s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    assert dist.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_closed_form_fid(mu1, s1, mu2, s2), rel=1e-9)


def test_fid_of_samples_approaches_the_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = np.zeros(3), np.array([1.0, -0.5, 0.25])
    l1, l2 = np.array([[1.0, 0, 0], [0.5, 1, 0], [0, 0.3, 0.7]]), np.diag([1.5, 0.5, 1.0])
    x = mu1 + rng.standard_normal((200_000, 3)) @ l1.T
    y = mu2 + rng.standard_normal((200_000, 3)) @ l2.T
    expected = _closed_form_fid(mu1, l1 @ l1.T, mu2, l2 @ l2.T)
    assert dist.fid(x, y) == pytest.approx(expected, abs=0.02)


def test_fid_is_zero_on_itself_and_symmetric():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((500, 8))
    y = rng.standard_normal((400, 8)) * 1.3 + 0.2
    assert dist.fid(x, x) == pytest.approx(0.0, abs=1e-8)
    assert dist.fid(x, y) == pytest.approx(dist.fid(y, x), rel=1e-9)
    assert dist.fid(x, y) > 0.1


def test_fid_is_real_and_non_negative_for_rank_deficient_covariances():
    # Features on a 2-D plane inside 5-D: singular covariances, where a general sqrtm goes complex or NaN.
    rng = np.random.default_rng(3)
    basis = rng.standard_normal((2, 5))
    x = rng.standard_normal((300, 2)) @ basis
    y = rng.standard_normal((300, 2)) @ basis * 1.1
    stats_x, stats_y = dist.gaussian_stats(x), dist.gaussian_stats(y)
    assert dist.frechet_distance(*stats_x, *stats_x) == pytest.approx(0.0, abs=1e-8)
    d = dist.frechet_distance(*stats_x, *stats_y)
    assert isinstance(d, float) and np.isfinite(d) and d > 0


def test_fid_extrapolation_recovers_a_known_line():
    # Identical distributions: FID_N is pure small-sample bias, so FID_inf should be near 0 and far below FID_N.
    rng = np.random.default_rng(4)
    real = rng.standard_normal((20_000, 16))
    fake = rng.standard_normal((8_000, 16))
    out = dist.fid_extrapolated(fake, real, sizes=(500, 1000, 2000, 4000, 8000), repeats=4)
    assert out["fid"][0] > out["fid"][-1] > 0
    assert abs(out["fid_inf"]) < 0.2 * out["fid"][0]
    assert out["slope"] > 0
    assert len(out["fid_std"]) == 5 and out["fid_std"][-1] < 1e-9  # the largest size uses every sample
    assert len(out["fid_inf_draws"]) == 4 and min(out["fid_inf_draws"]) <= out["fid_inf"] <= max(out["fid_inf_draws"])


def test_mmd2_unbiased_matches_the_definition_on_a_tiny_case():
    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[2.0, 0.0], [0.0, -1.0]])
    k = lambda a, b: (a @ b / 2 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(3) for j in range(3) if i != j) / 6
    yy = sum(k(y[i], y[j]) for i in range(2) for j in range(2) if i != j) / 2
    xy = sum(k(a, b) for a in x for b in y) / 6
    assert dist.mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_is_unbiased_on_identical_distributions():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((2000, 16)), rng.standard_normal((2000, 16))
    same = dist.kid(x, y, subset_size=200, subsets=200)
    shifted = dist.kid(x, y + 0.5, subset_size=200, subsets=200)
    # Unbiased: the mean over subsets is within a few standard errors of 0 ...
    assert abs(same["mean"]) < 4 * same["std"] / np.sqrt(same["subsets"]) + 1e-3
    # ... and a real difference is far from it.
    assert shifted["mean"] > 20 * same["std"] / np.sqrt(same["subsets"])


def _prdc_reference(real, fake, k):
    from prdc import compute_prdc

    return compute_prdc(real.astype(np.float32), fake.astype(np.float32), nearest_k=k)


@pytest.mark.parametrize("seed", [0, 1])
def test_precision_recall_density_coverage_match_prdc(seed, capsys):
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((600, 10))
    fake = rng.standard_normal((500, 10)) * 1.2 + 0.3
    ref3, ref5 = _prdc_reference(real, fake, 3), _prdc_reference(real, fake, 5)
    pr = dist.precision_recall(real, fake, k=3)
    dc = dist.density_coverage(real, fake, k=5)
    assert pr["precision"] == pytest.approx(ref3["precision"], abs=1e-12)
    assert pr["recall"] == pytest.approx(ref3["recall"], abs=1e-12)
    assert dc["density"] == pytest.approx(ref5["density"], abs=1e-12)
    assert dc["coverage"] == pytest.approx(ref5["coverage"], abs=1e-12)


def test_precision_and_recall_separate_quality_from_diversity():
    rng = np.random.default_rng(6)
    real = rng.standard_normal((1000, 2))
    collapsed = rng.standard_normal((1000, 2)) * 0.05  # all fakes at the centre: good quality, no diversity
    pr = dist.precision_recall(real, collapsed)
    assert pr["precision"] > 0.95 and pr["recall"] < 0.2
    assert dist.density_coverage(real, collapsed)["coverage"] < 0.2


def test_nearest_neighbours_by_brute_force():
    rng = np.random.default_rng(7)
    q, r = rng.standard_normal((50, 4)), rng.standard_normal((80, 4))
    d, i = dist.nearest_neighbours(q, r, k=3)
    brute = np.linalg.norm(q[:, None] - r[None], axis=2)
    np.testing.assert_array_equal(i, np.argsort(brute, axis=1)[:, :3])
    np.testing.assert_allclose(d, np.sort(brute, axis=1)[:, :3], atol=1e-9)
    d_self, i_self = dist.nearest_neighbours(r, r, k=1, exclude_self=True)
    assert not np.any(i_self[:, 0] == np.arange(80))


def test_memorisation_flags_copies():
    rng = np.random.default_rng(8)
    train, test = rng.random((500, 20)), rng.random((200, 20))
    copies = train[:100] + 1e-4
    honest = rng.random((100, 20))
    m_copy = dist.memorisation(copies, train, test)
    m_new = dist.memorisation(honest, train, test)
    assert m_copy["ratio"] < 0.01 and m_copy["copies"] == 1.0
    assert 0.8 < m_new["ratio"] < 1.2 and m_new["copies"] < 0.1
    np.testing.assert_array_equal(m_copy["generated_nn_index"], np.arange(100))


@pytest.mark.parametrize("call, match", [
    (lambda: dist.fid(np.zeros((10, 3, 3)), np.zeros((10, 9))), "2-D array"),
    (lambda: dist.fid(np.ones((300, 8)), np.ones((300, 9))), "different feature sizes"),
    (lambda: dist.fid(np.random.rand(100, 128), np.random.rand(1000, 128)), "more samples than dimensions"),
    (lambda: dist.fid(np.full((300, 4), np.nan), np.ones((300, 4))), "NaN or Inf"),
    (lambda: dist.kid(np.ones((1, 4)), np.ones((10, 4))), "at least 2"),
    (lambda: dist.precision_recall(np.random.rand(3, 4), np.random.rand(10, 4), k=3), "at least 4"),
    (lambda: dist.density_coverage(np.random.rand(50, 4), np.random.rand(10, 4), real_radii=np.ones(3)),
     "real_radii"),
    (lambda: dist.fid_extrapolated(np.random.rand(300, 4), np.random.rand(300, 4), sizes=(200, 400)),
     "at least two sizes"),
])
def test_bad_feature_input_is_refused_with_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_fid_of_one_feature_is_the_1d_closed_form():
    # N(m1, s1^2) vs N(m2, s2^2): (m1 - m2)^2 + (s1 - s2)^2, with the sample moments.
    rng = np.random.default_rng(9)
    x, y = rng.normal(0.0, 1.0, (400, 1)), rng.normal(1.0, 2.0, (300, 1))
    expected = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
    assert dist.fid(x, y) == pytest.approx(expected, rel=1e-9)
