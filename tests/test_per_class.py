"""Per-class precision/recall, FID and diversity on cases whose answer is known by hand."""

import numpy as np
import pytest

from gan_utils.evaluation import per_class as pc


def _two_classes(n=60, dim=3, seed=0):
    """Features of two well-separated classes (class 1 shifted by 100 along the first axis) and their labels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2 * n, dim))
    y = np.repeat([0, 1], n)
    x[y == 1, 0] += 100.0
    return x, y


def test_mean_pairwise_distance_by_hand():
    # Corners of a unit square: 4 sides of length 1 and 2 diagonals of sqrt(2), over 6 pairs.
    square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert pc.mean_pairwise_distance(square) == pytest.approx((4 + 2 * np.sqrt(2)) / 6)
    assert pc.mean_pairwise_distance(np.ones((5, 3))) == 0.0


def test_mean_pairwise_distance_subsamples_large_sets():
    x = np.random.default_rng(1).standard_normal((3000, 2))
    assert pc.mean_pairwise_distance(x, max_samples=500) == pytest.approx(pc.mean_pairwise_distance(x), rel=0.05)


def test_identical_sets_score_perfectly_in_every_class():
    x, y = _two_classes()
    result = pc.per_class_metrics(x, y, x, y)
    for name in ("precision", "recall", "diversity"):
        np.testing.assert_allclose(result[name], 1.0)
    np.testing.assert_allclose(result["fid"], 0.0, atol=1e-9)
    assert result["counts"].tolist() == [60, 60]
    assert result["mean"]["recall"] == pytest.approx(1.0)


def test_one_image_per_class_has_no_diversity_and_no_recall():
    # A generator that draws every class right but always the same way: each class is one repeated point,
    # the class mean of the real features. Overall it still "covers" both classes.
    x, y = _two_classes()
    means = np.stack([x[y == c].mean(axis=0) for c in (0, 1)])
    fake_labels = np.repeat([0, 1], 50)
    result = pc.per_class_metrics(x, y, means[fake_labels], fake_labels)
    np.testing.assert_allclose(result["diversity"], 0.0)
    np.testing.assert_allclose(result["recall"], 0.0)   # k-NN balls of radius 0 contain no real sample
    np.testing.assert_allclose(result["precision"], 1.0)  # the class mean lies inside the real manifold
    # With classes ignored the two points are far apart: diversity is no longer 0, but recall still is.
    assert result["overall"]["recall"] == 0.0 and result["overall"]["diversity"] > 0.9


def test_half_of_a_class_missing_halves_its_recall_only():
    # Class 0's real samples sit on two far clusters; the fakes reproduce one of them. Class 1 is reproduced.
    rng = np.random.default_rng(2)
    real0 = np.concatenate([rng.standard_normal((50, 2)), rng.standard_normal((50, 2)) + [0.0, 50.0]])
    real1 = rng.standard_normal((100, 2)) + [50.0, 0.0]
    real, labels = np.concatenate([real0, real1]), np.repeat([0, 1], 100)
    fake, fake_labels = np.concatenate([real0[:50], real1]), np.repeat([0, 1], [50, 100])
    result = pc.per_class_metrics(real, labels, fake, fake_labels)
    assert result["recall"].tolist() == pytest.approx([0.5, 1.0])
    assert result["precision"].tolist() == pytest.approx([1.0, 1.0])
    assert result["diversity"][0] < 0.1  # the real class spans 50 units, its fakes about 1.5
    missed = pc.uncovered(real0, real0[:50])
    assert missed.tolist() == [False] * 50 + [True] * 50  # exactly the cluster the fakes never reach
    assert missed.mean() == pytest.approx(1 - result["recall"][0])


def test_classes_with_too_few_samples_are_nan_and_ignored_by_the_means():
    x, y = _two_classes()
    fake_labels = np.array([0] * 40 + [1] * 2)
    fake = np.concatenate([x[y == 0][:40], x[y == 1][:2]])
    result = pc.per_class_metrics(x, y, fake, fake_labels, num_classes=3)
    assert result["counts"].tolist() == [40, 2, 0]
    assert np.isnan(result["recall"][1:]).all() and np.isnan(result["diversity"][1:]).all()
    assert result["mean"]["precision"] == pytest.approx(result["precision"][0])
    assert np.isfinite(result["fid"][0])


def test_fid_is_nan_when_a_class_has_no_more_samples_than_dimensions():
    x, y = _two_classes(n=60, dim=8)
    result = pc.per_class_metrics(x, y, x[:8], y[:8])  # 8 class-0 fakes in 8 dimensions
    assert np.isnan(result["fid"][0]) and np.isfinite(result["recall"][0])


def test_bad_labels_are_refused_with_the_fix():
    x, y = _two_classes()
    with pytest.raises(ValueError, match="fake_labels must be integers"):
        pc.per_class_metrics(x, y, x, y.astype(float))
    with pytest.raises(ValueError, match="real_labels must be integers"):
        pc.per_class_metrics(x, y[:10], x, y)


def test_unconditional_samples_are_grouped_by_the_classifiers_prediction():
    # Real MNIST test digits as "generated" samples against other test digits: the classifier's
    # predictions almost always equal the labels, so every class is found, with real variety.
    from gan_utils import load_classifier, load_mnist

    _, (x_test, y_test) = load_mnist()
    classifier = load_classifier()
    result = pc.per_class_evaluation(x_test[:300], x_test[300:900], y_test[300:900], classifier=classifier)
    assert result["grouped_by"] == "predicted class"
    assert int(result["counts"].sum()) == 300 and (result["counts"] > 10).all()
    assert 0.7 < result["mean"]["diversity"] < 1.3
    table = pc.format_per_class(result)
    assert table.splitlines()[0].split()[:2] == ["class", "n"] and len(table.splitlines()) == 13
