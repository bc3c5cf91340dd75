"""The same GAN code under tf.distribute (two logical CPUs, in a subprocess)."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from gan_utils import GAN, build_mlp_discriminator, build_mlp_generator, make_dataset

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        gan = GAN(build_mlp_generator(4, (8, 8, 1), hidden=(8,)),
                  build_mlp_discriminator((8, 8, 1), hidden=(8,)), seed=0, ema_decay=0.9)
        gan.compile()
    x = np.random.default_rng(0).integers(0, 255, (64, 8, 8), dtype=np.uint8)
    history = gan.fit(make_dataset(x, batch_size=16), epochs=1, verbose=0).history
    assert np.isfinite(history["d_loss"][0]) and np.isfinite(history["g_loss"][0]), history
    z = strategy.run(tf.function(lambda: gan.sample_latent(3)))
    a, b = [np.asarray(v) for v in strategy.experimental_local_results(z)]
    assert not np.allclose(a, b), "replicas drew the same noise"
    print("DISTRIBUTED-OK")
    """
)


def test_fit_under_mirrored_strategy_with_distinct_noise_per_replica():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    assert "DISTRIBUTED-OK" in done.stdout, done.stderr[-3000:]
