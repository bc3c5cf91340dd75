"""Pix2Pix: a GAN conditioned on an input image, trained on (target, input) pairs (Isola et al., 2017).

The generator maps an input image x (a damaged digit, a small one) to an output G(x); the
discriminator judges pairs, D(y, x): is y the real target for this input, or G's answer?
Isola et al. (eq. 4) train G on

    G* = arg min_G max_D  L_cGAN(G, D) + lambda * L_L1(G),
    L_cGAN = E_{x,y}[log D(x, y)] + E_x[log(1 - D(x, G(x)))],   L_L1 = E_{x,y}[||y - G(x)||_1],

with lambda = 100, the non-saturating form of the generator's term, and D's objective
halved. L1 alone ("gan_weight=0") is plain regression: it learns the conditional median
of y given x, a blur wherever x leaves the answer open; the adversarial term pushes
G(x) towards images D cannot tell from real ones, i.e. sharp.

D is a PatchGAN (``models.build_patchgan_discriminator``): it gives a logit per patch
and the losses average over patches, so it judges local texture and sharpness while L1
takes care of the low frequencies.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from .checks import check_weight, input_shapes
from .gan import GAN


class Pix2Pix(GAN):
    """pix2pix (Isola et al., 2017): G(x) trained with lambda * L1 to the target plus a conditional GAN loss.

    Batches are ``(targets, inputs)``: float32 [B, H, W, C_out] and [B, h, w, C_in] in [-1, 1]
    (``data.make_paired_dataset``). Each train step makes one D update on (target, input)
    against (G(input), input), then one G update through the updated D on the same G(input).

    Args:
        generator: input images [B, h, w, C_in] -> output images [B, H, W, C_out] in [-1, 1]
            (e.g. ``build_unet_generator``).
        discriminator: ``[images [B, H, W, C_out], inputs [B, h, w, C_in]]`` -> logits, one per
            image ([B, 1]) or one per patch ([B, H', W', 1], e.g. ``build_patchgan_discriminator``).
        l1_weight: lambda, the weight of the L1 term (100 in the paper).
        gan_weight: the weight of the adversarial term (1 in the paper); 0 trains G on L1
            alone and leaves D untouched (the regression baseline, same network and step).
        **kwargs: ``GAN``'s ``generator_loss``, ``label_smoothing``, ``ema_decay``, ``seed``,
            ``track_grad_norms`` (no ``d_steps``: one D update per step).

    Metrics: ``g_loss`` (what G minimised), ``l1`` (mean |target - G(input)|), and with the
    adversarial term ``g_gan`` (its unweighted value), ``d_loss`` (halved, as in the paper),
    ``d_real`` and ``d_fake`` (mean D over patches, as probabilities).
    """

    metric_names = ("d_loss", "g_loss", "d_real", "d_fake", "g_gan", "l1")

    def __init__(self, generator: keras.Model, discriminator: keras.Model, l1_weight: float = 100.0,
                 gan_weight: float = 1.0, **kwargs):
        if kwargs.get("d_steps", 1) != 1:
            raise ValueError("Pix2Pix makes one discriminator update per step (d_steps=1); drop d_steps")
        self.l1_weight = check_weight("l1_weight", l1_weight, "100 in Isola et al.")
        self.gan_weight = check_weight("gan_weight", gan_weight, "1 in Isola et al.; 0 trains on L1 alone")
        if self.l1_weight == 0 and self.gan_weight == 0:
            raise ValueError("l1_weight and gan_weight are both 0: nothing would train G; set at least one > 0")
        super().__init__(generator, discriminator, **kwargs)
        if not self.adversarial:  # L1 alone: D is never updated, so it has nothing to report
            for name in ("d_loss", "d_real", "d_fake", "g_gan"):
                self.trackers.pop(name)

    @property
    def adversarial(self) -> bool:
        """Whether the step trains D and G against each other (``gan_weight`` > 0)."""
        return self.gan_weight > 0

    def check_networks(self, generator: keras.Model, discriminator: keras.Model) -> tuple:
        """``(None, output image shape, False)``: G maps an image to an image, D judges ``[image, input]``."""
        g_in, d_in = input_shapes(generator, "generator"), input_shapes(discriminator, "discriminator")
        if len(g_in) != 1 or len(g_in[0]) != 4:
            raise ValueError(f"a Pix2Pix generator takes one input image [B, H, W, C]; it takes {g_in}. Build it "
                             "with build_unet_generator(input_shape) or keras.Input((H, W, C))")
        out = tuple(generator.outputs[0].shape[1:])
        if len(out) != 3:
            raise ValueError(f"a Pix2Pix generator must output images [B, H, W, C]; it outputs {out} per input")
        if len(d_in) != 2:
            raise ValueError(f"a Pix2Pix discriminator takes two inputs, [images, generator inputs]; it takes "
                             f"{len(d_in)} ({d_in}). Build it with build_patchgan_discriminator(image_shape, "
                             "condition_shape)")
        image, condition = tuple(d_in[0][1:]), tuple(d_in[1][1:])
        if out != image:
            raise ValueError(f"the generator outputs images of shape {out} but the discriminator judges images of "
                             f"shape {image}: build both for the target shape (the generator's output_channels, "
                             "the discriminator's image_shape)")
        if condition != tuple(g_in[0][1:]):
            raise ValueError(f"the discriminator's second input has shape {condition} but the generator's input "
                             f"is {tuple(g_in[0][1:])}: give the discriminator condition_shape = the input shape")
        d_out = tuple(discriminator.outputs[0].shape[1:])
        if d_out not in ((), (1,)) and (len(d_out) != 3 or d_out[-1] != 1):
            raise ValueError(f"the discriminator must give one logit per image ([B, 1]) or per patch "
                             f"([B, H', W', 1]); it gives {d_out}. End it with a 1-channel convolution")
        return None, out, False

    @property
    def condition_shape(self) -> tuple:
        """(h, w, C_in): one input image."""
        return tuple(self.generator.inputs[0].shape[1:])

    # ------------------------------------------------------------------ the step
    def train_step(self, data):
        targets, inputs = self.unpack_batch(data)
        with tf.GradientTape() as tape:
            fake = self.generate(inputs, training=True)
            if self.adversarial:
                with tape.stop_recording():  # 1) D: (target, input) is real, (G(input), input) is fake
                    self.discriminator_update(targets, fake, inputs)
            g_loss = self.generator_loss(targets, fake, inputs)  # 2) G: fool the updated D, stay near the target
        self.generator_update(tape, g_loss)
        return self.metric_results()

    def discriminator_loss(self, real, fake, labels=None, z=None) -> tf.Tensor:
        """Half of the base BCE on the patch logits of (target, input) and (G(input), input)."""
        return 0.5 * super().discriminator_loss(real, fake, labels, z)

    def generator_loss(self, real, fake, labels=None, z=None) -> tf.Tensor:
        """gan_weight * L_cGAN(G) + l1_weight * mean |target - G(input)|: a float32 scalar."""
        l1 = tf.reduce_mean(tf.abs(tf.cast(real, tf.float32) - tf.cast(fake, tf.float32)))
        self.track(l1=l1)
        loss = self.l1_weight * l1
        if self.adversarial:
            adversarial = super().generator_loss(real, fake, labels, z)
            self.track(g_gan=adversarial)
            loss += self.gan_weight * adversarial
        return loss

    # ------------------------------------------------------ the two networks
    def generate(self, inputs, labels=None, training: bool = False, model: keras.Model | None = None) -> tf.Tensor:
        """G(inputs): float32 [B, H, W, C_out] (``model`` defaults to the live generator)."""
        model = self.generator if model is None else model
        return model(inputs, training=training)

    def discriminate(self, images, labels=None, training: bool = False) -> tf.Tensor:
        """D's logits for ``images`` given the generator's inputs (``labels``), flattened: float32 [B * patches]."""
        if labels is None:
            raise ValueError("a Pix2Pix discriminator judges (image, input) pairs: pass the inputs as labels")
        logits = self.discriminator([images, labels], training=training)
        return tf.reshape(tf.cast(logits, tf.float32), [-1])

    def call(self, inputs, training: bool = False):
        """G(inputs)."""
        return self.generator(inputs, training=training)

    def unpack_batch(self, data) -> tuple:
        """(targets, inputs) from a batch (or a dataset's element_spec); a clear error for anything else."""
        targets, inputs, _ = keras.utils.unpack_x_y_sample_weight(data)
        fix = "make pairs with gu.make_paired_dataset(images, corruption) (it yields (targets, inputs))"
        if inputs is None:
            raise ValueError(f"Pix2Pix trains on (targets, inputs) pairs; the batches hold images only: {fix}")
        expected = self.condition_shape
        shape = None if inputs.shape.rank is None else tuple(inputs.shape[1:])
        if shape is not None and (len(shape) != len(expected)
                                  or any(s not in (None, e) for s, e in zip(shape, expected))):
            raise ValueError(f"the batches' inputs have shape {shape} per image but the generator takes "
                             f"{expected}: build the generator for the corrupted inputs, or {fix}")
        return targets, inputs

    # ---------------------------------------------------- the per-epoch grid
    def grid_inputs(self, dataset, count: int) -> tuple[np.ndarray, None]:
        """The first ``count`` (input, target) pairs of ``dataset``, each flattened and joined: float32 [count, D].

        ``gan_utils.train`` keeps them in its run state (and checkpoints), so every epoch's
        grid shows the same pairs; ``grid_images`` draws them.
        """
        inputs, targets = [], []
        for batch in dataset:
            t, x = self.unpack_batch(batch)
            inputs.append(np.asarray(x, np.float32))
            targets.append(np.asarray(t, np.float32))
            if sum(len(b) for b in inputs) >= count:
                break
        x, t = np.concatenate(inputs)[:count], np.concatenate(targets)[:count]
        return np.concatenate([x.reshape(len(x), -1), t.reshape(len(t), -1)], axis=1), None

    def grid_images(self, fixed, labels=None) -> np.ndarray:
        """Three rows of ``len(fixed)`` images (from ``grid_inputs``): inputs, the sampler's outputs, targets.

        Inputs smaller than the targets are shown enlarged (nearest neighbour); inputs with
        another channel count show their first channel.
        """
        fixed = np.asarray(fixed, np.float32)
        in_shape = self.condition_shape
        size = int(np.prod(in_shape))
        x = fixed[:, :size].reshape(-1, *in_shape)
        t = fixed[:, size:].reshape(-1, *self.image_shape)
        y = np.asarray(self.generate(x, training=False, model=self.sampler))
        return np.concatenate([as_displayed(x, self.image_shape), y, t])

    def translate(self, inputs, batch_size: int = 500) -> np.ndarray:
        """The sampler's outputs for ``inputs`` (uint8 or float [N, h, w, C_in]): float32 [N, H, W, C_out]."""
        return translate(self.sampler, inputs, batch_size)


def as_displayed(inputs: np.ndarray, image_shape) -> np.ndarray:
    """Inputs shown next to targets of ``image_shape``: resized (nearest) to its size, channels matched."""
    x = np.asarray(inputs, np.float32)
    h, w, c = image_shape
    if x.shape[1:3] != (h, w):
        x = np.asarray(tf.image.resize(x, (h, w), method="nearest"))
    if x.shape[-1] != c:
        x = np.repeat(x[..., :1], c, axis=-1)
    return x


def check_image_generator(model, what: str = "the model") -> keras.Model:
    """Return ``model`` if it maps images to images ([B, h, w, C] -> [B, H, W, C']); a clear ValueError otherwise."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    shapes = [tuple(t.shape) for t in inputs or []]
    if not outputs or len(shapes) != 1 or len(shapes[0]) != 4 or len(outputs[0].shape) != 4:
        raise ValueError(f"{what} is not an image-to-image generator: it takes {shapes} and returns "
                         f"{None if not outputs else tuple(outputs[0].shape)}, while one takes images [B, H, W, C] "
                         "and returns images. Pass the generator.keras a pix2pix run wrote")
    return model


def translate(generator: keras.Model, inputs, batch_size: int = 500) -> np.ndarray:
    """Apply an image-to-image generator to ``inputs`` in batches: float32 [N, H, W, C_out] in [-1, 1].

    Args:
        generator: input images -> output images (``Pix2Pix.sampler``, or a loaded generator.keras).
        inputs: uint8 [N, h, w(, C)] in [0, 255] or float [N, h, w, C] in [-1, 1], of the
            generator's input shape.
    """
    from ..data import to_float_images

    check_image_generator(generator, "the generator")
    x = to_float_images(inputs)
    expected = tuple(generator.inputs[0].shape[1:])
    if x.shape[1:] != expected:
        raise ValueError(f"the inputs are images of shape {x.shape[1:]} but the generator takes {expected}: "
                         "corrupt clean images the way the model was trained (e.g. --corrupt inpaint), or pass "
                         "the images the run was trained on")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return np.concatenate([np.asarray(generator(x[i:i + batch_size], training=False), np.float32)
                           for i in range(0, len(x), batch_size)])
