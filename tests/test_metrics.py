"""Classifier score and class fractions on inputs with known answers; the shipped classifier."""

import numpy as np
import pytest

from gan_utils import class_fractions, classifier_score


def test_confident_and_balanced_scores_the_number_of_classes():
    probs = np.eye(10)[np.arange(1000) % 10]
    assert classifier_score(probs) == pytest.approx(10.0, rel=1e-6)


def test_one_class_only_scores_one():
    probs = np.tile(np.eye(10)[3], (50, 1))
    assert classifier_score(probs) == pytest.approx(1.0, rel=1e-6)


def test_uniform_predictions_score_one():
    assert classifier_score(np.full((20, 10), 0.1)) == pytest.approx(1.0, rel=1e-6)


def test_two_confident_classes_score_two():
    probs = np.eye(10)[np.arange(100) % 2]
    assert classifier_score(probs) == pytest.approx(2.0, rel=1e-6)


def test_hand_computed_mixture():
    # Two samples: p1 = (0.9, 0.1), p2 = (0.1, 0.9); marginal (0.5, 0.5).
    p = np.array([[0.9, 0.1], [0.1, 0.9]])
    kl = 0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5)
    assert classifier_score(p) == pytest.approx(np.exp(kl), rel=1e-9)


def test_class_fractions():
    probs = np.eye(4)[[0, 0, 1, 3]]
    np.testing.assert_allclose(class_fractions(probs), [0.5, 0.25, 0, 0.25])


@pytest.mark.parametrize("bad", [np.zeros((0, 10)), np.ones(10), np.full((3, 10), 0.5), -np.eye(3)])
def test_bad_probabilities(bad):
    with pytest.raises(ValueError, match="probs"):
        classifier_score(bad)


def test_shipped_classifier_recognises_real_digits():
    """The shipped weights load and classify real test digits (uint8 and [-1, 1] inputs agree)."""
    from gan_utils import classifier_probs, load_classifier, load_mnist, to_float_images

    _, (x_test, y_test) = load_mnist()
    clf = load_classifier()
    p_uint8 = classifier_probs(x_test[:1000], clf)
    p_float = classifier_probs(to_float_images(x_test[:1000]), clf)
    np.testing.assert_allclose(p_uint8, p_float, atol=1e-5)
    assert (p_uint8.argmax(1) == y_test[:1000]).mean() >= 0.98
    assert classifier_score(p_uint8) > 9.0


def test_classifier_rejects_other_image_sizes():
    from gan_utils import classifier_probs

    with pytest.raises(ValueError, match="28, 28, 1"):
        classifier_probs(np.zeros((2, 32, 32, 1), np.uint8))


@pytest.mark.parametrize("scale", [255.0, 2.0])
def test_float_images_outside_minus_one_one_are_refused(scale):
    from gan_utils import classifier_probs

    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        classifier_probs(np.full((2, 28, 28, 1), scale, np.float32) * np.linspace(0, 1, 28)[:, None])


def test_kl_to_uniform_by_hand():
    from gan_utils import kl_to_uniform

    assert kl_to_uniform(np.full(10, 0.1)) == pytest.approx(0.0, abs=1e-12)
    assert kl_to_uniform(np.eye(10)[4]) == pytest.approx(np.log(10), rel=1e-12)
    # Half the samples in each of two classes out of four: sum 0.5 log(4 * 0.5) * 2 = log 2.
    assert kl_to_uniform([0.5, 0.5, 0.0, 0.0]) == pytest.approx(np.log(2), rel=1e-12)
    with pytest.raises(ValueError, match="histogram"):
        kl_to_uniform([0.5, 0.6])


def test_classifier_outputs_are_the_penultimate_layer_and_the_same_probabilities():
    from gan_utils import classifier_outputs, classifier_probs, load_classifier, load_mnist

    _, (x_test, _) = load_mnist()
    clf = load_classifier()
    features, probs = classifier_outputs(x_test[:64], clf)
    assert features.shape == (64, 128) and features.dtype == np.float64 and features.min() >= 0  # ReLU
    np.testing.assert_allclose(probs, classifier_probs(x_test[:64], clf), atol=1e-6)
    # The logits are the last Dense layer applied to these features.
    w, b = clf.get_layer("logits").get_weights()
    logits = features @ w + b
    np.testing.assert_allclose(probs, np.exp(logits) / np.exp(logits).sum(1, keepdims=True), atol=1e-4)


@pytest.fixture(scope="module")
def small_reference():
    from gan_utils import Reference

    return Reference.mnist(n_reference=400, n_train=3000)


def test_a_partial_reference_is_a_seeded_sample_of_both_halves_of_the_test_set(small_reference):
    from gan_utils import Reference, load_mnist

    _, (x_test, _) = load_mnist()
    where = {x.tobytes(): i for i, x in enumerate(x_test)}
    index = np.array([where[image.tobytes()] for image in small_reference.images[..., 0]])
    assert len(set(index)) == 400 and np.all(np.diff(index) > 0)
    # MNIST's first 5,000 test digits are the cleaner half: the first 400 would all come from it.
    assert 150 < np.sum(index >= 5000) < 250
    again = Reference.mnist(n_reference=400, n_train=10, classifier=small_reference.classifier)
    np.testing.assert_array_equal(again.images, small_reference.images)
    other = Reference.mnist(n_reference=400, n_train=10, classifier=small_reference.classifier, seed=1)
    assert not np.array_equal(other.images, small_reference.images)


def test_the_reference_images_score_perfectly_against_themselves(small_reference):
    from gan_utils import evaluate_samples

    row = evaluate_samples(small_reference.images, small_reference, memorise=False)
    assert row["fid"] == pytest.approx(0.0, abs=1e-6)
    assert row["precision"] == row["recall"] == row["coverage"] == 1.0
    # The same images on both sides: the unbiased estimate counts the k(x_i, x_i) terms only in the cross term,
    # so it comes out below 0 (the estimator treats the two sets as independent samples).
    assert row["kid"] < 0


def test_training_images_are_flagged_as_copies(small_reference):
    from gan_utils import evaluate_samples, load_mnist

    copies = small_reference.train_images[:300]
    row = evaluate_samples(copies, small_reference)
    assert row["memorisation_ratio"] == 0.0 and row["copies"] == 1.0
    _, (x_test, _) = load_mnist()
    in_reference = {image.tobytes() for image in small_reference.images[..., 0]}
    held_out = np.array([x for x in x_test if x.tobytes() not in in_reference][:300])  # test digits not in it
    fresh = evaluate_samples(held_out, small_reference)
    assert 0.85 < fresh["memorisation_ratio"] < 1.15 and fresh["copies"] < 0.05


def test_conditional_rows_carry_label_accuracy_and_the_table_prints_it(small_reference):
    from gan_utils import evaluate_real_floor, evaluate_samples, format_table, load_mnist

    _, (x_test, y_test) = load_mnist()
    row = evaluate_samples(x_test[:200], small_reference, labels=y_test[:200].astype(np.int32), memorise=False)
    assert row["fid"] is not None and row["label_accuracy"] > 0.95 and len(row["label_accuracy_per_class"]) == 10
    small = evaluate_samples(x_test[:100], small_reference, memorise=False)
    assert small["fid"] is None  # 100 samples <= 128 feature dimensions: FID is undefined, KID still works
    floor = evaluate_real_floor(small_reference, 200)
    table = format_table({"labelled": row, "tiny": small, "floor": floor})
    lines = table.splitlines()
    assert len(lines) == 4 and "label acc" in lines[0]
    assert "%" in lines[1] and lines[2].split()[2] == "-"  # tiny: no FID
    md = format_table({"floor": floor}, markdown=True)
    assert md.startswith("| run | N | FID") and md.count("\n") == 2
