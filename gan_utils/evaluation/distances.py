"""Metrics between two sets of feature vectors: FID, KID, precision/recall, density/coverage.

Every function takes float arrays [N, D] (rows are samples) and works in
float64. They are re-exported by ``gan_utils.metrics``, which also turns images
into the shipped classifier's features (``classifier_features``).

Nearest-neighbour searches are exact and chunked, so 10,000 x 10,000 samples
need a few hundred MB at a time, not the whole distance matrix.
"""

from __future__ import annotations

import numpy as np

_CHUNK = 2048


def _as_features(x, name: str, min_rows: int = 2) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [N, D] of feature vectors, got shape {arr.shape}; "
                         "turn images into features with metrics.classifier_features(images)")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if len(arr) < min_rows:
        raise ValueError(f"{name} has {len(arr)} samples; this metric needs at least {min_rows}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf; check the images (has the generator diverged?)")
    return arr


def _same_dim(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{names} have different feature sizes ({a.shape[1]} and {b.shape[1]}); "
                         "compute both with the same feature extractor")


# ---------------------------------------------------------------- FID


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and unbiased covariance [D, D] of ``features`` [N, D], float64."""
    x = _as_features(features, "features")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))  # [1, 1] for one feature, not a 0-d array


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (via ``eigh``)."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """The *squared* Fréchet (2-Wasserstein) distance d^2 between N(mu1, sigma1) and N(mu2, sigma2).

        d^2 = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1^1/2 S2 S1^1/2)^1/2)

    (Dowson & Landau, 1982; FID is this square, Heusel et al., 2017.) The trace of
    the square root uses ``eigh`` of the symmetric matrix S1^1/2 S2 S1^1/2,
    whose eigenvalues equal those of S1 S2, so there are no complex parts.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"means must be [D] and covariances [D, D] with one D, got {mu1.shape}, {s1.shape}, "
                         f"{mu2.shape}, {s2.shape}")
    root1 = _sqrt_psd(s1)
    w = np.linalg.eigvalsh(root1 @ s2 @ root1)
    tr_cross = np.sqrt(np.clip(w, 0, None)).sum()
    value = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_cross)
    return max(value, 0.0)


def fid(features_a, features_b) -> float:
    """Fréchet Inception Distance (Heusel et al., 2017) between two feature sets [N, D], [M, D].

    Each set is summarised by its mean and covariance (``gaussian_stats``) and
    ``frechet_distance`` gives the squared Fréchet distance of the two Gaussians. Lower is better; 0 for
    identical statistics. FID is biased upwards at small N (Chong & Forsyth,
    2020; see ``fid_extrapolated``), so only compare values at equal N and
    quote the real-vs-real floor beside them. Both sets need more samples than
    feature dimensions (N > D), or the covariance is singular.
    """
    a = _as_features(features_a, "features_a")
    b = _as_features(features_b, "features_b")
    _same_dim(a, b, "features_a and features_b")
    dim = a.shape[1]
    for name, x in (("features_a", a), ("features_b", b)):
        if len(x) <= dim:
            raise ValueError(f"{name} has {len(x)} samples but {dim} feature dimensions: FID needs more samples "
                             f"than dimensions (at least {dim + 1}; 10,000 is usual); use kid() for small sets")
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


def fid_extrapolated(features_fake, features_real, sizes=(2000, 3000, 4000, 5000, 7000, 10000),
                     repeats: int = 1, seed: int = 0) -> dict:
    """FID at several sample sizes N and its linear extrapolation to N = infinity.

    Chong & Forsyth (2020) show FID_N is close to linear in 1/N:
    FID_N = FID_inf + c / N. At each size we draw N fake samples without
    replacement ``repeats`` times (the real statistics stay fixed), average the
    FIDs, fit a line in 1/N to the averages by least squares and report its
    intercept ``fid_inf``, which no longer depends on N. A single draw per size
    is noisy at small N; ``repeats`` of 5-10 steadies the fit.

    Returns:
        ``{"sizes": [N...], "fid": [mean FID_N...], "fid_std": [spread over draws...],
        "fid_inf": float, "slope": float, "fid_inf_draws": [intercept of each draw's own line]}``.
    """
    fake = _as_features(features_fake, "features_fake")
    real = _as_features(features_real, "features_real")
    _same_dim(fake, real, "features_fake and features_real")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    sizes = [int(n) for n in sizes if int(n) <= len(fake)]
    if len(sizes) < 2:
        raise ValueError(f"need at least two sizes <= the {len(fake)} fake samples to extrapolate")
    if min(sizes) <= fake.shape[1]:
        raise ValueError(f"size {min(sizes)} is not above the feature dimension {fake.shape[1]}; use larger sizes")
    mu_r, s_r = gaussian_stats(real)
    rng = np.random.default_rng(seed)
    values = np.array([[frechet_distance(*gaussian_stats(fake[rng.choice(len(fake), n, replace=False)]), mu_r, s_r)
                        for n in sizes] for _ in range(repeats)])
    inv = 1.0 / np.asarray(sizes, np.float64)
    slope, intercept = np.polyfit(inv, values.mean(axis=0), 1)
    return {"sizes": sizes, "fid": values.mean(axis=0).tolist(), "fid_std": values.std(axis=0).tolist(),
            "fid_inf": float(intercept), "slope": float(slope),
            "fid_inf_draws": [float(np.polyfit(inv, row, 1)[1]) for row in values]}


# ---------------------------------------------------------------- KID


def polynomial_kernel(x, y) -> np.ndarray:
    """k(x, y) = (x . y / D + 1)^3, the KID kernel (Binkowski et al., 2018)."""
    k = np.asarray(x, np.float64) @ np.asarray(y, np.float64).T
    k /= np.asarray(x).shape[1]
    k += 1.0
    cube = k * k
    cube *= k
    return cube


def mmd2_unbiased(x, y) -> float:
    """Unbiased estimate of MMD^2 with the cubic polynomial kernel.

        MMD^2_u = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j)
                  - 2/(mn) sum_{i,j} k(x_i, y_j)
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kid(features_a, features_b, subset_size: int = 1000, subsets: int = 100, seed: int = 0) -> dict:
    """Kernel Inception Distance (Binkowski et al., 2018): unbiased MMD^2, cubic kernel.

    ``subsets`` times, draw ``subset_size`` rows of each set without
    replacement and compute ``mmd2_unbiased``; report their mean and standard
    deviation. Unlike FID the estimate is unbiased, so it is about 0 for two
    samples of one distribution at any N, and it suits small sample sizes.
    Values can be slightly negative. ``subset_size`` is capped at the smaller set.

    Returns:
        ``{"mean": float, "std": float, "subset_size": int, "subsets": int}``.
    """
    a = _as_features(features_a, "features_a")
    b = _as_features(features_b, "features_b")
    _same_dim(a, b, "features_a and features_b")
    if not isinstance(subsets, int) or subsets < 1:
        raise ValueError(f"subsets must be a positive integer, got {subsets!r}")
    m = min(int(subset_size), len(a), len(b))
    if m < 2:
        raise ValueError(f"KID needs subsets of at least 2 samples, got subset_size={subset_size}")
    rng = np.random.default_rng(seed)
    values = np.array([mmd2_unbiased(a[rng.choice(len(a), m, replace=False)],
                                     b[rng.choice(len(b), m, replace=False)]) for _ in range(subsets)])
    return {"mean": float(values.mean()), "std": float(values.std()), "subset_size": m, "subsets": subsets}


# ---------------------------------------------------------------- nearest neighbours


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def nearest_neighbours(queries, reference, k: int = 1, exclude_self: bool = False,
                       dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of ``reference`` for each query: ``(distances [N, k], indices [N, k])``, closest first.

    ``exclude_self`` skips the query itself when ``queries`` is ``reference``
    (the row with the same index). ``dtype=np.float32`` halves the time for
    large pixel-space searches.
    """
    q, r = np.asarray(queries, dtype), np.asarray(reference, dtype)
    if q.ndim != 2 or r.ndim != 2 or q.shape[1] != r.shape[1]:
        raise ValueError(f"queries and reference must be [N, D] and [M, D], got {q.shape} and {r.shape}")
    if not 1 <= k <= len(r) - int(exclude_self):
        raise ValueError(f"k={k} needs more than {k} reference samples, got {len(r)}")
    r_norms = _sq_norms(r)
    dists, idx = np.empty((len(q), k)), np.empty((len(q), k), np.int64)
    for start in range(0, len(q), _CHUNK):
        block = q[start:start + _CHUNK]
        rows = np.arange(len(block))
        # |q|^2 is the same along a row, so rank by |r|^2 - 2 q.r and add |q|^2 back at the end (in place: fast).
        part_scores = block @ r.T
        part_scores *= -2
        part_scores += r_norms[None, :]
        if exclude_self:
            part_scores[rows, rows + start] = np.inf
        if k == 1:
            part = part_scores.argmin(axis=1)[:, None]
        else:
            part = np.argpartition(part_scores, k - 1, axis=1)[:, :k]
        part_d = np.take_along_axis(part_scores, part, axis=1) + _sq_norms(block)[:, None]
        order = np.argsort(part_d, axis=1)
        idx[start:start + len(block)] = np.take_along_axis(part, order, axis=1)
        dists[start:start + len(block)] = np.sqrt(np.clip(np.take_along_axis(part_d, order, axis=1), 0, None))
    return dists, idx


def kth_neighbour_radii(features, k: int) -> np.ndarray:
    """Distance from each sample to its k-th nearest other sample in the same set: [N]."""
    x = _as_features(features, "features", min_rows=k + 1)
    return nearest_neighbours(x, x, k, exclude_self=True)[0][:, -1]


def _radii(real: np.ndarray, k: int, given) -> np.ndarray:
    if given is None:
        return kth_neighbour_radii(real, k)
    radii = np.asarray(given, np.float64)
    if radii.shape != (len(real),):
        raise ValueError(f"real_radii must be [{len(real)}] (one per real sample), got shape {radii.shape}")
    return radii


def _count_inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each point, how many balls B(centre_i, radius_i) contain it (distance < radius)."""
    c_norms, r2 = _sq_norms(centres), radii ** 2
    counts = np.empty(len(points), np.int64)
    for start in range(0, len(points), _CHUNK):
        block = points[start:start + _CHUNK]
        d2 = block @ centres.T
        d2 *= -2
        d2 += c_norms[None, :]
        d2 += _sq_norms(block)[:, None]
        counts[start:start + len(block)] = (d2 < r2[None, :]).sum(axis=1)
    return counts


def precision_recall(real, fake, k: int = 3, real_radii=None) -> dict:
    """Improved precision and recall (Kynkaanniemi et al., 2019), k nearest neighbours.

    Each set's manifold is the union of balls around its samples, with radius
    the distance to the sample's k-th nearest neighbour in the same set.

        precision = fraction of fake samples inside the real manifold  (quality)
        recall    = fraction of real samples inside the fake manifold  (diversity)

    ``real_radii`` (``kth_neighbour_radii(real, k)``) may be passed to reuse
    them across models.

    Returns:
        ``{"precision": float, "recall": float}``, both in [0, 1].
    """
    r = _as_features(real, "real", min_rows=k + 1)
    f = _as_features(fake, "fake", min_rows=k + 1)
    _same_dim(r, f, "real and fake")
    radii = _radii(r, k, real_radii)
    precision = (_count_inside(f, r, radii) > 0).mean()
    recall = (_count_inside(r, f, kth_neighbour_radii(f, k)) > 0).mean()
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(real, fake, k: int = 5, real_radii=None) -> dict:
    """Density and coverage (Naeem et al., 2020), k nearest neighbours, real-sample balls only.

    With B_i the ball around real sample X_i of radius its k-th neighbour distance:

        density  = 1/(k M) sum_j sum_i 1[Y_j in B_i]     (can exceed 1)
        coverage = 1/N     sum_i 1[some Y_j in B_i]

    Unlike precision and recall they ignore the fake samples' own neighbourhoods,
    so outliers among the fakes do not inflate them. ``real_radii`` as in
    ``precision_recall``.
    """
    r = _as_features(real, "real", min_rows=k + 1)
    f = _as_features(fake, "fake")
    _same_dim(r, f, "real and fake")
    radii = _radii(r, k, real_radii)
    density = _count_inside(f, r, radii).sum() / (k * len(f))
    nearest_fake = nearest_neighbours(r, f, 1)[0][:, 0]
    return {"density": float(density), "coverage": float((nearest_fake < radii).mean())}


def memorisation(generated, train, test, dtype=np.float32) -> dict:
    """Are generated samples closer to the training set than new real samples are?

    For each generated sample and each held-out test sample, the distance to its
    nearest training sample. A model that copies its training data has
    generated distances far below the test distances. ``ratio`` is
    median(generated) / median(test); ``copies`` is the fraction of generated
    samples nearer to a training sample than the 1st percentile of the test
    distances (about 0.01 for a model that does not copy).

    Returns:
        ``{"generated_median", "test_median", "ratio", "copies", "generated_nn" [N],
        "generated_nn_index" [N], "test_nn" [M]}``.
    """
    g = _as_features(generated, "generated", min_rows=1)
    t = _as_features(train, "train", min_rows=1)
    h = _as_features(test, "test", min_rows=2)
    _same_dim(g, t, "generated and train")
    _same_dim(h, t, "test and train")
    gd, gi = nearest_neighbours(g, t, 1, dtype=dtype)
    hd, _ = nearest_neighbours(h, t, 1, dtype=dtype)
    return dict(memorisation_summary(gd[:, 0], hd[:, 0]), generated_nn=gd[:, 0], generated_nn_index=gi[:, 0],
                test_nn=hd[:, 0])


def memorisation_summary(generated_nn, test_nn) -> dict:
    """``ratio`` and ``copies`` (see ``memorisation``) from nearest-training-sample distances."""
    gd, hd = np.asarray(generated_nn, np.float64), np.asarray(test_nn, np.float64)
    threshold = np.percentile(hd, 1)
    return {
        "generated_median": float(np.median(gd)),
        "test_median": float(np.median(hd)),
        "ratio": float(np.median(gd) / max(np.median(hd), 1e-12)),
        "copies": float((gd < threshold).mean()),
    }
