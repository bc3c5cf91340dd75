"""WGAN-GP: a Wasserstein GAN whose critic is kept 1-Lipschitz by a gradient penalty.

The critic D scores images (no sigmoid) and learns to maximise
E_x[D(x)] - E_z[D(G(z))], the Wasserstein-1 distance between the data and the
generator's distribution when D is 1-Lipschitz (Arjovsky et al., 2017). WGAN-GP
(Gulrajani et al., 2017, Algorithm 1) enforces that softly by penalising
gradient norms away from 1 at random interpolates of real and generated images:

    L_D = E_z[D(G(z))] - E_x[D(x)] + lambda * E_x_hat[(||grad D(x_hat)||_2 - 1)^2]
    L_G = -E_z[D(G(z))]

with n_critic = 5 critic updates per generator update and lambda = 10.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ..sampling import find_batch_norms
from . import losses
from .gan import GAN


def batch_norm_layers(model: keras.Model) -> list[str]:
    """Names of the BatchNormalization layers anywhere in ``model`` (nested models included)."""
    return [layer.name for layer in find_batch_norms(model)]


class WGANGP(GAN):
    """WGAN-GP (Gulrajani et al., 2017): a generator against a gradient-penalised critic.

    ``train_step`` is the paper's Algorithm 1: ``d_steps`` (n_critic) critic updates,
    each on a fresh generated batch with its own penalty interpolates, then one
    generator update on fresh z.

    Args:
        generator: z [B, latent_dim] (or ``[z, labels]``) -> images [B, H, W, C] in [-1, 1].
        critic: images (or ``[images, labels]``) -> scores [B, 1] or [B], unbounded.
            No BatchNormalization: use ``build_dcgan_discriminator(norm="layer")`` or ``norm=None``.
        d_steps: critic updates per generator update (n_critic, 5 in the paper).
        gp_weight: the penalty's weight lambda (10 in the paper).
        fresh_real_batches: give each critic update its own real images, as Algorithm 1
            samples a new real batch for each: a dataset batch of N images is cut into
            ``d_steps`` slices of N // d_steps. Build the dataset with ``d_steps`` times
            the batch you want per update. False (default): the updates share the batch.
        **kwargs: ``GAN``'s ``ema_decay``, ``seed``, ``track_grad_norms``.

    Metrics: ``d_loss`` (critic loss with the penalty), ``g_loss``, and averaged over
    the critic updates ``w_distance`` (mean D(x) - mean D(G(z)), the critic's estimate
    of the Wasserstein-1 distance), ``gp`` (the weighted penalty) and ``grad_norm``
    (mean ||grad D(x_hat)||, which the penalty pulls towards 1).

    ``compile()`` defaults to the paper's Adam(1e-4, beta_1=0, beta_2=0.9) for both networks.
    """

    metric_names = ("d_loss", "g_loss", "w_distance", "gp", "grad_norm")
    generator_losses = ("wasserstein",)

    def __init__(self, generator: keras.Model, critic: keras.Model, d_steps: int = 5, gp_weight: float = 10.0,
                 fresh_real_batches: bool = False, **kwargs):
        if kwargs.get("label_smoothing"):
            raise ValueError("label_smoothing applies to the BCE discriminator of gan_utils.GAN; a WGAN-GP "
                             "critic has no labels to smooth: drop the argument")
        if kwargs.setdefault("generator_loss", "wasserstein") != "wasserstein":
            raise ValueError(f"WGANGP trains G with the 'wasserstein' loss, got {kwargs['generator_loss']!r}: a "
                             "critic's scores are not logits, so the minimax and non-saturating losses do not "
                             "apply; use gan_utils.GAN for those")
        found = batch_norm_layers(critic)
        if found:
            raise ValueError(
                f"the critic has BatchNormalization layers {found}. BatchNorm couples the samples of a batch, so "
                "each score depends on the whole batch and the gradient penalty, which needs each sample's own "
                "gradient, is no longer per-sample (Gulrajani et al., 2017, sec. 4). Build the critic with "
                "build_dcgan_discriminator(norm='layer') or norm=None, or use LayerNormalization")
        if not isinstance(fresh_real_batches, bool):
            raise ValueError(f"fresh_real_batches must be True or False, got {fresh_real_batches!r}")
        super().__init__(generator, critic, d_steps=d_steps, **kwargs)
        self.gp_weight = losses.check_penalty_weight(gp_weight)
        self.fresh_real_batches = fresh_real_batches

    @property
    def critic(self) -> keras.Model:
        """The critic (``self.discriminator`` under its WGAN name)."""
        return self.discriminator

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """``GAN.compile`` with the paper's defaults: Adam(1e-4, beta_1=0, beta_2=0.9) for each network."""
        super().compile(d_optimizer or keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9),
                        g_optimizer or keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.9), **kwargs)

    def train_step(self, data):
        real, labels = self.unpack_batch(data)
        # Algorithm 1, lines 2-10: n_critic critic updates, each on its own generated batch.
        for real_i, labels_i in self.critic_batches(real, labels):
            z = self.sample_latent(tf.shape(real_i)[0])
            self.discriminator_update(real_i, self.generate(z, labels_i, training=True), labels_i, z)
        # Lines 11-12: one generator update on fresh z, through the updated critic.
        z = self.sample_latent(tf.shape(real_i)[0])
        with tf.GradientTape() as tape:
            g_loss = self.generator_loss(real_i, self.generate(z, labels_i, training=True), labels_i, z)
        self.generator_update(tape, g_loss)
        return self.metric_results()

    def discriminator_loss(self, real, fake, labels=None, z=None) -> tf.Tensor:
        """E[D(G(z))] - E[D(x)] + lambda * E[(||grad D(x_hat)||_2 - 1)^2]: a float32 scalar."""
        real_scores = self.discriminate(real, labels, training=True)
        fake_scores = self.discriminate(fake, labels, training=True)
        penalty, norms = losses.gradient_penalty(self.critic, real, fake, labels, weight=self.gp_weight,
                                                 seed=self.next_seed(), return_norms=True)
        loss = losses.critic_loss_wasserstein(real_scores, fake_scores) + penalty
        self.track(w_distance=tf.reduce_mean(real_scores) - tf.reduce_mean(fake_scores), gp=penalty,
                   grad_norm=tf.reduce_mean(norms))
        return loss

    def critic_batches(self, real, labels) -> list[tuple]:
        """The (real images, labels) of each critic update: the batch ``d_steps`` times, or its slices."""
        if not self.fresh_real_batches:
            return [(real, labels)] * self.d_steps
        real = tf.convert_to_tensor(real)
        labels = None if labels is None else tf.convert_to_tensor(labels)
        message = (f"fresh_real_batches cuts each dataset batch into d_steps={self.d_steps} slices, but a batch "
                   f"held fewer than {self.d_steps} images: build the dataset with d_steps times the batch size of "
                   "one update (Recipe.dataset_batch_size)")
        if real.shape[0] is not None and real.shape[0] < self.d_steps:
            raise ValueError(f"{message}; got a batch of {real.shape[0]}")  # known when traced: fail now
        size = tf.shape(real)[0] // self.d_steps
        with tf.control_dependencies([tf.debugging.assert_positive(size, message=message)]):
            size = tf.identity(size)
        return [(real[i * size:(i + 1) * size], None if labels is None else labels[i * size:(i + 1) * size])
                for i in range(self.d_steps)]


def critic_gradient_norms(critic, real, fake, labels=None, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """Per-sample ||grad D(x_hat)||_2 at random interpolates x_hat of real and fake (for a histogram).

    The gradient penalty pulls these towards 1; a 1-Lipschitz critic keeps them <= 1.

    Args:
        critic: images (or ``[images, labels]``) -> scores [B, 1] or [B].
        real: float32 [N, H, W, C] in [-1, 1].
        fake: float32 [N, H, W, C] in [-1, 1], as many as ``real``.
        labels: int [N] for a conditional critic, else None.
        seed: seed of epsilon ~ U[0, 1] (the same seed gives the same interpolates).
        batch_size: samples per critic call.

    Returns:
        float32 [N] gradient norms.
    """
    from ..data import to_float_images

    real, fake = to_float_images(real), to_float_images(fake)  # uint8 [0, 255] -> [-1, 1]; checks the range
    if real.ndim < 2 or real.shape != fake.shape:
        raise ValueError(f"real and fake must be batches of the same shape [N, ...]; got {real.shape} and {fake.shape}")
    if labels is not None and len(labels) != len(real):
        raise ValueError(f"pass one label per image: {len(labels)} labels for {len(real)} images")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    norms = []
    for i, start in enumerate(range(0, len(real), batch_size)):
        part = slice(start, start + batch_size)
        _, n = losses.gradient_penalty(
            critic, real[part], fake[part], None if labels is None else np.asarray(labels[part]),
            seed=tf.constant([seed, i], tf.int64), training=False, return_norms=True,
        )
        norms.append(n.numpy())
    return np.concatenate(norms) if norms else np.zeros([0], np.float32)


class WassersteinMonitor(keras.callbacks.Callback):
    """Every ``every`` train steps, the critic's Wasserstein estimate on fixed held-out data and the sample quality.

    Records, in ``self.records`` (a dict of lists): ``step`` (generator updates so
    far), ``w_estimate`` = mean D(x) over ``real`` minus mean D(G(z)) over a fixed
    noise batch (live generator, ``training=False``), and ``score``, the
    classifier score of the sampling generator's images for the same noise. With
    held-out real images (e.g. the test set) this shows whether the critic's
    estimate falls as the samples get better. Records run inside the epoch, so
    their time counts in the history's ``seconds``: keep them sparse (each
    costs a few generator, critic and classifier passes over ``real``).
    Unconditional GANs only. Works with any ``GAN`` (it reads ``discriminator``).

    Args:
        real: float32 [N, H, W, C] in [-1, 1] (or uint8), real images the critic did not train on.
        every: steps between records.
        seed: seed of the fixed noise.
    """

    def __init__(self, real, every: int = 200, seed: int = 0):
        super().__init__()
        from ..data import to_float_images

        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.real = to_float_images(real)
        self.every = every
        self.seed = seed
        self.records: dict[str, list[float]] = {"step": [], "w_estimate": [], "score": []}
        self._classifier = None
        self._last = None

    def on_train_begin(self, logs=None):
        if self.model.conditional:
            raise ValueError("WassersteinMonitor supports unconditional GANs only: it draws G(z) without labels. "
                             "Leave it out of a conditional run")
        if self._last is None:
            self._last = int(self.model.g_optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        # Compare with the last record rather than test step % every, so that runs with
        # steps_per_execution > 1 (several steps between two callbacks) are recorded too.
        step = int(self.model.g_optimizer.iterations.numpy())
        if step - self._last >= self.every:
            self._last = step
            self.record(step)

    def record(self, step: int) -> None:
        from ..evaluation.classifier import classifier_probs, classifier_score, load_classifier

        gan = self.model
        if self._classifier is None:
            self._classifier = load_classifier()
            self._noise = np.random.default_rng(self.seed).standard_normal(
                (len(self.real), gan.latent_dim)).astype(np.float32)
        fake = gan.generator.predict(self._noise, batch_size=500, verbose=0)
        real_scores = gan.discriminator.predict(self.real, batch_size=500, verbose=0)
        fake_scores = gan.discriminator.predict(fake, batch_size=500, verbose=0)
        samples = gan.sampler.predict(self._noise, batch_size=500, verbose=0)
        self.records["step"].append(step)
        self.records["w_estimate"].append(float(np.mean(real_scores) - np.mean(fake_scores)))
        self.records["score"].append(classifier_score(classifier_probs(samples, self._classifier)))
