"""The same GAN code under tf.distribute: two logical CPUs, and two local workers, in subprocesses.

The distributed runs themselves are in distribute_runs.py (one mode per process).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gan_utils.training.checkpoints import list_checkpoints

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
    draw = tf.function(lambda: gan.sample_latent(3))
    draws = [np.asarray(v) for _ in range(3) for v in strategy.experimental_local_results(strategy.run(draw))]
    # Every (step, replica) pair draws its own noise: no replica repeats another's noise of a later step.
    for i in range(len(draws)):
        for j in range(i):
            assert not np.allclose(draws[i], draws[j]), f"draws {j} and {i} (step, replica) are the same noise"

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


# ----------------------------------------------------- every model, exactness, resume, several workers
RUNS = Path(__file__).with_name("distribute_runs.py")


def _env(**extra):
    root = str(Path(__file__).resolve().parents[1])  # this checkout's gan_utils, whatever is installed
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1", PYTHONPATH=path, **extra)


def _run(*args, timeout=240):
    done = subprocess.run([sys.executable, str(RUNS), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=_env())
    return done.stdout + done.stderr[-3000:]


def test_every_model_class_trains_an_epoch_through_train_on_two_replicas(tmp_path):
    """GAN (unconditional and conditional, with EMA and RecalibrateBatchNorm), WGANGP, InfoGAN (labelled),
    InfoWGANGP (fresh real batches): one epoch each through gu.train under MirroredStrategy, with
    synchronised BatchNorm in G; the recipes build under the strategy given; steps_per_execution > 1
    is refused before any file is written."""
    output = _run("models", tmp_path)
    assert "MODELS-OK" in output, output


def test_one_step_on_two_replicas_equals_one_step_on_one_device(tmp_path):
    output = _run("equal", tmp_path)
    assert "EQUAL-OK" in output, output


def test_a_kill_mid_epoch_under_mirrored_strategy_then_rerun_equals_an_uninterrupted_run(tmp_path):
    reference, victim, marker = tmp_path / "reference", tmp_path / "victim", tmp_path / "killed"
    with open(tmp_path / "reference.log", "w") as log:
        ref = subprocess.Popen([sys.executable, str(RUNS), "resume", str(reference)], env=_env(), stdout=log,
                               stderr=subprocess.STDOUT)
        try:
            killed = subprocess.run([sys.executable, str(RUNS), "resume", str(victim), str(marker)], env=_env(),
                                    capture_output=True, text=True, timeout=240)
            assert killed.returncode == -signal.SIGKILL and marker.exists(), killed.stderr[-3000:]
            assert [p.name for p in list_checkpoints(victim / "checkpoints")] == ["ckpt-1"]
            output = _run("resume", victim, marker)
            assert "RESUME-DONE 1 3" in output, output
            assert ref.wait(timeout=240) == 0, (tmp_path / "reference.log").read_text()[-3000:]
        finally:
            if ref.poll() is None:
                ref.kill()
    whole, resumed = (json.loads((run / "history.json").read_text()) for run in (reference, victim))
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert resumed[key] == whole[key], key
    with np.load(f"{reference}.npz") as a, np.load(f"{victim}.npz") as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers(tmp_path, out, epochs: int, timeout: float = 90.0, other_out=None) -> list[str]:
    """Run the two workers of a local cluster (loopback ports only) to the end; their outputs.

    Both write to ``out`` (a folder every worker sees), or worker 1 to ``other_out``.
    """
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    procs, logs = [], []
    for i in range(2):
        tmp = tmp_path / f"tmp{i}"
        tmp.mkdir(exist_ok=True)
        env = _env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}), TMPDIR=str(tmp))
        logs.append(tmp_path / f"worker{i}-{epochs}.log")
        with open(logs[-1], "w") as log:
            folder = other_out if i == 1 and other_out is not None else out
            procs.append(subprocess.Popen([sys.executable, str(RUNS), "multiworker", str(folder), str(epochs),
                                           str(tmp_path / f"weights{i}.npz")], env=env, stdout=log,
                                          stderr=subprocess.STDOUT))
    try:
        for proc in procs:
            proc.wait(timeout=timeout)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [log.read_text() for log in logs]


def test_two_local_workers_train_alike_only_the_chief_writes_and_a_restart_resumes(tmp_path):
    out = tmp_path / "run"

    def check(outputs, resumed_from, epochs):
        chief, other = outputs
        assert f"WORKER-DONE {resumed_from} {epochs} True" in chief, chief[-3000:]
        assert f"WORKER-DONE {resumed_from} {epochs} False" in other, other[-3000:]
        chief_wrote = next(line for line in chief.splitlines() if line.startswith("WROTE")).split()[1:]
        other_wrote = next(line for line in other.splitlines() if line.startswith("WROTE")).split()[1:]
        assert chief_wrote == [str(out / "checkpoints"), str(out / "generator.keras")]
        assert other_wrote and not any(path.startswith(str(out)) for path in other_wrote)  # a temporary folder
        assert not any((tmp_path / "tmp1").iterdir())  # ... removed at the end
        with np.load(tmp_path / "weights0.npz") as a, np.load(tmp_path / "weights1.npz") as b:
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)

    check(_workers(tmp_path, out, 2), 0, 2)
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == ["ckpt-1", "ckpt-2"]
    assert len(json.loads((out / "history.json").read_text())["g_loss"]) == 2
    check(_workers(tmp_path, out, 3), 2, 3)  # a restart of both workers resumes from the chief's checkpoint
    assert len(json.loads((out / "history.json").read_text())["g_loss"]) == 3
    # A worker that cannot see the chief's checkpoints would start over and wait for the others forever:
    # every worker stops with an error that says so instead.
    for output in _workers(tmp_path, out, 4, other_out=tmp_path / "elsewhere"):
        assert "the workers resumed from different epochs" in output and "storage every machine sees" in output, \
            output[-3000:]
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == ["ckpt-1", "ckpt-2", "ckpt-3"]


# ------------------------------------------------------------------------------- in-process checks
def test_generators_use_plain_batch_norm_on_one_device():
    from gan_utils import build_conditional_generator, build_dcgan_generator, build_mlp_generator
    from gan_utils.sampling import find_batch_norms

    for generator in (build_mlp_generator(4, (8, 8, 1), hidden=(8, 8)), build_dcgan_generator(4, (8, 8, 1), width=4),
                      build_conditional_generator(4, (8, 8, 1), 3, width=4)):
        norms = find_batch_norms(generator)
        assert norms and not any(layer.synchronized for layer in norms)


def test_strategy_names_and_their_errors(monkeypatch):
    import tensorflow as tf

    from gan_utils.distribute import check_tf_config, is_chief, make_strategy

    assert make_strategy("one") is tf.distribute.get_strategy()
    assert make_strategy("auto").num_replicas_in_sync == 1  # no GPU here: one device
    with pytest.raises(ValueError, match="strategy must be one of"):
        make_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="reads the cluster from TF_CONFIG, which is not set"):
        make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(ValueError, match="needs both 'cluster' and 'task'"):
        check_tf_config()
    assert is_chief(tf.distribute.get_strategy())


def test_cli_multiworker_without_tf_config_says_what_to_set(tmp_path, monkeypatch, capsys):
    from gan_utils.__main__ import main

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["train", "gan", "--out", str(tmp_path / "run"), "--quick", "--strategy", "multiworker"]) == 2
    assert "TF_CONFIG" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_chief_is_the_chief_task_else_worker_0():
    from types import SimpleNamespace

    from gan_utils.distribute import is_chief

    def strategy(cluster, task_type, task_id):
        spec = SimpleNamespace(as_dict=lambda: cluster)
        resolver = SimpleNamespace(task_type=task_type, task_id=task_id, cluster_spec=lambda: spec)
        return SimpleNamespace(cluster_resolver=resolver)

    workers = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    assert is_chief(strategy(workers, "worker", 0)) and not is_chief(strategy(workers, "worker", 1))
    with_chief = {"chief": ["127.0.0.1:0"], **workers}
    assert is_chief(strategy(with_chief, "chief", 0)) and not is_chief(strategy(with_chief, "worker", 0))
