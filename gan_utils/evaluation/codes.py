"""Looking at an InfoGAN's codes: sweeps of one code, and how cleanly the categorical code splits the digits.

    images = code_sweep_images(G, noise, "categorical")    # row r: noise[r], column v: code v
    images = code_sweep_images(G, noise, 0)                 # the first continuous code from -1 to 1
    result = code_accuracy(G, n=10_000)                     # best one-to-one matching of codes to digits

The matching accuracy is the share of samples whose code, mapped to a digit by
the best one-to-one assignment of codes to digits (the Hungarian method,
``scipy.optimize.linear_sum_assignment``), is the digit the shipped classifier
sees. It is the clustering accuracy Chen et al. (2016) report for their
categorical code on MNIST (5% error): labels only name the clusters.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

CATEGORICAL = "categorical"


def _coded_layer(generator):
    from ..gans.infogan import code_layers

    layers = code_layers(generator)
    if len(layers) != 1:
        raise ValueError(f"the generator needs one CategoricalCode layer (InfoGAN's codes), found {len(layers)}; "
                         "build it with build_dcgan_generator(..., categorical_code=k, continuous_codes=m)")
    return layers[0]


def _check_code(code, continuous: int) -> None:
    if code == CATEGORICAL:
        return
    if isinstance(code, bool) or not isinstance(code, numbers.Integral) or not 0 <= code < continuous:
        valid = f"or an integer in [0, {continuous}) for a continuous code" if continuous else \
            "(this generator has no continuous codes)"
        raise ValueError(f"code must be {CATEGORICAL!r} {valid}, got {code!r}")


def default_sweep_values(code, categorical: int, steps: int = 9) -> np.ndarray:
    """The values a sweep of ``code`` takes: 0 ... k-1 for the categorical code, else ``steps`` values from -1 to 1."""
    if code == CATEGORICAL:
        return np.arange(categorical)
    return np.linspace(-1.0, 1.0, steps)


def sweep_latents(noise, code, values, categorical: int, continuous: int = 0) -> np.ndarray:
    """Latent vectors for a code sweep: float32 [R * V, D], row r and column v at index r * V + v.

    Each of the R rows keeps ``noise[r]`` and sets one code to each of the V ``values``:
    with ``code="categorical"`` the categorical code (integers in [0, k), through
    ``set_code``), with ``code=j`` the continuous code u_j (values in [-1, 1]: the entry
    z_{k+j} becomes sqrt(2) erfinv(u), so that the generator's erf(z / sqrt 2) reads u back).
    Every other entry of z is the row's noise.

    Args:
        noise: float [R, D], one latent vector per row.
        code: ``"categorical"`` or the index j in [0, m) of a continuous code.
        values: the V code values, one per column.
        categorical, continuous: k and m of the generator's ``CategoricalCode(k, m)``.
    """
    from scipy.special import erfinv

    from ..gans.infogan import set_code

    _check_code(code, continuous)
    noise = np.array(noise, np.float32)
    if noise.ndim != 2 or noise.shape[1] <= categorical + continuous:
        raise ValueError(f"noise must be [R, D] with D > {categorical + continuous} (the codes' entries), "
                         f"got shape {noise.shape}")
    values = np.asarray(values)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"values must be a non-empty 1-D list of code values, got shape {values.shape}")
    if code == CATEGORICAL:
        columns = [set_code(noise, int(v), categorical) if float(v) == int(v) else None for v in values]
        if any(c is None for c in columns):
            raise ValueError(f"a categorical sweep takes integer codes in [0, {categorical}), got {values}")
    else:
        if not np.all(np.isfinite(values)) or np.abs(values).max() > 1.0:
            raise ValueError(f"a continuous code lives in [-1, 1]; got values {values}")
        # erfinv(+-1) is infinite: stop a hair inside the interval, where erf(z / sqrt 2) still rounds to +-1.
        u = np.clip(values.astype(np.float64), -1 + 1e-7, 1 - 1e-7)
        columns = []
        for entry in math.sqrt(2.0) * erfinv(u):
            z = noise.copy()
            z[:, categorical + code] = entry
            columns.append(z)
    return np.stack(columns, axis=1).reshape(-1, noise.shape[1]).astype(np.float32)


def code_sweep_images(generator, noise, code=CATEGORICAL, values=None, steps: int = 9) -> np.ndarray:
    """Images of a code sweep: uint8 [R * V, H, W, C]; row r keeps ``noise[r]``, column v sets the code to ``values[v]``.

    The generator's codes come from its ``CategoricalCode`` layer. ``values`` default to
    every category (``code="categorical"``) or ``steps`` values from -1 to 1 (a continuous
    code). Show it with ``plot_image_grid(images, ncols=V)``.
    """
    from ..data import to_uint8_images

    layer = _coded_layer(generator)
    latent_dim = int(generator.inputs[0].shape[-1])
    noise = np.asarray(noise, np.float32)
    if noise.ndim != 2 or noise.shape[1] != latent_dim:
        raise ValueError(f"noise must be [R, {latent_dim}] (the generator's latent size), got shape {noise.shape}")
    _check_code(code, layer.continuous)
    values = default_sweep_values(code, layer.num_codes, steps) if values is None else values
    z = sweep_latents(noise, code, values, layer.num_codes, layer.continuous)
    return to_uint8_images(np.asarray(generator(z, training=False)))


def code_digit_counts(codes, digits, num_codes: int, num_classes: int = 10) -> np.ndarray:
    """How often each code drew each digit: int64 [num_codes, num_classes], entry (c, d) counts code c seen as d."""
    codes, digits = np.asarray(codes), np.asarray(digits)
    if codes.ndim != 1 or codes.shape != digits.shape or len(codes) == 0:
        raise ValueError(f"codes and digits must be non-empty integer arrays [N] of one length, got shapes "
                         f"{codes.shape} and {digits.shape}")
    for name, x, top in (("codes", codes, num_codes), ("digits", digits, num_classes)):
        if not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() >= top:
            raise ValueError(f"{name} must be integers in [0, {top}), got {x.dtype} values from {x.min()} to {x.max()}")
    counts = np.zeros((num_codes, num_classes), np.int64)
    np.add.at(counts, (codes, digits), 1)
    return counts


def matching_accuracy(codes, digits, num_codes: int | None = None, num_classes: int | None = None) -> dict:
    """Accuracy of the best one-to-one matching of codes to digits (Hungarian method).

    Args:
        codes: int [N], the code (cluster) of each sample.
        digits: int [N], the digit of each sample (the classifier's, or a true label).
        num_codes, num_classes: defaults: one more than the largest value seen.

    Returns:
        ``{"accuracy": float, "mapping": [digit of code c, or -1 if unmatched], "counts": int [k, C],
        "per_code": [share of code c's samples on its matched digit (NaN if code c is unused)],
        "purity": share of samples on their code's most common digit (two codes may share a digit)}``.
    """
    from scipy.optimize import linear_sum_assignment

    codes, digits = np.asarray(codes), np.asarray(digits)
    if num_codes is None:
        num_codes = int(codes.max()) + 1 if codes.size else 1
    if num_classes is None:
        num_classes = int(digits.max()) + 1 if digits.size else 1
    counts = code_digit_counts(codes, digits, num_codes, num_classes)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    mapping = np.full(len(counts), -1, np.int64)
    mapping[rows] = cols
    per_code_total = counts.sum(axis=1)
    matched = np.array([counts[c, mapping[c]] if mapping[c] >= 0 else 0 for c in range(len(counts))])
    with np.errstate(invalid="ignore", divide="ignore"):
        per_code = matched / per_code_total
    n = counts.sum()
    return {"accuracy": float(matched.sum() / n), "mapping": mapping.tolist(), "counts": counts,
            "per_code": [float(a) for a in per_code], "purity": float(counts.max(axis=1).sum() / n)}


def code_accuracy(generator, n: int = 10_000, seed: int = 0, classifier=None, batch_size: int = 500) -> dict:
    """How cleanly a generator's categorical code splits the digits, under the shipped classifier.

    Draws z ~ N(0, I) as ``generate_images(generator, n, seed)`` does (the same images),
    reads each sample's code off z and its digit off the classifier, and returns
    ``matching_accuracy(codes, digits)`` plus ``"n"``.
    """
    from ..data import to_uint8_images
    from ..models.layers import latent_codes
    from ..sampling import check_generator
    from .classifier import classifier_probs, load_classifier

    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer (samples to draw), got {n!r}")
    check_generator(generator, "the generator given to code_accuracy")
    layer = _coded_layer(generator)
    classifier = classifier or load_classifier()
    latent_dim = int(generator.inputs[0].shape[-1])
    rng = np.random.default_rng(seed)
    codes, images = [], []
    for start in range(0, n, batch_size):
        z = rng.standard_normal((min(n, start + batch_size) - start, latent_dim)).astype(np.float32)
        images.append(to_uint8_images(np.asarray(generator(z, training=False))))
        codes.append(np.asarray(latent_codes(z, layer.num_codes)))
    digits = classifier_probs(np.concatenate(images), classifier, batch_size=batch_size).argmax(axis=1)
    result = matching_accuracy(np.concatenate(codes), digits, layer.num_codes, 10)
    return {"n": int(n), **result}
