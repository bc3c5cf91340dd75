"""GAN losses, written on discriminator logits.

Notation: D(x) = sigmoid(l) where l is the discriminator's logit. Every loss is
a mean over the batch and is computed in float32, also under mixed precision.

References:
    Goodfellow et al., 2014, "Generative Adversarial Nets" (minimax and
    non-saturating losses). Salimans et al., 2016, "Improved Techniques for
    Training GANs" (one-sided label smoothing).
"""

from __future__ import annotations

import tensorflow as tf


def _f32(x) -> tf.Tensor:
    return tf.cast(x, tf.float32)


def discriminator_loss(real_logits, fake_logits, label_smoothing: float = 0.0) -> tf.Tensor:
    """Binary cross-entropy of the discriminator, on logits.

    L_D = -E_x[t log D(x) + (1 - t) log(1 - D(x))] - E_z[log(1 - D(G(z)))]

    with target t = 1 - label_smoothing for real images (one-sided label
    smoothing; fake targets stay 0). Uses log D = -softplus(-l) and
    log(1 - D) = -softplus(l), which are exact and never overflow.

    Args:
        real_logits: float [B] or [B, 1], logits on real images.
        fake_logits: float [B] or [B, 1], logits on generated images.
        label_smoothing: in [0, 1); 0.1 gives real targets of 0.9.

    Returns:
        Scalar float32: the mean real term plus the mean fake term.
    """
    if not 0.0 <= float(label_smoothing) < 1.0:
        raise ValueError(
            f"label_smoothing must be in [0, 1), got {label_smoothing}; 0.1 is the usual choice"
        )
    real, fake = _f32(real_logits), _f32(fake_logits)
    target = 1.0 - float(label_smoothing)
    real_term = target * tf.nn.softplus(-real) + (1.0 - target) * tf.nn.softplus(real)
    fake_term = tf.nn.softplus(fake)
    return tf.reduce_mean(real_term) + tf.reduce_mean(fake_term)


def generator_loss_non_saturating(fake_logits) -> tf.Tensor:
    """Non-saturating generator loss: L_G = -E_z[log D(G(z))] = E[softplus(-l)].

    Its gradient with respect to the logit is -(1 - D(G(z))): large when the
    discriminator confidently rejects the fakes, which is the case early on.
    """
    return tf.reduce_mean(tf.nn.softplus(-_f32(fake_logits)))


def generator_loss_minimax(fake_logits) -> tf.Tensor:
    """Minimax (saturating) generator loss: L_G = E_z[log(1 - D(G(z)))] = -E[softplus(l)].

    The generator minimises this, i.e. it plays the original minimax game. Its
    gradient with respect to the logit is -D(G(z)): close to 0 when the
    discriminator confidently rejects the fakes, so learning stalls early.
    """
    return -tf.reduce_mean(tf.nn.softplus(_f32(fake_logits)))


GENERATOR_LOSSES = {
    "non_saturating": generator_loss_non_saturating,
    "minimax": generator_loss_minimax,
}


def get_generator_loss(name: str):
    """Look a generator loss up by name (see ``GENERATOR_LOSSES``)."""
    try:
        return GENERATOR_LOSSES[name]
    except KeyError:
        raise ValueError(
            f"unknown generator loss {name!r}; choose one of {sorted(GENERATOR_LOSSES)}"
        ) from None
