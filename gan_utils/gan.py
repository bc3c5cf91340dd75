"""The GAN model: one ``keras.Model`` whose ``train_step`` plays the game.

Variants (DCGAN, conditional, WGAN-GP) differ in the networks they are given
and in the two loss hooks, ``discriminator_loss`` and ``generator_loss``; the
train step, the optimisers, the metrics and the training plumbing are shared.

The train step is compiled by Keras into a ``tf.function`` (``model.fit``
does this); it pins no device, so it runs unchanged on CPU, GPU and under a
``tf.distribute`` strategy.
"""

from __future__ import annotations

import inspect
import numbers

import keras
import numpy as np
import tensorflow as tf

from . import infogan, losses
from .layers import latent_codes


def _input_dims(model: keras.Model, role: str) -> list[tuple]:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            f"the {role} has no defined inputs; build it with keras.Input(...) "
            "(a functional model, or Sequential starting with keras.Input) before passing it to GAN"
        )
    return [tuple(t.shape) for t in inputs]


class GAN(keras.Model):
    """A generator and a discriminator trained against each other.

    Each train step: ``d_steps`` discriminator updates on a real batch and a
    freshly generated batch, then one generator update through the updated D.
    By default the ``d_steps`` updates share the dataset's batch; with
    ``fresh_real_batches`` each reads its own slice of it.
    The generator update reuses the generated batch (the same z) of the last
    discriminator update, so each step runs G forward ``d_steps`` times, not
    ``d_steps + 1`` (as the PyTorch DCGAN example does).

    Args:
        generator: z float32 [B, latent_dim] -> images float32 [B, H, W, C] in
            [-1, 1]; a conditional generator takes ``[z, labels]``.
        discriminator: images -> logits [B, 1] (or [B]); a conditional one
            takes ``[images, labels]``.
        generator_loss: "non_saturating" (default), "minimax" or "feature_matching"
            (Salimans et al., 2016: G matches D's mean features on real images,
            ``||E f(x) - E f(G(z))||^2``, with f the layer ``feature_layer``).
        label_smoothing: one-sided label smoothing for real targets (0.1 -> 0.9;
            Salimans et al., 2016).
        d_steps: discriminator updates per generator update (static, unrolled
            inside the compiled step).
        fresh_real_batches: give each of the ``d_steps`` D updates its own real images,
            as WGAN-GP's Algorithm 1 draws a new real batch for each critic update
            (Gulrajani et al., 2017): a dataset batch of N images is cut into ``d_steps``
            consecutive slices of N // d_steps (the remainder, fewer than ``d_steps``
            images, is left out), and every update, the G update included, uses batches
            of that size. Build the dataset with ``d_steps`` times the batch size you
            want per update (``Recipe.dataset_batch_size`` does); an epoch then has
            ``d_steps`` times fewer steps. False (default): every D update of a step
            sees the whole dataset batch.
        seed: seed of the latent sampler (a ``keras.random.SeedGenerator``,
            whose state is saved in checkpoints).
        ema_decay: if set (e.g. 0.999), keep an exponential moving average of
            the generator's weights (Karras et al., 2018; Yazici et al., 2019)
            in ``ema_generator``; sampling, grids and the saved generator use it.
        instance_noise: std sigma_0 of Gaussian noise added to every image D sees
            in training, real and generated, in D's and G's updates (Sønderby et
            al., 2017; Arjovsky & Bottou, 2017): it makes the two distributions
            overlap, so D cannot separate them perfectly and G's gradient stays
            informative. Images are in [-1, 1]; 0.1 to 0.5 is a useful range, 0 is off.
        instance_noise_decay_steps: anneal sigma linearly to 0 over this many
            generator updates (train steps), see ``instance_noise_std``; None
            keeps it constant.
        feature_layer: name of D's layer whose output is f for feature matching;
            None picks ``losses.default_feature_layer`` (the input of D's final Dense).
        track_grad_norms: record ``d_grad_norm`` and ``g_grad_norm``, the global L2
            norms of D's and G's gradients, averaged over the epoch's updates.
        bn_recalibration: with ``ema_decay``, a number of samples (e.g. 4096): at the
            end of every epoch of ``gan_utils.train`` (before its grids, scores and
            checkpoint) the EMA generator's BatchNorm moving statistics are set to its
            own batch statistics over that many fresh samples (``recalibrate_sampler``).
            During training the EMA generator carries the live generator's moving
            statistics, which were measured on other weights. 0 (default) keeps those.
        info_codes: k > 1 trains a k-way categorical latent code (InfoGAN, Chen et al.,
            2016): the generator must read c = argmax(z[:, :k]) off z with a
            ``layers.CategoricalCode(k)`` layer, D gets a head Q(c | x) on its last
            feature layer, and both losses add ``info_weight`` * L_I, the cross-entropy
            of Q's guess on G(z) against c (``losses.info_loss``). 0 (default): off.
        info_weight: lambda, the weight of L_I (1.0, InfoGAN's value for discrete codes).
        info_hidden: with ``info_codes``, units of a hidden layer in the head Q (InfoGAN's
            Q has 128); 0 (default): Q is linear in D's features.
        info_labelled: with ``info_codes``, a pair (images, labels): a few real images
            (uint8, or floats in [-1, 1]) and the code each should get, every code in
            [0, k) at least once (``data.labelled_subset`` draws some per class).
            Every D update adds ``info_weight`` * the cross-entropy of Q on
            ``info_labelled_batch`` of them, drawn at random, to D's loss: the
            semi-supervised InfoGAN of Spurr et al. (2017), which ties code c to
            label c. G's loss is unchanged. None (default): unsupervised codes.
        info_labelled_batch: labelled images per D update (16).

    Metrics: ``d_loss``, ``g_loss`` (of the step's last D update and its G
    update), ``d_real`` and ``d_fake`` (mean D(x) and D(G(z)) of that D update),
    ``d_grad_norm`` and ``g_grad_norm`` when tracked, ``instance_noise`` (sigma_t) when on,
    ``info_loss`` (L_I of the G update) with ``info_codes``, ``labelled_loss`` (Q's
    cross-entropy on the labelled images, averaged over the D updates) with
    ``info_labelled``. ``d_loss`` and ``g_loss``
    are the adversarial losses alone (without lambda * L_I); ``d_grad_norm`` covers D
    and its code head.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        generator_loss: str = "non_saturating",
        label_smoothing: float = 0.0,
        d_steps: int = 1,
        seed: int | None = None,
        ema_decay: float | None = None,
        fresh_real_batches: bool = False,
        instance_noise: float = 0.0,
        instance_noise_decay_steps: int | None = None,
        feature_layer: str | None = None,
        track_grad_norms: bool = True,
        bn_recalibration: int = 0,
        info_codes: int = 0,
        info_weight: float = 1.0,
        info_hidden: int = 0,
        info_labelled=None,
        info_labelled_batch: int = 16,
        **kwargs,
    ):
        super().__init__(**kwargs)
        g_in = _input_dims(generator, "generator")
        d_in = _input_dims(discriminator, "discriminator")
        if len(g_in) != len(d_in) or len(g_in) not in (1, 2):
            raise ValueError(
                f"generator takes {len(g_in)} input(s) and discriminator {len(d_in)}; "
                "an unconditional GAN needs one each (z; images), a conditional GAN two each "
                "([z, labels]; [images, labels])"
            )
        if not isinstance(d_steps, int) or d_steps < 1:
            raise ValueError(f"d_steps must be a positive integer, got {d_steps!r}")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(g_in[0][-1])
        self.conditional = len(g_in) == 2
        self.image_shape = tuple(int(d) for d in d_in[0][1:])
        g_out = tuple(generator.outputs[0].shape[1:])
        if g_out != self.image_shape:
            raise ValueError(
                f"generator output shape {g_out} does not match discriminator input shape "
                f"{self.image_shape}; build both for the same image shape"
            )
        self.generator_loss_name = generator_loss
        self.feature_extractor = None  # f of feature matching: a model sharing D's weights
        if generator_loss == "feature_matching":
            self.feature_extractor = losses.feature_extractor(discriminator, feature_layer)
        elif feature_layer is not None:
            raise ValueError(f"feature_layer={feature_layer!r} is only used by generator_loss='feature_matching', "
                             f"not {generator_loss!r}: drop it or switch the loss")
        else:
            self._g_loss_fn = losses.get_generator_loss(generator_loss)
        # Overrides written as generator_loss(self, fake_logits) are given the logits only.
        params = inspect.signature(self.generator_loss).parameters.values()
        self._g_loss_takes_images = any(p.name == "real_images" or p.kind is p.VAR_KEYWORD for p in params)
        losses.discriminator_loss(tf.zeros([1]), tf.zeros([1]), label_smoothing)  # validates
        self.label_smoothing = float(label_smoothing)
        self.d_steps = d_steps
        if not isinstance(fresh_real_batches, bool):
            raise ValueError(f"fresh_real_batches must be True or False, got {fresh_real_batches!r}")
        self.fresh_real_batches = fresh_real_batches
        self.seed_generator = keras.random.SeedGenerator(seed)
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), e.g. 0.999, or None; got {ema_decay}")
        self.ema_decay = ema_decay
        if (isinstance(bn_recalibration, bool) or not isinstance(bn_recalibration, numbers.Integral)
                or bn_recalibration < 0):
            raise ValueError(f"bn_recalibration must be 0 (off) or a number of samples such as 4096, "
                             f"got {bn_recalibration!r}")
        if bn_recalibration and ema_decay is None:
            raise ValueError("bn_recalibration recomputes the EMA generator's BatchNorm statistics: set ema_decay "
                             "(e.g. 0.999) too, or leave bn_recalibration=0")
        self.bn_recalibration = int(bn_recalibration)
        self.instance_noise, self.instance_noise_decay_steps = _check_instance_noise(
            instance_noise, instance_noise_decay_steps)
        self.info_codes, self.info_weight = infogan.check_info_codes(
            info_codes, info_weight, generator, self.conditional)
        self.info_hidden = infogan.check_info_hidden(info_hidden, self.info_codes)
        images, labels, self.info_labelled_batch = infogan.check_info_labelled(
            info_labelled, info_labelled_batch, self.info_codes, self.image_shape)
        # Constants of the compiled step, not state: a resumed run passes the same images again.
        self._labelled = None if images is None else (tf.constant(images), tf.constant(labels))
        self.code_head = self._d_with_codes = None  # Q(c | x) and D's inputs -> [logits, Q's logits]
        if self.info_codes:
            self.code_head, self._d_with_codes = infogan.with_code_head(discriminator, self.info_codes,
                                                                        self.info_hidden)
        self.ema_generator = None
        if ema_decay is not None:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
        # Both networks are built already; marking the GAN built keeps Keras from tracing
        # call() on a data batch (it does so under tf.distribute).
        self.built = True
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.d_grad_norm_tracker = keras.metrics.Mean(name="d_grad_norm") if track_grad_norms else None
        self.g_grad_norm_tracker = keras.metrics.Mean(name="g_grad_norm") if track_grad_norms else None
        self.instance_noise_tracker = keras.metrics.Mean(name="instance_noise") if self.instance_noise else None
        self.info_loss_tracker = keras.metrics.Mean(name="info_loss") if self.info_codes else None
        self.labelled_loss_tracker = keras.metrics.Mean(name="labelled_loss") if self._labelled else None

    # ----------------------------------------------------------- set-up
    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        g_optimizer: keras.optimizers.Optimizer | None = None,
        jit_compile: bool = False,
        steps_per_execution: int = 1,
        **kwargs,
    ):
        """Attach the two optimisers (Adam(2e-4, beta_1=0.5) each by default).

        Two time-scale updates (TTUR, Heusel et al., 2017) give D and G different
        learning rates. Which way depends on the failure: SAGAN trains its spectrally
        normalised D faster (4e-4 against G's 1e-4; BigGAN keeps the 4:1 ratio at
        2e-4 / 5e-5), while a D that wins too fast is slowed down (e.g. D 1e-4,
        G 4e-4; notebook 06).
        Under the ``mixed_float16`` policy each optimiser is wrapped in a
        ``LossScaleOptimizer``. ``steps_per_execution`` runs several train steps
        per compiled call (less Python overhead); ``jit_compile`` turns on XLA.
        """
        super().compile(jit_compile=jit_compile, steps_per_execution=steps_per_execution, **kwargs)
        d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        if d_optimizer is g_optimizer:
            raise ValueError("pass two separate optimizer objects: D and G keep separate state")
        if self.generator.dtype_policy.compute_dtype == "float16" or (
            self.discriminator.dtype_policy.compute_dtype == "float16"
        ):
            d_optimizer = _loss_scaled(d_optimizer)
            g_optimizer = _loss_scaled(g_optimizer)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        # Create the optimiser slots now, so that a checkpoint can be restored
        # into them before the first step.
        self.d_optimizer.build(self.d_trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker,
                *self.diagnostic_metrics]

    @property
    def diagnostic_metrics(self) -> list:
        """The optional trackers (gradient norms, instance noise, L_I, labelled codes); subclasses add them to
        their ``metrics``."""
        return [m for m in (self.d_grad_norm_tracker, self.g_grad_norm_tracker, self.instance_noise_tracker,
                            self.info_loss_tracker, self.labelled_loss_tracker) if m]

    @property
    def d_trainable_variables(self) -> list:
        """What D's optimiser trains: D's weights, and the code head's with ``info_codes``."""
        head = self.code_head.trainable_variables if self.code_head is not None else []
        return [*self.discriminator.trainable_variables, *head]

    @property
    def sampler(self) -> keras.Model:
        """The generator used for samples and saving: the EMA copy if there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def recalibrate_sampler(self, num_samples: int | None = None, seed: int = 0) -> int:
        """Recompute the EMA generator's BatchNorm moving statistics from its own samples.

        ``num_samples`` z (default ``bn_recalibration``) from a stateless seed, and
        balanced labels for a conditional generator, go once through the EMA
        generator in training mode (``sampling.recalibrate_batch_norm``). The same
        weights and seed give the same statistics, so a resumed run stays exact, and
        the live generator and the seed generator are untouched. The next train step
        copies the live statistics back in; ``gan_utils.train`` recalibrates again at
        the end of each epoch. Returns the number of BatchNorm layers recalibrated.
        """
        from .sampling import balanced_labels, num_classes_of, recalibrate_batch_norm

        if self.ema_generator is None:
            raise ValueError("recalibrate_sampler works on the EMA generator: build the GAN with ema_decay=...")
        n = int(num_samples or self.bn_recalibration or 4096)
        z = tf.random.stateless_normal((n, self.latent_dim), seed=(int(seed), 0x5EED))
        labels = tf.constant(balanced_labels(n, num_classes_of(self.ema_generator))) if self.conditional else None
        inputs = [z, labels] if self.conditional else z
        return recalibrate_batch_norm(self.ema_generator, inputs)

    def call(self, inputs, training: bool = False):
        """Generate images: ``inputs`` is z (or ``[z, labels]`` when conditional)."""
        return self.generator(inputs, training=training)

    # --------------------------------------------------------- sampling
    def next_seed(self) -> tf.Tensor:
        """A fresh stateless seed, int64 [2], from the model's seed generator (advances it).

        Under tf.distribute the seed state is mirrored, so the replica id is folded
        into the seed: every replica draws its own random numbers.
        """
        seed = tf.cast(self.seed_generator.next(), tf.int64)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            seed += tf.cast(tf.stack([0, context.replica_id_in_sync_group]), tf.int64)
        return seed

    def sample_latent(self, batch_size) -> tf.Tensor:
        """z ~ N(0, I): float32 [batch_size, latent_dim], from the model's seed generator."""
        return tf.random.stateless_normal((batch_size, self.latent_dim), seed=self.next_seed())

    def generate(self, z, labels=None, training: bool = False, model: keras.Model | None = None) -> tf.Tensor:
        """G(z) or G(z, y): float32 [B, H, W, C] in [-1, 1] (``model`` defaults to the live generator)."""
        model = model or self.generator
        if not hasattr(z, "shape"):
            z = np.asarray(z, np.float32)
        width = z.shape[-1] if len(z.shape) == 2 else None
        if width is None or width != self.latent_dim:
            raise ValueError(
                f"z must be float32 [B, latent_dim] = [B, {self.latent_dim}] for this GAN, got shape "
                f"{tuple(z.shape)}; draw it with gan.sample_latent(B)"
                + (f", or rebuild the generator with latent_dim={width} if that is the size you meant"
                   if width is not None else "")
            )
        if self.conditional:
            if labels is None:
                raise ValueError("this GAN is conditional: pass labels (int32 [B]) to generate()")
            return model([z, labels], training=training)
        return model(z, training=training)

    def discriminate(self, images, labels=None, training: bool = False) -> tf.Tensor:
        """D's logits, flattened to float32 [B]. In training D sees the images with instance noise (if on)."""
        images = self.add_instance_noise(images, training)
        logits = self.discriminator([images, labels] if self.conditional else images, training=training)
        return tf.reshape(tf.cast(logits, tf.float32), [-1])

    def discriminate_with_codes(self, images, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """(D's logits float32 [B], Q's code logits float32 [B, k]) from one pass; needs ``info_codes``."""
        if self._d_with_codes is None:
            raise ValueError("this GAN has no code head: build it with info_codes=k (and a generator with "
                             "CategoricalCode(k))")
        logits, code_logits = self._d_with_codes(self.add_instance_noise(images, training), training=training)
        return tf.reshape(tf.cast(logits, tf.float32), [-1]), tf.cast(code_logits, tf.float32)

    def _discriminate_fake(self, fake, labels, z):
        """D's logits on G(z) in training, and L_I of the code head on them (0.0 without ``info_codes``)."""
        if not self.info_codes:
            return self.discriminate(fake, labels, training=True), tf.constant(0.0)
        logits, code_logits = self.discriminate_with_codes(fake, training=True)
        return logits, losses.info_loss(code_logits, latent_codes(z, self.info_codes))

    def _labelled_code_loss(self) -> tf.Tensor:
        """Q's cross-entropy on ``info_labelled_batch`` labelled images drawn at random (0.0 without them)."""
        if self._labelled is None:
            return tf.constant(0.0)
        images, codes = self._labelled
        pick = tf.random.stateless_uniform([self.info_labelled_batch], seed=self.next_seed(), minval=0,
                                           maxval=tf.shape(codes)[0], dtype=tf.int32)
        _, code_logits = self.discriminate_with_codes(tf.gather(images, pick), training=True)
        loss = losses.info_loss(code_logits, tf.gather(codes, pick))
        self.labelled_loss_tracker.update_state(loss)
        return loss

    def discriminator_features(self, images, labels=None, training: bool = False) -> tf.Tensor:
        """f(x), the output of D's feature layer (feature matching): float32 [B, ...]; noisy in training."""
        if self.feature_extractor is None:
            raise ValueError("this GAN has no feature layer: build it with generator_loss='feature_matching'")
        images = self.add_instance_noise(images, training)
        features = self.feature_extractor([images, labels] if self.conditional else images, training=training)
        return tf.cast(features, tf.float32)

    # --------------------------------------------------- instance noise
    def instance_noise_std(self) -> tf.Tensor:
        """sigma_t = instance_noise * max(0, 1 - t / instance_noise_decay_steps), float32 scalar.

        t is ``g_optimizer.iterations``: the generator updates applied so far
        (one per train step; a step the loss scaler skips does not count). It is
        an optimiser variable, saved in checkpoints, so a resumed run continues
        the schedule. All D updates of a step and its G update share sigma_t;
        from step t = instance_noise_decay_steps on, sigma_t = 0.
        """
        sigma = tf.constant(self.instance_noise, tf.float32)
        if self.instance_noise_decay_steps is None:
            return sigma
        t = tf.cast(self.g_optimizer.iterations, tf.float32) if hasattr(self, "g_optimizer") else 0.0
        return sigma * tf.maximum(0.0, 1.0 - t / self.instance_noise_decay_steps)

    def add_instance_noise(self, images, training: bool = False):
        """images + sigma_t * eps, eps ~ N(0, I) from the model's seed generator, in training; else images."""
        if not (training and self.instance_noise):
            return images
        sigma = self.instance_noise_std()
        self.instance_noise_tracker.update_state(sigma)
        images = tf.convert_to_tensor(images)
        eps = tf.random.stateless_normal(tf.shape(images), seed=self.next_seed())
        return images + tf.cast(sigma * eps, images.dtype)

    # ------------------------------------------------------- loss hooks
    def discriminator_loss(self, real_logits, fake_logits, real_images, fake_images, labels):
        """D's loss; subclasses (e.g. WGAN-GP) override this.

        Returns a float32 scalar, or ``(loss, terms)``: the scalar and a dict of
        float32 scalars (a penalty, a gradient norm ...) that every D update adds
        to the metric of the same name in ``self.metrics``.
        """
        return losses.discriminator_loss(real_logits, fake_logits, self.label_smoothing)

    def generator_loss(self, fake_logits, real_images=None, fake_images=None, labels=None):
        """G's loss; subclasses override this. Returns a float32 scalar.

        The logit losses read ``fake_logits`` (D's logits on G(z), float32 [B]).
        Feature matching reads the images instead (D's features, in training mode)
        and needs ``real_images`` and ``fake_images`` [B, H, W, C] (and ``labels``
        for a conditional D). Overrides may keep the one-argument form
        ``generator_loss(self, fake_logits)``: the train step then passes the logits only.
        """
        if self.feature_extractor is None:
            return self._g_loss_fn(fake_logits)
        if real_images is None or fake_images is None:
            raise ValueError("feature matching compares D's features of real and generated images: "
                             "call generator_loss(fake_logits, real_images=..., fake_images=..., labels=...)")
        real_features = tf.stop_gradient(self.discriminator_features(real_images, labels, training=True))
        fake_features = self.discriminator_features(fake_images, labels, training=True)
        return losses.feature_matching_loss(real_features, fake_features)

    def _call_generator_loss(self, fake_logits, real, fake, labels):
        """The ``generator_loss`` hook, with the batch if it takes it."""
        if self._g_loss_takes_images:
            return self.generator_loss(fake_logits, real_images=real, fake_images=fake, labels=labels)
        return self.generator_loss(fake_logits)

    # ------------------------------------------------------- train step
    def train_step(self, data):
        # Batches are images, or (images, labels) for a conditional GAN.
        real, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.conditional and labels is None:
            raise ValueError("a conditional GAN trains on (images, labels) batches; got images only")
        batches = self._real_batches(real, labels)
        real, labels = batches[-1]
        batch_size = tf.shape(real)[0]

        # 1) Discriminator: tell real from generated images. All but the last of the
        #    d_steps updates use their own fresh fakes (and with fresh_real_batches
        #    their own real images).
        for real_i, labels_i in batches[:-1]:
            z = self.sample_latent(batch_size)
            self._discriminator_update(real_i, self.generate(z, labels_i, training=True), labels_i, z)

        # The last D update and the G update share one generator pass: G's tape records
        # G(z), D learns from it (not recorded), then G is scored by the updated D.
        z = self.sample_latent(batch_size)
        with tf.GradientTape() as tape:
            fake = self.generate(z, labels, training=True)
            with tape.stop_recording():
                d_loss, real_logits, fake_logits = self._discriminator_update(real, fake, labels, z)
            # 2) Generator: make the updated D call its samples real (feature matching instead
            #    matches D's mean features on them to those on the real batch); with a code,
            #    also make the code recoverable from the image (+ lambda * L_I).
            fake_scores, info = self._discriminate_fake(fake, labels, z)
            g_loss = self._call_generator_loss(fake_scores, real, fake, labels)
            scaled = self.g_optimizer.scale_loss(_per_replica(g_loss + self.info_weight * info))
        g_vars = self.generator.trainable_variables
        g_grads = tape.gradient(scaled, g_vars)
        self._track_grad_norm(self.g_grad_norm_tracker, g_grads, self.g_optimizer)
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars))
        if self.ema_generator is not None:
            self._update_ema()

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(tf.reduce_mean(tf.sigmoid(real_logits)))
        self.d_fake_tracker.update_state(tf.reduce_mean(tf.sigmoid(fake_logits)))
        if self.info_loss_tracker is not None:
            self.info_loss_tracker.update_state(info)
        return {m.name: m.result() for m in self.metrics}

    def _real_batches(self, real, labels) -> list[tuple]:
        """The (real images, labels) of each of the ``d_steps`` D updates of a step.

        The whole batch ``d_steps`` times, or with ``fresh_real_batches`` its
        ``d_steps`` consecutive slices of ``N // d_steps`` images.
        """
        if not self.fresh_real_batches:
            return [(real, labels)] * self.d_steps
        real = tf.convert_to_tensor(real)  # also when a run_eagerly step is given NumPy arrays
        labels = None if labels is None else tf.convert_to_tensor(labels)
        message = (f"fresh_real_batches cuts each dataset batch into d_steps={self.d_steps} slices, but a batch "
                   f"held fewer than {self.d_steps} images: build the dataset with d_steps times the batch size of "
                   "one update (Recipe.dataset_batch_size)")
        if real.shape[0] is not None and real.shape[0] < self.d_steps:
            # Known when the step is traced: fail here. (Left to the run-time check, TensorFlow's graph optimiser
            # may first trip over the empty slices with an unrelated shape error.)
            raise ValueError(f"{message}; got a batch of {real.shape[0]}")
        size = tf.shape(real)[0] // self.d_steps
        check = tf.debugging.assert_positive(size, message=message)
        with tf.control_dependencies([check]):  # check before any update runs on an empty slice
            size = tf.identity(size)
        return [(real[i * size:(i + 1) * size], None if labels is None else labels[i * size:(i + 1) * size])
                for i in range(self.d_steps)]

    def _discriminator_update(self, real, fake, labels, z=None):
        """One optimiser step of D on a real batch and G(z); returns (loss, real logits, fake logits).

        The loss returned is the hook's (``discriminator_loss``); with ``info_codes`` D and
        its code head minimise it plus ``info_weight`` * L_I on G(z) (plus, with
        ``info_labelled``, ``info_weight`` * Q's cross-entropy on a batch of labelled images).
        """
        fake = tf.stop_gradient(fake)
        with tf.GradientTape() as tape:
            real_logits = self.discriminate(real, labels, training=True)
            fake_logits, info = self._discriminate_fake(fake, labels, z)
            info += self._labelled_code_loss()
            d_loss = self.discriminator_loss(real_logits, fake_logits, real, fake, labels)
            d_loss, terms = d_loss if isinstance(d_loss, tuple) else (d_loss, {})
            scaled = self.d_optimizer.scale_loss(_per_replica(d_loss + self.info_weight * info))
        d_vars = self.d_trainable_variables
        d_grads = tape.gradient(scaled, d_vars)
        self._track_grad_norm(self.d_grad_norm_tracker, d_grads, self.d_optimizer)
        self.d_optimizer.apply_gradients(zip(d_grads, d_vars))
        self._track_terms(terms)
        return d_loss, real_logits, fake_logits

    def _track_grad_norm(self, tracker, grads, optimizer):
        """Add ||grad||_2 over all of a network's weights (the global norm) to ``tracker``.

        The norm is of the gradient of the loss itself: divided by the loss scale
        under mixed precision (``scale_loss(1.0)`` is 1 without loss scaling) and,
        under tf.distribute, of the gradient summed over replicas (one extra
        all-reduce). Updates the loss scaler skips (non-finite gradients) are not counted.
        """
        if tracker is None:
            return
        grads = [tf.cast(g, tf.float32) for g in grads if g is not None]
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        norm = tf.linalg.global_norm(grads) / tf.cast(optimizer.scale_loss(1.0), tf.float32)
        finite = tf.math.is_finite(norm)
        tracker.update_state(tf.where(finite, norm, 0.0), sample_weight=tf.cast(finite, tf.float32))

    def _track_terms(self, terms: dict):
        """Add the extra values a loss hook reported to the metrics of the same names."""
        trackers = {m.name: m for m in self.metrics}
        for name, value in terms.items():
            if name not in trackers:
                raise ValueError(
                    f"discriminator_loss reported {name!r} but the model has no metric of that name; "
                    f"add keras.metrics.Mean(name={name!r}) to its metrics (have {sorted(trackers)})"
                )
            trackers[name].update_state(value)

    def _update_ema(self):
        """ema <- d * ema + (1 - d) * w, with d warmed up as min(decay, (1 + t) / (10 + t))."""
        t = tf.cast(self.g_optimizer.iterations, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
        for ema, w in zip(self.ema_generator.trainable_variables, self.generator.trainable_variables):
            ema.assign(decay * ema + (1.0 - decay) * tf.cast(w, ema.dtype))
        # BatchNorm statistics are not trained by gradients: copy them.
        for ema, w in zip(self.ema_generator.non_trainable_variables, self.generator.non_trainable_variables):
            ema.assign(w)

    # --------------------------------------------------- checkpoint state
    def state_variables(self) -> dict[str, list]:
        """Every variable a resumed run needs, grouped by owner (for checkpoints)."""
        groups = {
            "generator": list(self.generator.variables),
            "discriminator": list(self.discriminator.variables),
            "g_optimizer": list(self.g_optimizer.variables),
            "d_optimizer": list(self.d_optimizer.variables),
            "seed_generator": [self.seed_generator.state],
        }
        if self.ema_generator is not None:
            groups["ema_generator"] = list(self.ema_generator.variables)
        if self.code_head is not None:
            groups["code_head"] = list(self.code_head.variables)
        return groups


def _per_replica(loss):
    """Divide by the replica count: gradients are summed over replicas under tf.distribute."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss


def _check_instance_noise(sigma, decay_steps) -> tuple[float, int | None]:
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not 0.0 <= float(sigma) < float("inf"):
        raise ValueError(f"instance_noise is the std of the Gaussian noise added to D's inputs, a number >= 0 "
                         f"(images are in [-1, 1]: try 0.1 to 0.5; 0 turns it off); got {sigma!r}")
    if decay_steps is not None and (isinstance(decay_steps, bool) or not isinstance(decay_steps, numbers.Integral)
                                    or decay_steps < 1):
        raise ValueError(f"instance_noise_decay_steps must be a positive integer (the generator updates over which "
                         f"the noise falls to 0) or None (constant noise); got {decay_steps!r}")
    return float(sigma), None if decay_steps is None else int(decay_steps)


def _loss_scaled(optimizer):
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)
