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
