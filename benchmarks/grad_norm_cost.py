"""Cost of ``track_grad_norms`` on 2 replicas: the median train-step time with and without it.

The DCGAN recipe's networks (``RECIPES["dcgan"]``: InfoGAN with a 10-way code,
BatchNorm in G) on random MNIST-shaped images, 64 images per replica, under
``MirroredStrategy`` over 2 logical CPU devices. Each setting runs in its own process,
they take turns over the repeats, and each process reports the median time of
one compiled step after a warm-up.

    .venv/bin/python benchmarks/grad_norm_cost.py --repeats 3 --steps 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
import keras
import gan_utils as gu
track, steps = sys.argv[1] == "1", int(sys.argv[2])
recipe = gu.get_recipe("dcgan").with_overrides(precision="float32")
with strategy.scope():
    g, d = recipe.build(recipe, (28, 28, 1))
    gan = recipe.gan_class(g, d, seed=0, track_grad_norms=track,
                           **{k: v for k, v in recipe.gan_kwargs.items()})
    gan.compile()
x = np.random.default_rng(0).uniform(-1, 1, (128, 28, 28, 1)).astype(np.float32)
data = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x).repeat())
gan.make_train_function()
it = iter(data)
for _ in range(3):
    gan.train_function(it)
times = []
for _ in range(steps):
    t = time.perf_counter()
    logs = gan.train_function(it)
    float(logs["g_loss"])
    times.append(time.perf_counter() - t)
print(json.dumps({"track": track, "median_ms": 1000 * float(np.median(times))}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    results = {False: [], True: []}
    for _ in range(args.repeats):
        for track in (False, True):
            out = subprocess.run([sys.executable, "-c", CHILD, "1" if track else "0", str(args.steps)],
                                 capture_output=True, text=True, check=True).stdout
            results[track].append(json.loads(out.strip().splitlines()[-1])["median_ms"])
    for track, ms in results.items():
        print(f"track_grad_norms={track}: median step {statistics.median(ms):.1f} ms over {args.repeats} runs {ms}")
    print(f"overhead: {statistics.median(results[True]) / statistics.median(results[False]) - 1:+.1%}")


if __name__ == "__main__":
    main()
