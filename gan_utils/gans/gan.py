"""The GAN: a generator and a discriminator in one ``keras.Model`` whose ``train_step`` plays the game.

Variants are subclasses that override the loss hooks (``discriminator_loss``,
``generator_loss``), ``discriminate``, or the step itself (``WGANGP``,
``InfoGAN``, ``InstanceNoiseGAN`` ...). Training, checkpoints, sampling and
saving are the same for all of them (``gan_utils.train``).

Keras compiles ``train_step`` into a ``tf.function`` (``fit`` does this). It
pins no device, so the same step runs on a CPU, a GPU, and under a
``tf.distribute`` strategy.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ..models.common import check_positive
from . import losses
from .checks import check_ema_decay, check_pair


class GAN(keras.Model):
    """A generator and a discriminator trained against each other (Goodfellow et al., 2014).

    Each train step makes ``d_steps`` discriminator updates, each against a
    freshly generated batch, then one generator update through the updated D.
    The last D update and the G update share one generated batch, so G runs
    ``d_steps`` times per step, not ``d_steps + 1``.

    Args:
        generator: z float32 [B, latent_dim] (or ``[z, labels]`` for a conditional
            GAN) -> images float32 [B, H, W, C] in [-1, 1].
        discriminator: images (or ``[images, labels]``) -> logits [B, 1] or [B].
        generator_loss: "non_saturating" (default, -log D(G(z))) or "minimax"
            (log(1 - D(G(z))), the game as written).
        label_smoothing: one-sided label smoothing: D's target for real images is
            1 - label_smoothing (Salimans et al., 2016).
        d_steps: discriminator updates per generator update (k in Algorithm 1).
        ema_decay: if set (e.g. 0.999), keep an exponential moving average of G's
            weights in ``ema_generator`` (Yazici et al., 2019); sampling, the per-epoch
            grids and the saved generator use it.
        seed: seed of the model's random numbers (``keras.random.SeedGenerator``;
            its state is saved in checkpoints, so a resumed run continues the stream);
            None draws one from Keras' global seed (``gu.set_seed``).
        track_grad_norms: also record ``d_grad_norm`` and ``g_grad_norm``, the global
            L2 norms of each network's gradients (a diagnostic; off by default, it
            costs time every step).

    Metrics (means over an epoch): ``d_loss`` and ``g_loss`` (what each update minimised:
    the loss hooks' values), ``d_real`` and ``d_fake`` (mean D(x) and D(G(z)) as probabilities).
    A subclass reports more with ``add_metrics`` in ``__init__`` and ``track`` in its hooks.
    """

    metric_names = ("d_loss", "g_loss", "d_real", "d_fake")  # subclasses list their own
    generator_losses = ("non_saturating", "minimax")  # the names ``generator_loss`` accepts

    def __init__(self, generator: keras.Model, discriminator: keras.Model, generator_loss: str = "non_saturating",
                 label_smoothing: float = 0.0, d_steps: int = 1, ema_decay: float | None = None,
                 seed: int | None = None, track_grad_norms: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.image_shape, self.conditional = self.check_networks(generator, discriminator)
        self.generator, self.discriminator = generator, discriminator
        self.generator_loss_fn = losses.get_generator_loss(generator_loss, allowed=self.generator_losses)
        self.label_smoothing = losses.check_label_smoothing(label_smoothing)
        self.d_steps = check_positive("d_steps", d_steps)
        self.ema_decay = check_ema_decay(ema_decay)
        self.ema_generator = None
        if ema_decay is not None:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.track_grad_norms = bool(track_grad_norms)
        self.trackers = {}
        self.add_metrics(*self.metric_names, *(("d_grad_norm", "g_grad_norm") if track_grad_norms else ()))
        self.built = True  # both networks are built: Keras need not trace call() on a batch

    def check_networks(self, generator: keras.Model, discriminator: keras.Model) -> tuple:
        """``(latent_dim, image_shape, conditional)`` of a pair that fits this GAN, or a ValueError.

        The base GAN takes z (and labels) to images and images (and labels) to one logit
        each (``checks.check_pair``); a subclass whose networks take other inputs checks its own.
        """
        return check_pair(generator, discriminator)

    # ------------------------------------------------------------------ the step
    def train_step(self, data):
        real, labels = self.unpack_batch(data)
        n = tf.shape(real)[0]
        # 1) Discriminator: tell real images from generated ones, d_steps times.
        for _ in range(self.d_steps - 1):
            z = self.sample_latent(n)
            self.discriminator_update(real, self.generate(z, labels, training=True), labels, z)
        z = self.sample_latent(n)
        with tf.GradientTape() as tape:
            fake = self.generate(z, labels, training=True)
            with tape.stop_recording():  # the last D update learns from the batch G's update uses
                self.discriminator_update(real, fake, labels, z)
            # 2) Generator: make the updated discriminator call G(z) real.
            g_loss = self.generator_loss(real, fake, labels, z)
        self.generator_update(tape, g_loss)
        return self.metric_results()

    def discriminator_update(self, real, fake, labels=None, z=None) -> None:
        """One optimiser step of D on a real batch and a generated one."""
        fake = tf.stop_gradient(fake)
        with tf.GradientTape() as tape:
            d_loss = self.discriminator_loss(real, fake, labels, z)
        self.apply_gradients(self.d_optimizer, tape, d_loss, self.discriminator_variables, "d_grad_norm")
        self.track(d_loss=d_loss)

    def generator_update(self, tape, g_loss) -> None:
        """One optimiser step of G on ``g_loss`` recorded on ``tape``, then the moving average of G."""
        self.apply_gradients(self.g_optimizer, tape, g_loss, self.generator.trainable_variables, "g_grad_norm")
        self.track(g_loss=g_loss)
        if self.ema_generator is not None:
            self.update_ema()

    # ------------------------------------------------------------- loss hooks
    def discriminator_loss(self, real, fake, labels=None, z=None) -> tf.Tensor:
        """-[log D(x) + log(1 - D(G(z)))], averaged over the batch: a float32 scalar."""
        real_logits = self.discriminate(real, labels, training=True)
        fake_logits = self.discriminate(fake, labels, training=True)
        self.track(d_real=tf.reduce_mean(tf.sigmoid(real_logits)), d_fake=tf.reduce_mean(tf.sigmoid(fake_logits)))
        return losses.discriminator_loss(real_logits, fake_logits, self.label_smoothing)

    def generator_loss(self, real, fake, labels=None, z=None) -> tf.Tensor:
        """The generator loss chosen at construction, on D's logits for G(z): a float32 scalar."""
        return self.generator_loss_fn(self.discriminate(fake, labels, training=True))

    # ------------------------------------------------------ the two networks
    def sample_latent(self, batch_size) -> tf.Tensor:
        """z ~ N(0, I): float32 [batch_size, latent_dim], from the model's seed generator."""
        return tf.random.stateless_normal((batch_size, self.latent_dim), seed=self.next_seed())

    def generate(self, z, labels=None, training: bool = False, model: keras.Model | None = None) -> tf.Tensor:
        """G(z), or G(z, y) when conditional: float32 [B, H, W, C] (``model`` defaults to the live generator)."""
        model = self.generator if model is None else model
        if not hasattr(z, "shape"):
            z = np.asarray(z, np.float32)
        if len(z.shape) != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must be float32 [B, latent_dim] = [B, {self.latent_dim}] for this GAN, got shape "
                             f"{tuple(z.shape)}; draw it with gan.sample_latent(B)")
        if self.conditional:
            if labels is None:
                raise ValueError("this GAN is conditional: pass labels (int32 [B]) to generate()")
            return model([z, labels], training=training)
        return model(z, training=training)

    def discriminate(self, images, labels=None, training: bool = False) -> tf.Tensor:
        """D's logits, float32 [B]."""
        logits = self.discriminator([images, labels] if self.conditional else images, training=training)
        return tf.reshape(tf.cast(logits, tf.float32), [-1])

    def call(self, inputs, training: bool = False):
        """Generate images: ``inputs`` is z (or ``[z, labels]`` when conditional)."""
        return self.generator(inputs, training=training)

    @property
    def sampler(self) -> keras.Model:
        """The generator that samples and is saved: the EMA copy if there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    @property
    def discriminator_variables(self) -> list:
        """What D's optimiser trains (subclasses add heads that train with D)."""
        return self.discriminator.trainable_variables

    # ------------------------------------------------------------- plumbing
    def compile(self, d_optimizer=None, g_optimizer=None, jit_compile: bool = False, steps_per_execution: int = 1,
                **kwargs):
        """Attach the two optimisers (Adam(2e-4, beta_1=0.5) each by default, as in DCGAN).

        Under the ``mixed_float16`` policy each is wrapped in a ``LossScaleOptimizer``.
        ``steps_per_execution`` runs several train steps per compiled call;
        ``jit_compile`` compiles the step with XLA.
        """
        unused = sorted(set(kwargs) & {"optimizer", "loss", "metrics", "loss_weights", "weighted_metrics"})
        if unused:
            raise ValueError(f"GAN.compile does not take {unused}: pass d_optimizer=... and g_optimizer=...; the "
                             "losses are the loss hooks, and a subclass adds metrics with self.add_metrics(...)")
        super().compile(jit_compile=jit_compile, steps_per_execution=steps_per_execution, **kwargs)
        d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        if d_optimizer is g_optimizer:
            raise ValueError("pass two separate optimizer objects: D and G keep separate state")
        if "float16" in (self.generator.dtype_policy.compute_dtype, self.discriminator.dtype_policy.compute_dtype):
            d_optimizer, g_optimizer = _loss_scaled(d_optimizer), _loss_scaled(g_optimizer)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        # Create the optimiser slots now, so a checkpoint can be restored before the first step.
        self.d_optimizer.build(self.discriminator_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def unpack_batch(self, data) -> tuple:
        """(images, labels or None) from a batch of images or (images, labels)."""
        real, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.conditional and labels is None:
            raise ValueError("a conditional GAN trains on (images, labels) batches; got images only")
        return real, labels

    def apply_gradients(self, optimizer, tape, loss, variables, norm_metric: str) -> None:
        """Differentiate ``loss`` on ``tape`` and take one optimiser step on ``variables``.

        Under tf.distribute each replica's loss is divided by the replica count (the
        gradients are summed over replicas); under mixed float16 the loss is scaled.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        upstream = tf.cast(optimizer.scale_loss(1.0), loss.dtype) / replicas  # d(scaled loss) / d(loss)
        grads = tape.gradient(loss, variables, output_gradients=upstream)
        if self.track_grad_norms:
            self.track(**{norm_metric: _global_norm(grads, optimizer) * replicas})
        optimizer.apply_gradients(zip(grads, variables))

    def update_ema(self) -> None:
        """ema <- d * ema + (1 - d) * w, with d warmed up as min(decay, (1 + t) / (10 + t))."""
        t = tf.cast(self.g_optimizer.iterations, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
        for ema, w in zip(self.ema_generator.trainable_variables, self.generator.trainable_variables):
            ema.assign(decay * ema + (1.0 - decay) * tf.cast(w, ema.dtype))
        for ema, w in zip(self.ema_generator.non_trainable_variables, self.generator.non_trainable_variables):
            ema.assign(w)  # BatchNorm statistics are not trained by gradients: copy them

    def next_seed(self) -> tf.Tensor:
        """A fresh stateless seed, int64 [2] (advances the seed generator); each replica gets its own."""
        seed = tf.cast(self.seed_generator.next(), tf.int64)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            # Mix the replica id in (adding it would give replica r at step t the seed of replica 0 at step t + r).
            seed = tf.random.experimental.stateless_fold_in(seed, context.replica_id_in_sync_group)
        return seed

    def add_metrics(self, *names: str) -> None:
        """Create a ``keras.metrics.Mean`` for each name (subclasses add their own)."""
        for name in names:
            self.trackers.setdefault(name, keras.metrics.Mean(name=name))

    def track(self, **values) -> None:
        """Add each value to the metric of the same name."""
        for name, value in values.items():
            if name not in self.trackers:
                raise ValueError(f"{type(self).__name__} tracked {name!r} but has no metric of that name: call "
                                 f"self.add_metrics({name!r}) in __init__ (has {sorted(self.trackers)})")
            self.trackers[name].update_state(value)

    def metric_results(self) -> dict:
        """What ``train_step`` returns: each metric's value (float32 scalars).

        Across several machines each value is a vector [1]: Keras averages a multi-worker
        step's outputs with ``strategy.reduce("MEAN", v, axis=0)``, which needs an axis to
        reduce (on scalars it fails with "Invalid reduction dimension 0 for input with 0
        dimensions", tensorflow/tensorflow issue 72388); the logs are scalars again after that reduction.
        """
        results = {name: m.result() for name, m in self.trackers.items()}
        if _multi_worker(tf.distribute.get_strategy()):
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    @property
    def metrics(self):
        return list(self.trackers.values())

    def checkpoint_items(self) -> dict:
        """Everything a resumed run needs, by name (``tf.train.Checkpoint`` keywords; see ``training.checkpoints``)."""
        items = {"generator": self.generator, "discriminator": self.discriminator, "g_optimizer": self.g_optimizer,
                 "d_optimizer": self.d_optimizer, "seed_generator": self.seed_generator.state}
        if self.ema_generator is not None:
            items["ema_generator"] = self.ema_generator
        return items


def _multi_worker(strategy) -> bool:
    """Whether ``strategy`` spans several worker processes (a ``MultiWorkerMirroredStrategy`` given a cluster)."""
    in_mode = getattr(strategy.extended, "_in_multi_worker_mode", None)
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(in_mode and in_mode())


def _global_norm(grads, optimizer) -> tf.Tensor:
    """||grad||_2 over all of a network's weights, unscaled (non-finite steps the loss scaler skips count as 0).

    Under tf.distribute this is each replica's own gradient (averaged over replicas by the
    metric), not the norm of the summed one: no extra all-reduce.
    """
    norm = tf.linalg.global_norm([tf.cast(g, tf.float32) for g in grads if g is not None])
    norm = norm / tf.cast(optimizer.scale_loss(1.0), tf.float32)
    return tf.where(tf.math.is_finite(norm), norm, 0.0)


def _loss_scaled(optimizer):
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)
