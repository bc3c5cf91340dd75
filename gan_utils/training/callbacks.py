"""Keras callbacks used by ``gan_utils.train``: history, sample grids, checkpoints, NaN guard, time budget,
and ``RecalibrateBatchNorm`` (standing BatchNorm statistics for the EMA generator).

They share one ``RunState`` so that a checkpoint carries the history and the
fixed noise, and a resumed run continues both.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from ..plotting import save_image_grid
from .checkpoints import TrainingCheckpoints, tracked_variables


@dataclass
class RunState:
    """What a training run carries across epochs and resumes.

    Attributes:
        fixed_noise: float32 [K, latent_dim], the noise behind every sample grid (or [K, ...], what a
            model with its own ``grid_inputs`` draws its grid from).
        fixed_labels: int32 [K] for conditional models, else None.
        history: ``{metric: [value per epoch]}``, including ``seconds``.
        epoch: completed epochs.
    """

    fixed_noise: np.ndarray
    fixed_labels: np.ndarray | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    epoch: int = 0

    def to_record(self) -> dict:
        """The JSON record a checkpoint carries (float32 noise survives JSON exactly)."""
        return {
            "epoch": self.epoch,
            "history": self.history,
            "fixed_noise": self.fixed_noise.tolist(),
            "fixed_labels": None if self.fixed_labels is None else self.fixed_labels.tolist(),
        }

    @classmethod
    def from_record(cls, record: dict) -> RunState:
        labels = record.get("fixed_labels")
        return cls(
            fixed_noise=np.asarray(record["fixed_noise"], np.float32),
            fixed_labels=None if labels is None else np.asarray(labels, np.int32),
            history={k: list(v) for k, v in record.get("history", {}).items()},
            epoch=int(record["epoch"]),
        )


class HistoryRecorder(keras.callbacks.Callback):
    """Appends each epoch's metrics (and its duration in ``seconds``) to ``state.history``.

    With ``score_samples`` > 0 it also records ``score``: the classifier score
    (``evaluation.classifier.classifier_score``) of that many samples of the sampling
    generator, drawn from a fixed seed, and for a conditional generator
    ``label_acc`` (``evaluation.classifier.label_accuracy``, balanced labels). Scoring is not
    counted in ``seconds``.
    """

    def __init__(self, state: RunState, score_samples: int = 0, num_classes: int | None = None):
        super().__init__()
        self.state = state
        self.score_samples = score_samples
        self.num_classes = num_classes
        self._start = 0.0
        self._classifier = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = round(time.perf_counter() - self._start, 3)
        for key, value in (logs or {}).items():
            self.state.history.setdefault(key, []).append(float(value))
        self.state.history.setdefault("seconds", []).append(seconds)
        if self.score_samples:
            for key, value in self._score().items():
                self.state.history.setdefault(key, []).append(value)
        self.state.epoch = epoch + 1

    def _score(self) -> dict[str, float]:
        from ..evaluation.classifier import (
            classifier_probs,
            classifier_score,
            label_accuracy,
            load_classifier,
        )
        from ..sampling import generate_images

        if self._classifier is None:
            self._classifier = load_classifier()
        images, labels = generate_images(self.model.sampler, self.score_samples, seed=12345,
                                         num_classes=self.num_classes)
        probs = classifier_probs(images, self._classifier)
        scores = {"score": round(classifier_score(probs), 4)}
        # Label accuracy needs the generator's classes to be the classifier's (the ten digits).
        if labels is not None and int(labels.max()) < probs.shape[1]:
            scores["label_acc"] = round(label_accuracy(probs, labels)["overall"], 4)
        return scores


class SampleGrid(keras.callbacks.Callback):
    """Saves ``frames/epoch_NNNN.png``: the generator's images for the fixed noise.

    A model with a ``grid_images(fixed_noise, fixed_labels)`` method draws the grid's
    images itself (e.g. Pix2Pix: rows of inputs, outputs and targets).
    """

    def __init__(self, state: RunState, folder: str | Path, ncols: int = 8, scale: int = 1):
        super().__init__()
        self.state = state
        self.folder = Path(folder)
        self.ncols = ncols
        self.scale = scale

    def on_epoch_end(self, epoch, logs=None):
        draw = getattr(self.model, "grid_images", None)
        if draw is not None:
            images = draw(self.state.fixed_noise, self.state.fixed_labels)
        else:
            images = self.model.generate(
                self.state.fixed_noise, self.state.fixed_labels, training=False, model=self.model.sampler
            )
        save_image_grid(np.asarray(images), self.folder / f"epoch_{epoch + 1:04d}.png", self.ncols, self.scale)


class Checkpointer(keras.callbacks.Callback):
    """Writes checkpoint ``ckpt-<epoch>`` (with ``state``'s record) at the end of every epoch.

    ``checkpoints`` is the run's ``TrainingCheckpoints`` (the one it was restored
    from); it keeps the newest ``keep`` it was made with.
    """

    def __init__(self, state: RunState, checkpoints: TrainingCheckpoints):
        super().__init__()
        self.state = state
        self.checkpoints = checkpoints

    def on_epoch_end(self, epoch, logs=None):
        self.checkpoints.save(epoch + 1, self.state.to_record())  # the record's epoch is set to epoch + 1


def over_time_budget(seconds: list[float], max_minutes: float | None) -> bool:
    """True when one more epoch as long as the longest so far would take the training time past the budget.

    ``seconds`` are the epochs' training times (``history["seconds"]``, over resumed runs
    too); ``max_minutes`` None is no budget. With no epoch done yet nothing is known, so
    the first epoch always runs.
    """
    if max_minutes is None or not seconds:
        return False
    return sum(seconds) + max(seconds) > 60.0 * max_minutes


class TimeBudget(keras.callbacks.Callback):
    """Stops training after an epoch when the next one would not fit in ``max_minutes`` of training.

    It reads the epoch times ``HistoryRecorder`` writes (so it must run after it) and
    ends training with a whole epoch checkpointed: a run stopped this way resumes with
    more epochs or a larger budget.
    """

    def __init__(self, state: RunState, max_minutes: float):
        super().__init__()
        self.state = state
        self.max_minutes = max_minutes

    def on_epoch_end(self, epoch, logs=None):
        if over_time_budget(self.state.history.get("seconds", []), self.max_minutes):
            self.model.stop_training = True


class TrainingDivergedError(FloatingPointError):
    """A loss, weight or optimiser state became NaN or infinite during training."""


LIKELY_CAUSES = (
    "Likely causes: a learning rate that is too high, float16 overflow under mixed precision "
    "(keep losses in float32, use loss scaling), a missing epsilon in a log/sqrt/division, or "
    "NaN/Inf in the training images."
)


class RecalibrateBatchNorm(keras.callbacks.Callback):
    """At the end of every epoch, set the EMA generator's BatchNorm statistics from its own samples.

    During training the EMA generator carries the live generator's moving statistics,
    which were measured on other weights. This callback runs ``num_samples`` z from a
    fixed seed (and balanced labels for a conditional GAN) once through the EMA
    generator in training mode (``sampling.recalibrate_batch_norm``), so its samples,
    the epoch's grid, scores and checkpoint use statistics that fit its weights. The
    same weights and seed give the same statistics, so a resumed run stays exact.
    ``gan_utils.train`` runs it before its own callbacks (``runs_first``).
    """

    runs_first = True

    def __init__(self, num_samples: int = 4096, seed: int = 0):
        super().__init__()
        self.num_samples, self.seed = _check_num_samples(num_samples), seed

    def on_train_begin(self, logs=None):
        _require_ema(self.model)  # fail before the first epoch, not after it

    def on_epoch_end(self, epoch, logs=None):
        recalibrate_ema_generator(self.model, self.num_samples, self.seed)


def _require_ema(gan) -> None:
    if getattr(gan, "ema_generator", None) is None:
        raise ValueError("recalibration works on the EMA generator: build the GAN with ema_decay=... (e.g. 0.999)")


def _check_num_samples(num_samples) -> int:
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 2:
        raise ValueError(f"num_samples must be an integer >= 2 (a few thousand gives stable statistics), "
                         f"got {num_samples!r}")
    return num_samples


def recalibrate_ema_generator(gan, num_samples: int = 4096, seed: int = 0) -> int:
    """``sampling.recalibrate_batch_norm`` on ``gan.ema_generator`` with ``num_samples`` z from a fixed seed.

    Returns the number of BatchNorm layers recalibrated.
    """
    import tensorflow as tf

    from ..sampling import balanced_labels, num_classes_of, recalibrate_batch_norm

    _require_ema(gan)
    _check_num_samples(num_samples)

    z = tf.random.stateless_normal((num_samples, gan.latent_dim), seed=(int(seed), 0x5EED))
    if gan.conditional:
        labels = tf.constant(balanced_labels(num_samples, num_classes_of(gan.ema_generator)))
        return recalibrate_batch_norm(gan.ema_generator, [z, labels])
    return recalibrate_batch_norm(gan.ema_generator, z)


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss, with a message that says what to try.

    After every batch it checks the logged losses; at the end of every epoch it
    checks every float variable a checkpoint would hold (weights, BatchNorm
    statistics, the EMA copy, the optimisers' moments), which catches a non-finite
    gradient in the epoch's last update whose loss was still finite. Raising here
    aborts ``fit`` before the epoch's checkpoint is written (``NaNGuard`` runs
    before ``Checkpointer``), so the last good checkpoint stays the newest one.
    """

    def __init__(self, checkpoint_folder: str | Path | None = None):
        super().__init__()
        self.checkpoint_folder = checkpoint_folder
        self._epoch = 0

    def _kept(self) -> str:
        if not self.checkpoint_folder:
            return ""
        return (f" The last good checkpoint is kept in {self.checkpoint_folder}: fix the cause and run the same "
                "command again to resume from it.")

    def _global_step(self) -> str:
        iterations = getattr(getattr(self.model, "g_optimizer", None), "iterations", None)
        return "" if iterations is None else f" (training step {int(np.asarray(iterations))} overall)"

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _variables(self) -> dict[str, list]:
        if hasattr(self.model, "checkpoint_items"):
            return tracked_variables(self.model.checkpoint_items())
        optimizer = getattr(self.model, "optimizer", None)
        return {"model": self.model.variables, "optimizer": list(getattr(optimizer, "variables", []))}

    def on_epoch_end(self, epoch, logs=None):
        for group, variables in self._variables().items():
            for v in variables:
                value = keras.ops.convert_to_numpy(v)
                if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
                    name = getattr(v, "path", None) or getattr(v, "name", "?")
                    raise TrainingDivergedError(
                        f"non-finite values in {group} variable {name} at the end of epoch {epoch + 1}"
                        f"{self._global_step()}, although the logged losses were finite: an update had a "
                        f"non-finite gradient. {LIKELY_CAUSES}{self._kept()}"
                    )

    def on_train_batch_end(self, batch, logs=None):
        bad = {k: float(v) for k, v in (logs or {}).items() if "loss" in k and not math.isfinite(float(v))}
        if bad:
            raise TrainingDivergedError(
                f"non-finite loss at epoch {self._epoch + 1}, step {batch + 1}{self._global_step()}: {bad}. "
                f"{LIKELY_CAUSES}{self._kept()}"
            )
