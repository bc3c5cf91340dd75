"""Loss values against numbers worked out by hand."""

import math

import numpy as np
import pytest

from gan_utils import losses


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_discriminator_loss_at_zero_logits_is_2_log_2():
    # D = 0.5 everywhere: -log(0.5) for the real term plus -log(0.5) for the fake term.
    value = float(losses.discriminator_loss(np.zeros(4), np.zeros(4)))
    assert value == pytest.approx(2 * math.log(2), rel=1e-6)


def test_discriminator_loss_hand_computed():
    real, fake = [2.0, -1.0], [0.5, -3.0]
    expected = -np.mean([math.log(sigmoid(r)) for r in real]) - np.mean([math.log(1 - sigmoid(f)) for f in fake])
    assert float(losses.discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-6)


def test_one_sided_label_smoothing_targets_point_nine():
    real, fake = [1.5], [0.0]
    d = sigmoid(1.5)
    expected = -(0.9 * math.log(d) + 0.1 * math.log(1 - d)) + math.log(2)
    assert float(losses.discriminator_loss(real, fake, label_smoothing=0.1)) == pytest.approx(expected, rel=1e-6)
    # Smoothing leaves the fake term alone: the loss on fakes is unchanged.
    assert float(losses.discriminator_loss([100.0], fake, 0.1)) - float(
        losses.discriminator_loss([100.0], fake, 0.0)
    ) == pytest.approx(0.1 * 100.0, rel=1e-4)


def test_generator_losses_hand_computed():
    fake = [0.3, -2.0]
    ns = -np.mean([math.log(sigmoid(f)) for f in fake])
    mm = np.mean([math.log(1 - sigmoid(f)) for f in fake])
    assert float(losses.generator_loss_non_saturating(fake)) == pytest.approx(ns, rel=1e-6)
    assert float(losses.generator_loss_minimax(fake)) == pytest.approx(mm, rel=1e-6)


def test_gradients_show_saturation():
    """d/dl of the minimax loss is -D (vanishes when D rejects), non-saturating is -(1 - D)."""
    import tensorflow as tf

    logit = tf.Variable([-6.0])
    with tf.GradientTape(persistent=True) as tape:
        mm = losses.generator_loss_minimax(logit)
        ns = losses.generator_loss_non_saturating(logit)
    d = sigmoid(-6.0)
    assert float(tape.gradient(mm, logit)[0]) == pytest.approx(-d, rel=1e-5)
    assert float(tape.gradient(ns, logit)[0]) == pytest.approx(-(1 - d), rel=1e-5)


def test_losses_are_finite_for_extreme_logits():
    big = np.array([1e4, -1e4], np.float32)
    for value in (losses.discriminator_loss(big, big), losses.generator_loss_minimax(big),
                  losses.generator_loss_non_saturating(big)):
        assert np.isfinite(float(value))


def test_float16_logits_give_float32_loss():
    value = losses.discriminator_loss(np.zeros(2, np.float16), np.zeros(2, np.float16))
    assert value.dtype.name == "float32"


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2])
def test_bad_label_smoothing(bad):
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.discriminator_loss([0.0], [0.0], bad)


def test_unknown_generator_loss_lists_choices():
    with pytest.raises(ValueError, match="minimax"):
        losses.get_generator_loss("hinge")
