"""Several GPUs or machines through ``tf.distribute``: pick a strategy, build under its scope.

The one way in is Keras': build (and compile) the GAN under ``strategy.scope()``;
``gan_utils.train`` then reads the strategy off the model (``gan.distribute_strategy``)::

    strategy = gu.distribute.make_strategy("mirrored")      # every GPU of this machine
    with strategy.scope():
        gan = gu.GAN(build_generator(), build_discriminator())
        gan.compile()
    gu.train(gan, gu.make_dataset(x, batch_size=64 * strategy.num_replicas_in_sync), "artifacts/run", 10)

Each dataset batch is the *global* batch: it is split evenly over the replicas, and each
update sums their gradients of the per-replica mean losses divided by the replica count,
i.e. the gradient of the mean loss over the global batch.
"""

from __future__ import annotations

import json
import os

STRATEGIES = ("auto", "one", "mirrored", "multiworker")


def make_strategy(name: str = "auto"):
    """A ``tf.distribute.Strategy`` by name.

    - "one": one device (TensorFlow's default strategy: nothing changes).
    - "mirrored": ``MirroredStrategy`` over every visible GPU (or the CPU when there is none).
    - "multiworker": ``MultiWorkerMirroredStrategy``; the cluster and this machine's role are
      read from the ``TF_CONFIG`` environment variable. Create it before any other
      TensorFlow work in the program.
    - "auto": "mirrored" when more than one GPU is visible, else "one".
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "auto":
        name = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "one"
    if name == "one":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    check_tf_config()
    return tf.distribute.MultiWorkerMirroredStrategy()


def check_tf_config() -> dict:
    """The parsed ``TF_CONFIG``; a clear error when it is missing or lacks ``cluster`` and ``task``."""
    example = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
               '"index": 0}}\' (index 1 on the second machine)')
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError(f"--strategy multiworker reads the cluster from TF_CONFIG, which is not set; set it on every "
                         f"machine, e.g. {example}")
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}); set it as e.g. {example}") from None
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise ValueError(f"TF_CONFIG needs both 'cluster' and 'task'; got {raw!r}; set it as e.g. {example}")
    return config


def replicas_in_scope() -> int:
    """Replicas of the strategy whose scope we are in (1 outside any scope)."""
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def is_chief(strategy) -> bool:
    """Whether this process writes a run's files: always on one machine; under several, only the chief.

    The chief is the task of type "chief", or worker 0 when the cluster has no "chief" task.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if resolver is None or task_type is None:
        return True
    if task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and resolver.task_id == 0 and not has_chief


def check_steps_per_execution(gan) -> None:
    """Refuse ``steps_per_execution > 1`` under a strategy with several replicas, before any work."""
    replicas = gan.distribute_strategy.num_replicas_in_sync
    per_call = int(getattr(gan, "steps_per_execution", 1) or 1)
    if replicas > 1 and per_call > 1:
        raise ValueError(
            f"steps_per_execution={per_call} is not supported under a distribution strategy ({replicas} replicas): "
            "gan_utils.train makes every epoch a whole number of compiled calls, which drops batches, and this "
            "combination is not tested here. Compile with steps_per_execution=1 (each step already runs on "
            "every replica at once)")


def check_workers_agree(strategy, epoch: int, folder) -> None:
    """Across several machines, a clear error unless every worker resumed from the same epoch.

    Workers that disagree would wait for each other forever; they disagree when the
    non-chief workers cannot see the chief's checkpoints (an output folder that is not on
    shared storage). Every worker raises the same error.
    """
    import tensorflow as tf

    from .gans.gan import _multi_worker

    if not _multi_worker(strategy):
        return
    value = float(epoch)
    per_replica = strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant([1.0, value, value * value]))
    count, total, squares = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None).numpy()
    if squares * count != total * total:  # all equal exactly when the variance is 0
        raise RuntimeError(
            f"the workers resumed from different epochs (this one from epoch {epoch}, the mean over the workers "
            f"is {total / count:g}): each worker reads the chief's checkpoints in {folder}, which some workers "
            "cannot see. Put the output folder on storage every machine sees (e.g. NFS), or start the run over "
            "in a new folder on all workers")
