"""Runs under tf.distribute for tests/test_distribute.py, one mode per process.

    python distribute_runs.py models OUT          every model class, one short epoch on 2 CPU replicas
    python distribute_runs.py equal OUT           one step on 2 replicas == one step on one device
    python distribute_runs.py resume OUT [MARKER] 3 epochs on 2 replicas (killed at epoch 2 if MARKER is new)
    python distribute_runs.py multiworker OUT EPOCHS WEIGHTS   a worker of MultiWorkerMirroredStrategy (TF_CONFIG)
"""

import os
import signal
import sys

import numpy as np
import tensorflow as tf

mode, out = sys.argv[1], sys.argv[2]
if mode == "multiworker":
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG; first, before other TF work
else:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

import keras  # noqa: E402

import gan_utils as gu  # noqa: E402
from gan_utils.sampling import find_batch_norms  # noqa: E402

rng = np.random.default_rng(0)
x = rng.integers(0, 255, (64, 8, 8), dtype=np.uint8)
y = np.arange(64) % 3


def tiny(kind):
    """A compiled tiny GAN of each class, built under the strategy's scope."""
    def g(**kw):
        return gu.build_dcgan_generator(6, (8, 8, 1), width=8, **kw)

    def d(**kw):
        return gu.build_dcgan_discriminator((8, 8, 1), width=8, **kw)

    with strategy.scope():
        if kind == "gan":
            gan = gu.GAN(gu.build_mlp_generator(4, (8, 8, 1), hidden=(8, 8)),
                         gu.build_mlp_discriminator((8, 8, 1), hidden=(8,), dropout=0.2), seed=0, ema_decay=0.9)
        elif kind == "dcgan":
            gan = gu.GAN(g(), d(), seed=0, ema_decay=0.9)
        elif kind == "cgan":
            gan = gu.GAN(gu.build_conditional_generator(4, (8, 8, 1), 3, width=8, embed_dim=4),
                         gu.build_conditional_discriminator((8, 8, 1), 3, width=8, embed_dim=4), seed=0,
                         ema_decay=0.9)
        elif kind == "wgan-gp":
            gan = gu.WGANGP(g(), d(norm=None), d_steps=2, seed=0)
        elif kind == "infogan":
            gan = gu.InfoGAN(g(categorical_code=3), d(), categorical=3, labelled=(x[:6], np.arange(6) % 3),
                             labelled_batch=4, seed=0)
        elif kind == "info-wgan-gp":
            gan = gu.InfoWGANGP(g(categorical_code=3, continuous_codes=1), d(norm=None), categorical=3,
                                continuous=1, d_steps=2, fresh_real_batches=True, seed=0)
        gan.compile()
    return gan


if mode == "models":
    # Every model class trains one short epoch through gu.train on 2 replicas.
    for kind in ("gan", "cgan", "wgan-gp", "infogan", "info-wgan-gp"):
        gan = tiny(kind)
        assert gan.distribute_strategy is strategy
        norms = find_batch_norms(gan.generator)
        assert norms and all(layer.synchronized for layer in norms), kind  # synchronised statistics
        batch = 32 if kind == "info-wgan-gp" else 16  # fresh_real_batches: d_steps slices per replica
        data = gu.make_dataset(x, y if kind == "cgan" else None, batch_size=batch, seed=0)
        callbacks = [gu.RecalibrateBatchNorm(64)] if gan.ema_generator is not None else []
        result = gu.train(gan, data, os.path.join(out, kind), epochs=1, verbose=0, grid_size=6, callbacks=callbacks)
        assert result.epochs == 1 and result.generator_path.is_file(), kind
        assert all(np.isfinite(v).all() for v in result.history.values()), (kind, result.history)
        assert int(gan.g_optimizer.iterations.numpy()) == 64 // batch, kind
        print(kind, {k: round(v[0], 3) for k, v in result.history.items()})
    # The recipes build and compile under the strategy's scope they are given.
    for name in ("gan", "cgan"):
        gan = gu.build_gan(gu.get_recipe(name), strategy=strategy)
        assert gan.distribute_strategy is strategy, name
        assert all(layer.synchronized for layer in find_batch_norms(gan.generator)), name
    # steps_per_execution > 1 is refused before any work.
    gan = tiny("gan")
    gan.compile(steps_per_execution=2)
    try:
        gu.train(gan, gu.make_dataset(x, batch_size=16), os.path.join(out, "spe"), epochs=1, verbose=0)
    except ValueError as e:
        assert "steps_per_execution=2 is not supported under a distribution strategy" in str(e), e
    else:
        raise AssertionError("steps_per_execution=2 was not refused")
    assert not os.path.exists(os.path.join(out, "spe"))
    print("MODELS-OK")

if mode == "equal":
    # One step on 2 replicas equals one step on one device: same weights, global batch and noise.
    keras.utils.set_random_seed(0)
    nets = [gu.build_mlp_generator(4, (8, 8, 1), hidden=(8, 8), batch_norm=False),
            gu.build_mlp_discriminator((8, 8, 1), hidden=(8,))]
    start = [net.get_weights() for net in nets]
    z = tf.constant(rng.standard_normal((16, 4)), tf.float32)
    real = rng.uniform(-1, 1, (16, 8, 8, 1)).astype(np.float32)

    def latent(n):  # replica r draws rows [r * n, (r + 1) * n) of z: together, the one device's z
        context = tf.distribute.get_replica_context()
        return z[context.replica_id_in_sync_group * n:][:n]

    def one_step(scope):
        with scope:
            g, d = (keras.models.clone_model(net) for net in nets)
            for net, w in zip((g, d), start):
                net.set_weights(w)
            gan = gu.GAN(g, d, seed=0)
            gan.compile(keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5))
        gan.sample_latent = latent
        gan.fit(tf.data.Dataset.from_tensors(real), epochs=1, verbose=0)
        return [w for net in (g, d) for w in net.get_weights()]

    single = one_step(tf.distribute.get_strategy().scope())
    mirrored = one_step(strategy.scope())
    moved = max(float(np.abs(a - b).max()) for a, b in zip(single, [w for ws in start for w in ws]))
    assert moved > 1e-3, moved  # the step changed the weights
    worst = max(float(np.abs(a - b).max()) for a, b in zip(single, mirrored))
    assert worst < 1e-5, worst
    print("EQUAL-OK", moved, worst)

if mode == "resume":
    # 3 epochs of a GAN with synchronised BatchNorm in G, dropout in D and EMA; with a marker path
    # that does not exist yet, the process writes it at epoch 2, batch 2, and kills itself.
    marker = sys.argv[3] if len(sys.argv) > 3 else None

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1

        def on_train_batch_end(self, batch, logs=None):
            if marker and not os.path.exists(marker) and (self.epoch, batch + 1) == (2, 2):
                open(marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)

    gu.set_seed(0, deterministic=True)
    gan = tiny("gan")
    result = gu.train(gan, gu.make_dataset(x, batch_size=16, seed=0), out, epochs=3, callbacks=[Kill()], verbose=0,
                      grid_size=4)
    np.savez(out + ".npz", *gan.generator.get_weights(), *gan.sampler.get_weights(), *gan.discriminator.get_weights())
    print("RESUME-DONE", result.resumed_from, result.epochs)

if mode == "multiworker":
    # A tiny DCGAN on the workers of TF_CONFIG; each worker saves its weights and says what it wrote where.
    from gan_utils.training import checkpoints, train

    epochs, weights = int(sys.argv[3]), sys.argv[4]
    written = []
    save, save_generator = checkpoints.TrainingCheckpoints.save, train.save_generator

    def logged_save(self, epoch, record):
        written.append(str(self.folder))
        return save(self, epoch, record)

    def logged_save_generator(generator, path):
        written.append(str(path))
        return save_generator(generator, path)

    checkpoints.TrainingCheckpoints.save, train.save_generator = logged_save, logged_save_generator
    gu.set_seed(0, deterministic=True)
    gan = tiny("dcgan")
    assert strategy.num_replicas_in_sync == 2 and all(layer.synchronized for layer in find_batch_norms(gan.generator))
    try:
        result = gu.train(gan, gu.make_dataset(x, batch_size=16, seed=0), out, epochs=epochs, verbose=0, grid_size=4)
    except RuntimeError as e:  # leave at once: a normal exit waits for the cluster's shutdown barrier
        print("WORKER-FAILED", e, flush=True)
        os._exit(3)
    np.savez(weights, *gan.generator.get_weights(), *gan.sampler.get_weights(), *gan.discriminator.get_weights())
    print("WROTE", " ".join(sorted(set(written))))
    print("WORKER-DONE", result.resumed_from, result.epochs, gu.distribute.is_chief(strategy))
