"""Two remedies for an unstable GAN (notebook 06), each a small subclass of ``GAN`` that owns its code.

- ``InstanceNoiseGAN``: D sees every image with Gaussian noise (Sønderby et al., 2017;
  Arjovsky & Bottou, 2017), so the real and generated distributions overlap.
- ``FeatureMatchingGAN``: G matches D's mean features on real images instead of
  maximising D's output (Salimans et al., 2016, sec. 3.1).
"""

from __future__ import annotations

import numbers

import keras
import tensorflow as tf

from . import losses
from .gan import GAN


class InstanceNoiseGAN(GAN):
    """A GAN whose discriminator sees every image, real or generated, plus N(0, sigma_t^2) noise in training.

    Args:
        generator, discriminator: as for ``GAN``.
        noise_std: sigma_0, in the units of images in [-1, 1]; 0.1 to 0.5 is a useful range.
        decay_steps: anneal sigma linearly to 0 over this many generator updates
            (``sigma_t = sigma_0 * max(0, 1 - t / decay_steps)``); None keeps it constant.
        **kwargs: ``GAN``'s other arguments.

    Metric ``instance_noise``: sigma_t, averaged over the epoch.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, noise_std: float = 0.1,
                 decay_steps: int | None = None, **kwargs):
        if isinstance(noise_std, bool) or not isinstance(noise_std, numbers.Real) or not (
                0.0 < float(noise_std) < float("inf")):
            raise ValueError(f"noise_std is the std of the Gaussian noise added to D's inputs, a number > 0 (images "
                             f"are in [-1, 1]: try 0.1 to 0.5); got {noise_std!r}")
        if decay_steps is not None and (isinstance(decay_steps, bool) or not isinstance(decay_steps, numbers.Integral)
                                        or decay_steps < 1):
            raise ValueError(f"decay_steps must be a positive integer (the generator updates over which the noise "
                             f"falls to 0) or None (constant noise); got {decay_steps!r}")
        super().__init__(generator, discriminator, **kwargs)
        self.noise_std = float(noise_std)
        self.decay_steps = None if decay_steps is None else int(decay_steps)
        self.add_metrics("instance_noise")

    def current_noise_std(self) -> tf.Tensor:
        """sigma_t, float32 scalar; t is ``g_optimizer.iterations`` (saved in checkpoints, so resume continues it)."""
        sigma = tf.constant(self.noise_std, tf.float32)
        if self.decay_steps is None:
            return sigma
        t = tf.cast(self.g_optimizer.iterations, tf.float32)
        return sigma * tf.maximum(0.0, 1.0 - t / self.decay_steps)

    def discriminate(self, images, labels=None, training: bool = False) -> tf.Tensor:
        """D's logits on ``images + sigma_t * eps`` in training (eps ~ N(0, I)), on the images otherwise."""
        if training:
            sigma = self.current_noise_std()
            self.track(instance_noise=sigma)
            images = tf.convert_to_tensor(images)
            eps = tf.random.stateless_normal(tf.shape(images), seed=self.next_seed())
            images = images + tf.cast(sigma * eps, images.dtype)
        return super().discriminate(images, labels, training)


class FeatureMatchingGAN(GAN):
    """A GAN whose generator minimises ||E_x f(x) - E_z f(G(z))||_2^2, f an intermediate layer of D.

    Args:
        generator, discriminator: as for ``GAN``.
        feature_layer: name of D's layer whose output is f; None picks
            ``losses.default_feature_layer`` (the input of D's final Dense).
        **kwargs: ``GAN``'s other arguments (its ``generator_loss`` is not used).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, feature_layer: str | None = None,
                 **kwargs):
        if "generator_loss" in kwargs:
            raise ValueError("FeatureMatchingGAN's generator loss is feature matching: drop generator_loss, or use "
                             "gan_utils.GAN for the logit losses")
        super().__init__(generator, discriminator, **kwargs)
        self.feature_extractor = losses.feature_extractor(discriminator, feature_layer)

    def discriminator_features(self, images, labels=None, training: bool = False) -> tf.Tensor:
        """f(x): float32 [B, ...]."""
        inputs = [images, labels] if self.conditional else images
        return tf.cast(self.feature_extractor(inputs, training=training), tf.float32)

    def generator_loss(self, real, fake, labels=None, z=None) -> tf.Tensor:
        real_features = tf.stop_gradient(self.discriminator_features(real, labels, training=True))
        return losses.feature_matching_loss(real_features, self.discriminator_features(fake, labels, training=True))
