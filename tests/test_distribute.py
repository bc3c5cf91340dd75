"""The same GAN code under tf.distribute (two logical CPUs, in a subprocess)."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import keras
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from gan_utils import GAN, build_mlp_discriminator, build_mlp_generator, make_dataset

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    # 1) fit runs, with the EMA generator, and each replica draws its own noise.
    with strategy.scope():
        gan = GAN(build_mlp_generator(4, (8, 8, 1), hidden=(8,)),
                  build_mlp_discriminator((8, 8, 1), hidden=(8,)), seed=0, ema_decay=0.9)
        gan.compile()
    x = np.random.default_rng(0).integers(0, 255, (64, 8, 8), dtype=np.uint8)
    history = gan.fit(make_dataset(x, batch_size=16), epochs=1, verbose=0).history
    assert set(history) == {"d_loss", "g_loss", "d_real", "d_fake"}, history  # gradient norms are off by default
    assert all(np.isfinite(v[0]) for v in history.values()), history
    z = strategy.run(tf.function(lambda: gan.sample_latent(3)))
    a, b = [np.asarray(v) for v in strategy.experimental_local_results(z)]
    assert not np.allclose(a, b), "replicas drew the same noise"

    # 2) track_grad_norms: each replica's own gradient norm, averaged over the replicas. Learning rate 0
    # keeps the weights, and both replicas get the same z, so the norms can be redone on one device.
    keras.utils.set_random_seed(0)
    with strategy.scope():
        gan = GAN(build_mlp_generator(4, (8, 8, 1), hidden=(8,), batch_norm=False),
                  build_mlp_discriminator((8, 8, 1), hidden=(8,)), seed=0, track_grad_norms=True)
        gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))
    z = tf.constant(np.random.default_rng(1).standard_normal((8, 4)), tf.float32)
    gan.sample_latent = lambda batch_size: z
    rng = np.random.default_rng(2)
    real = np.concatenate([rng.uniform(-1, 1, (8, 8, 8, 1)), rng.uniform(-1, 0, (8, 8, 8, 1))]).astype(np.float32)
    logs = gan.fit(tf.data.Dataset.from_tensors(real), epochs=1, verbose=0).history  # 8 images per replica

    def grads(loss_fn, variables):
        with tf.GradientTape() as tape:
            loss = loss_fn()
        return tape.gradient(loss, variables)

    g, d = gan.generator, gan.discriminator
    d_grads = [grads(lambda part=part: tf.reduce_mean(tf.nn.softplus(-d(part))) + tf.reduce_mean(tf.nn.softplus(d(g(z)))),
                     d.trainable_variables) for part in (real[:8], real[8:])]
    per_replica = np.mean([float(tf.linalg.global_norm(gs)) for gs in d_grads])
    of_the_sum = float(tf.linalg.global_norm([(a + b) / 2 for a, b in zip(*d_grads)]))
    assert abs(per_replica / of_the_sum - 1) > 1e-2, (per_replica, of_the_sum)  # the two readings differ here
    assert abs(logs["d_grad_norm"][0] / per_replica - 1) < 1e-4, (logs, per_replica, of_the_sum)
    g_norm = float(tf.linalg.global_norm(grads(lambda: tf.reduce_mean(tf.nn.softplus(-d(g(z)))),
                                                g.trainable_variables)))
    assert abs(logs["g_grad_norm"][0] / g_norm - 1) < 1e-4, (logs, g_norm)
    print("DISTRIBUTED-OK")
    """
)


def test_fit_under_mirrored_strategy_with_distinct_noise_and_per_replica_gradient_norms():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    assert "DISTRIBUTED-OK" in done.stdout, done.stderr[-3000:]
