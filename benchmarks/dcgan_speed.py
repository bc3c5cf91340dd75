"""Throughput of DCGAN training: the TF-docs tutorial's plain loop against gan_utils' path.

Both train the architecture of the TensorFlow "Deep Convolutional GAN" tutorial
(G: Dense 7x7x256 -> Conv2DTranspose 128/64/1 with 5x5 kernels, BatchNorm,
LeakyReLU; D: Conv2D 64/128 5x5 stride 2 with LeakyReLU and Dropout 0.3),
batch 256, Adam(1e-4) for both, on MNIST.

- ``plain``: a ``@tf.function`` step with two GradientTapes, called once per
  batch from a Python loop over ``from_tensor_slices(x).shuffle(60000).batch(256)``,
  as the tutorial writes it. It updates D and G *simultaneously*: both losses
  come from one pass of D over the generated batch.
  ``plain-alt``: the same loop with the *alternating* update of Goodfellow et
  al.'s Algorithm 1, as ``gan_utils.GAN`` runs it: D is updated first, then G's
  loss is taken through the updated D, which costs one more pass of D over the
  generated batch (the generated batch itself is shared, as in ``GAN``).
  ``plain-bf16`` / ``plain-alt-bf16``: the same loops under the ``mixed_bfloat16``
  policy, to show what mixed precision alone buys.
- ``gu``: ``gan_utils.GAN`` + ``make_dataset`` + ``fit`` (what ``gan_utils.train``
  runs), with the options named in the variant: ``spe8`` (8 steps per compiled
  call), ``xla`` (jit_compile), ``bf16`` / ``f16`` (mixed precision).

Every measurement runs in its own process (mixed precision is a global policy),
the variants take turns within each repeat, and the medians are printed.

    .venv/bin/python benchmarks/dcgan_speed.py                    # both plain loops vs the default path
    .venv/bin/python benchmarks/dcgan_speed.py --variants plain,plain-alt,gu,plain-bf16,plain-alt-bf16,gu-bf16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BATCH = 256
LATENT = 100


def tutorial_models(keras):
    from keras import layers

    g = keras.Sequential([
        keras.Input((LATENT,)),
        layers.Dense(7 * 7 * 256, use_bias=False), layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Reshape((7, 7, 256)),
        layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False, activation="tanh", dtype="float32"),
    ])
    d = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(64, 5, strides=2, padding="same"), layers.LeakyReLU(), layers.Dropout(0.3),
        layers.Conv2D(128, 5, strides=2, padding="same"), layers.LeakyReLU(), layers.Dropout(0.3),
        layers.Flatten(), layers.Dense(1, dtype="float32"),
    ])
    return g, d


def measure(variant: str, warmup: int, steps: int) -> float:
    """Images per second of ``variant`` over ``steps`` steps after ``warmup`` steps."""
    import keras
    import numpy as np
    import tensorflow as tf

    import gan_utils as gu

    opts = variant.split("-")[1:]
    if "bf16" in opts:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    if "f16" in opts:
        keras.mixed_precision.set_global_policy("mixed_float16")
    gu.set_seed(0)
    (x, _), _ = gu.load_mnist()
    g, d = tutorial_models(keras)

    if variant.split("-")[0] == "plain":
        images = ((x.reshape(-1, 28, 28, 1).astype("float32") - 127.5) / 127.5)
        dataset = tf.data.Dataset.from_tensor_slices(images).shuffle(60000).batch(BATCH)
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        g_opt, d_opt = keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4)

        @tf.function
        def simultaneous_step(real):  # the tutorial: both losses from one pass of D
            noise = tf.random.normal([BATCH, LATENT])
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                fake = g(noise, training=True)
                real_out = d(real, training=True)
                fake_out = d(fake, training=True)
                g_loss = bce(tf.ones_like(fake_out), fake_out)
                d_loss = bce(tf.ones_like(real_out), real_out) + bce(tf.zeros_like(fake_out), fake_out)
            g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g.trainable_variables), g.trainable_variables))
            d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d.trainable_variables), d.trainable_variables))
            return g_loss, d_loss

        @tf.function
        def alternating_step(real):  # Algorithm 1 as gan_utils.GAN runs it: D first, then G through the updated D
            noise = tf.random.normal([BATCH, LATENT])
            with tf.GradientTape() as g_tape:
                fake = g(noise, training=True)
                with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                    real_out = d(real, training=True)
                    fake_out = d(tf.stop_gradient(fake), training=True)
                    d_loss = bce(tf.ones_like(real_out), real_out) + bce(tf.zeros_like(fake_out), fake_out)
                d_opt.apply_gradients(zip(d_tape.gradient(d_loss, d.trainable_variables), d.trainable_variables))
                fake_out = d(fake, training=True)
                g_loss = bce(tf.ones_like(fake_out), fake_out)
            g_opt.apply_gradients(zip(g_tape.gradient(g_loss, g.trainable_variables), g.trainable_variables))
            return g_loss, d_loss

        train_step = alternating_step if "alt" in opts else simultaneous_step

        # One iterator for warm-up and timing: the shuffle buffer is filled once per
        # epoch of 234 steps, as in the tutorial, and not once per measurement.
        batches = iter(dataset.repeat())

        def run(n):
            for _ in range(n):
                batch = next(batches)
                while batch.shape[0] != BATCH:  # the tutorial's epoch ends in a short batch
                    batch = next(batches)
                out = train_step(batch)
            np.asarray(out[0])  # wait for the last step

        run(warmup)
        start = time.perf_counter()
        run(steps)
        return steps * BATCH / (time.perf_counter() - start)

    spe = 8 if "spe8" in opts else 1
    gan = gu.GAN(g, d, seed=0)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-4), g_optimizer=keras.optimizers.Adam(1e-4),
                jit_compile="xla" in opts, steps_per_execution=spe)
    dataset = gu.make_dataset(x, batch_size=BATCH, seed=0).repeat()
    clock = _step_clock(keras, warmup)
    gan.fit(dataset, epochs=1, steps_per_epoch=warmup + steps, verbose=0, callbacks=[clock])
    if clock.start is None or clock.done >= warmup + steps:
        raise SystemExit(f"--warmup {warmup} and --steps {steps} must each be a multiple of {spe}")
    return (warmup + steps - clock.done) * BATCH / (clock.end - clock.start)


def _step_clock(keras, warmup: int):
    """A callback that times the steps after the first ``warmup`` ones of a ``fit`` call."""

    class StepClock(keras.callbacks.Callback):
        start = end = None
        done = 0  # steps finished when the clock started

        def on_train_batch_end(self, batch, logs=None):
            # With steps_per_execution k, batch is the index of the last step of each call.
            if self.start is None and batch + 1 >= warmup:
                self.start, self.done = time.perf_counter(), batch + 1

        def on_train_end(self, logs=None):
            self.end = time.perf_counter()

    return StepClock()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="plain,plain-alt,gu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=8, help="untimed steps first (tracing, compiling)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps({"ips": measure(args.one, args.warmup, args.steps)}))
        return 0
    variants = args.variants.split(",")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    results: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(args.repeats):
        for v in variants:
            out = subprocess.run([sys.executable, __file__, "--one", v, "--steps", str(args.steps),
                                  "--warmup", str(args.warmup)], capture_output=True, text=True, env=env)
            if out.returncode:
                sys.stderr.write(out.stderr[-3000:])
                raise SystemExit(f"variant {v} failed")
            ips = json.loads(out.stdout.strip().splitlines()[-1])["ips"]
            results[v].append(ips)
            print(f"repeat {r + 1}: {v:12s} {ips:7.1f} images/s", flush=True)
    base = statistics.median(results[variants[0]])
    print(f"\nmedian of {args.repeats} runs, {args.steps} timed steps of batch {BATCH} each:")
    for v in variants:
        med = statistics.median(results[v])
        print(f"  {v:12s} {med:7.1f} images/s   {med / base:4.2f}x {variants[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
