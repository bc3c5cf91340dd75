"""A 2-D toy problem where mode collapse is visible: a ring of Gaussians (Metz et al., 2016).

The data are a mixture of ``modes`` (8) isotropic Gaussians with std 0.02 whose
centres sit evenly on a circle of radius 2 ("Unrolled Generative Adversarial
Networks", Metz et al., 2016, sec. 3.1). A GAN that covers only some of the
modes, or hops from one mode to the next, shows it in a scatter plot, and
``mode_coverage`` counts it. The models are small MLPs (two hidden layers of 128,
as in Metz et al.) that train through ``gan_utils.GAN`` / ``WGANGP`` like any
other pair: generator z [B, latent_dim] -> points [B, 2], discriminator points ->
logit [B, 1].
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

from .models import check_bools, check_positive, check_widths, mlp_discriminator_head


def _check_ring(modes, radius, std) -> None:
    check_positive("modes", modes)
    for name, value in (("radius", radius), ("std", std)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value > 0 or not math.isfinite(value):
            raise ValueError(f"{name} must be a positive number, got {value!r}")


def ring_centres(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The mixture's means: float32 [modes, 2], ``radius * (cos a_k, sin a_k)`` with a_k = 2 pi k / modes."""
    _check_ring(modes, radius, 1.0)
    angles = 2.0 * np.pi * np.arange(modes) / modes
    return (radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)).astype(np.float32)


def ring_of_gaussians(n: int, modes: int = 8, radius: float = 2.0, std: float = 0.02, seed: int = 0,
                      return_modes: bool = False):
    """``n`` points from the ring of Gaussians: each picks a mode uniformly, then adds N(0, std^2 I).

    Args:
        n: number of points.
        modes: number of Gaussians on the ring.
        radius: radius of the circle of centres.
        std: standard deviation of each Gaussian (per coordinate).
        seed: NumPy seed; the same seed gives the same points.
        return_modes: also return each point's mode.

    Returns:
        float32 [n, 2], or ``(points, int32 [n] mode index)``. Values lie in about
        [-(radius + 5 std), radius + 5 std], not in [-1, 1]: the toy generator has a linear output.
    """
    check_positive("n", n)
    _check_ring(modes, radius, std)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, modes, size=n).astype(np.int32)
    points = ring_centres(modes, radius)[index] + std * rng.standard_normal((n, 2))
    points = points.astype(np.float32)
    return (points, index) if return_modes else points


def toy_dataset(n: int = 25_600, batch_size: int = 256, seed: int = 0, modes: int = 8, radius: float = 2.0,
                std: float = 0.02):
    """A shuffled, batched ``tf.data.Dataset`` of ring points, float32 [batch_size, 2] per batch.

    ``make_dataset`` is for images (it checks for [N, H, W(, C)] in [-1, 1]), so the
    points go straight into the same epoch-ordered pipeline (``pipeline.EpochOrder``):
    ``n`` points drawn once with ``seed``, reshuffled on every pass, batched with
    ``drop_remainder=True`` and prefetched. ``gu.train(gan, toy_dataset(...), out, epochs)``
    gives epoch k the order of (seed, k), so a resumed run repeats an uninterrupted one;
    ``gan.fit(dataset, epochs=...)`` works too.
    """
    from .data.pipeline import EpochOrder

    check_positive("batch_size", batch_size)
    if batch_size > n:
        raise ValueError(f"batch_size {batch_size} is larger than n={n} points: no full batch; "
                         "use a smaller batch_size or more points")
    order = EpochOrder(ring_of_gaussians(n, modes, radius, std, seed), int(batch_size), True, int(seed))
    ds = order.passes()
    ds.epoch_order = order
    return ds


def build_toy_generator(latent_dim: int = 2, hidden: Sequence[int] = (128, 128), name: str = "toy_generator"
                        ) -> keras.Model:
    """MLP generator for 2-D points: z -> Dense/ReLU x len(hidden) -> Dense(2), linear output.

    Metz et al. (2016) use two hidden ReLU layers of 128 and a 256-d z; a small z does the
    same job here for less compute. No BatchNorm, no tanh (the ring reaches radius 2).

    Returns:
        keras.Model: float32 [B, latent_dim] -> float32 [B, 2].
    """
    check_positive("latent_dim", latent_dim)
    widths = check_widths("hidden", hidden)
    z = keras.Input((latent_dim,), name="z")
    x = z
    for i, width in enumerate(widths):
        x = layers.Dense(width, activation="relu", name=f"dense_{i}")(x)
    points = layers.Dense(2, dtype="float32", name="points")(x)
    return keras.Model(z, points, name=name)


def build_toy_discriminator(hidden: Sequence[int] = (128, 128), spectral_norm: bool = False,
                            minibatch_std: bool = False, input_scale: float = 0.25,
                            name: str = "toy_discriminator") -> keras.Model:
    """MLP discriminator for 2-D points: scale -> Dense/LeakyReLU(0.2) x len(hidden) -> one logit.

    The same head as ``build_mlp_discriminator`` (``models.mlp_discriminator_head``), after a
    ``Rescaling(input_scale)`` that brings the ring to about [-0.5, 0.5] (Metz et al. scale
    the input down by 4). No BatchNorm, so ``WGANGP`` accepts it as a critic.

    Args:
        hidden: widths of the hidden Dense layers.
        spectral_norm: wrap every Dense in ``SpectralNorm`` (Miyato et al., 2018).
        minibatch_std: ``MinibatchStdDev`` before the logit layer (Karras et al., 2018).
        input_scale: factor applied to the points first. With ``spectral_norm`` every
            layer is at most 1-Lipschitz, so the logit can change by at most
            ``input_scale`` times the distance between two points: at 0.25 D can barely
            tell a mode (std 0.02) from its surroundings and learns very slowly; use a
            larger scale (e.g. 16) with spectral normalisation.
        name: model name.

    Returns:
        keras.Model: float32 [B, 2] -> logits float32 [B, 1].
    """
    widths = check_widths("hidden", hidden)
    check_bools(spectral_norm=spectral_norm, minibatch_std=minibatch_std)
    if not isinstance(input_scale, numbers.Real) or isinstance(input_scale, bool) or not input_scale > 0:
        raise ValueError(f"input_scale must be a positive number, got {input_scale!r}")
    points = keras.Input((2,), name="points")
    x = layers.Rescaling(float(input_scale), name="scale")(points)
    logit = mlp_discriminator_head(x, widths, 0.0, spectral_norm, minibatch_std)
    return keras.Model(points, logit, name=name)


def mode_coverage(samples, modes: int = 8, radius: float = 2.0, std: float = 0.02, threshold: float = 3.0,
                  min_fraction: float = 0.1) -> dict:
    """How many of the ring's modes the samples cover, and how many samples are good.

    The rule (after Srivastava et al., 2017, VEEGAN, sec. 5.1, used on the same ring):

    - a sample is *high quality* if it lies within ``threshold * std`` (3 std) of the
      nearest centre, and then belongs to that mode;
    - a mode is *covered* if it holds at least ``min_fraction`` of its fair share of the
      samples, i.e. ``max(1, min_fraction * N / modes)`` high-quality samples (default: a
      tenth of the N / modes a perfect generator would put there). ``min_fraction=0``
      counts a mode as soon as one sample lands on it.

    Args:
        samples: float [N, 2] points (e.g. ``generator.predict(z)``).
        modes, radius, std: the ring's parameters (as for ``ring_of_gaussians``).
        threshold: the high-quality radius in units of ``std``.
        min_fraction: the covered-mode rule above, in [0, 1].

    Returns:
        dict: ``modes_covered`` (int), ``high_quality`` (fraction of the N samples, float),
        ``counts`` (int list [modes], high-quality samples per mode), ``min_count`` (the
        rule's count) and ``n`` (N).
    """
    _check_ring(modes, radius, std)
    if not isinstance(threshold, numbers.Real) or isinstance(threshold, bool) or not threshold > 0:
        raise ValueError(f"threshold must be a positive number of standard deviations (3 is usual), got {threshold!r}")
    if not isinstance(min_fraction, numbers.Real) or isinstance(min_fraction, bool) or not 0 <= min_fraction <= 1:
        raise ValueError(f"min_fraction must be in [0, 1], got {min_fraction!r}")
    x = np.asarray(samples)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"samples must be points float [N, 2] with N >= 1, got shape {x.shape} and dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("samples contain NaN or Inf: the generator diverged; check the training losses")
    distances = np.linalg.norm(x[:, None, :] - ring_centres(modes, radius)[None].astype(np.float64), axis=2)
    nearest = np.argmin(distances, axis=1)
    good = distances[np.arange(len(x)), nearest] <= threshold * std
    counts = np.bincount(nearest[good], minlength=modes)
    min_count = max(1, math.ceil(min_fraction * len(x) / modes))
    return {
        "modes_covered": int(np.sum(counts >= min_count)),
        "high_quality": float(np.mean(good)),
        "counts": counts.astype(int).tolist(),
        "min_count": int(min_count),
        "n": int(len(x)),
    }


class RingMonitor(keras.callbacks.Callback):
    """Every ``every`` train steps, draws G's points for a fixed z and scores them with ``mode_coverage``.

    ``snapshots`` maps the step to float32 [n, 2] points, ``coverage`` to the
    ``mode_coverage`` dict, so a notebook can plot the ring at several steps
    (``plot_ring``) and print how the covered modes change. Use it as an extra
    callback of ``gu.train`` or ``gan.fit``; it reads ``model.sampler``.

    Args:
        every: train steps between two snapshots (the first is taken after ``every`` steps).
        n: points per snapshot.
        seed: seed of the fixed z.
        ring: keyword arguments of ``mode_coverage`` (``modes``, ``radius``, ``std`` ...).
    """

    def __init__(self, every: int = 500, n: int = 2500, seed: int = 0, **ring):
        super().__init__()
        check_positive("every", every)
        check_positive("n", n)
        self.every, self.n, self.seed, self.ring = int(every), int(n), seed, ring
        self.snapshots: dict[int, np.ndarray] = {}
        self.coverage: dict[int, dict] = {}
        self._z = None

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.g_optimizer.iterations.numpy())
        # A snapshot whenever another `every` steps have passed (with steps_per_execution > 1 the
        # callback sees every k-th step only, so test the interval, not the remainder).
        if step // self.every <= max(self.snapshots, default=0) // self.every:
            return
        sampler = self.model.sampler
        if self._z is None:
            latent_dim = int(sampler.inputs[0].shape[-1])
            self._z = np.random.default_rng(self.seed).standard_normal((self.n, latent_dim)).astype(np.float32)
        points = np.asarray(sampler(self._z, training=False), np.float32)
        self.snapshots[step] = points
        self.coverage[step] = mode_coverage(points, **self.ring)


def plot_ring(snapshots: dict, modes: int = 8, radius: float = 2.0, std: float = 0.02, ncols: int | None = None,
              size: float = 2.4, title: str | None = None):
    """Scatter plots of generated points over the ring's modes, one panel per entry of ``snapshots``.

    Args:
        snapshots: ``{label: float [N, 2] points}``, e.g. ``RingMonitor.snapshots`` ({step: points})
            or ``{method name: points}``. Each panel's title gives the label and the modes covered.
        modes, radius, std: the ring (its centres are drawn as circles of 3 std).
        ncols: panels per row (default: all in one row).

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    if not snapshots:
        raise ValueError("snapshots is empty: pass {label: points [N, 2]}")
    ncols = ncols or len(snapshots)
    nrows = -(-len(snapshots) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    centres = ring_centres(modes, radius)
    lim = radius * 1.6
    for ax in axes.ravel()[len(snapshots):]:
        ax.axis("off")
    for ax, (label, points) in zip(axes.ravel(), snapshots.items()):
        points = np.asarray(points)
        covered = mode_coverage(points, modes, radius, std)["modes_covered"]
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.3, color="C0", rasterized=True)
        for c in centres:
            ax.add_patch(plt.Circle(c, 3 * std, color="C3", fill=False, lw=1))
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
        ax.set_title(f"{label}: {covered}/{modes} modes", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
