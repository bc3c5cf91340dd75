"""Is this GAN training healthy? A health-check figure and plain-language warnings from the history.

Both read a training history ``{metric: [value per epoch]}`` (``TrainResult.history``,
``keras.callbacks.History.history`` or the ``History`` object itself) with the
metrics ``gan_utils.GAN`` records: ``d_loss``, ``g_loss``, ``d_real`` = mean
D(x), ``d_fake`` = mean D(G(z)), and the global gradient norms ``d_grad_norm``
and ``g_grad_norm``.

How to read the health check:

- **Loss balance.** Neither loss should run away. With the BCE losses
  ``d_loss`` near 2 log 2 = 1.39 and ``g_loss`` near log 2 = 0.69 (non-saturating)
  mean D cannot tell real from fake; that is the equilibrium, not a failure. A
  ``d_loss`` falling towards 0 while ``g_loss`` climbs means D is winning.
- **D(x) and D(G(z)).** Healthy runs keep both inside (0.1, 0.9), usually with
  D(x) a bit above 0.5 and D(G(z)) a bit below. D(x) -> 1 and D(G(z)) -> 0 is a
  discriminator that wins too fast: G's samples lie where D is saturated and G
  gets little signal. Remedies: one-sided label smoothing, instance noise, a
  smaller D learning rate than G's (two time-scale updates, TTUR), a smaller D.
  With label smoothing D(x) stays near 1 - alpha: read the gap D(x) - D(G(z)).
  With instance noise both are measured on the noisy images D trains on.
- **Gradient norms** (log scale). G's norm collapsing by orders of magnitude
  means G no longer learns (vanishing gradients, e.g. the minimax loss against
  a confident D; with the default non-saturating loss a winning D shows up as a
  climbing ``g_loss`` instead, while G's norm may even grow); norms growing by orders of magnitude come before divergence.
  Steady norms with slow drift are normal.

What the curves cannot show: mode collapse (G producing a few kinds of image)
can look perfectly balanced here. Look at sample grids and measure diversity
(``gan_utils.evaluation``) as well.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

LABELS = {"d_loss": "D loss", "g_loss": "G loss", "d_real": "mean D(x)", "d_fake": "mean D(G(z))",
          "d_grad_norm": "||grad D||", "g_grad_norm": "||grad G||"}
PANELS = {
    "loss balance": ("d_loss", "g_loss"),
    "D on real and fake": ("d_real", "d_fake"),
    "gradient norms": ("d_grad_norm", "g_grad_norm"),
}


def _as_history(history) -> dict[str, list[float]]:
    history = getattr(history, "history", history)  # a keras History or a TrainResult
    if not isinstance(history, Mapping):
        raise ValueError(f"history must be a dict {{metric: [value per epoch]}} (e.g. TrainResult.history or "
                         f"model.fit(...).history), got {type(history).__name__}")
    return {str(k): [float(v) for v in np.ravel(np.asarray(values, dtype=float))] for k, values in history.items()}


def plot_health_check(history, size: tuple[float, float] = (11.0, 3.0)):
    """A row of small panels: loss balance, D on real and fake, gradient norms.

    Panels whose metrics are not in the history are left out (a WGAN critic has
    no ``d_real``; gradient norms need ``GAN(track_grad_norms=True)``, the
    default). The D panel draws the 0.5 line of a D that cannot tell; the
    gradient norms are on a log scale. See the module docstring for how to read it.

    Args:
        history: ``{metric: [value per epoch]}`` or an object with a ``.history`` dict.
        size: figure size in inches.

    Returns:
        The matplotlib Figure; its axes are titled with the keys of ``PANELS``.
    """
    import matplotlib.pyplot as plt

    history = _as_history(history)
    panels = {title: [k for k in keys if history.get(k)] for title, keys in PANELS.items()}
    panels = {title: keys for title, keys in panels.items() if keys}
    if not panels:
        wanted = sorted({k for keys in PANELS.values() for k in keys})
        raise ValueError(f"history has none of the metrics {wanted}; it has {sorted(history)}. "
                         "Pass the history of a gan_utils.GAN run")
    fig, axes = plt.subplots(1, len(panels), figsize=size, squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels.items()):
        for key in keys:
            values = np.asarray(history[key])
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=LABELS.get(key, key))
        if title == "D on real and fake":
            ax.axhline(0.5, color="gray", lw=1, ls="--", label="cannot tell (0.5)")
            ax.set_ylim(0.0, 1.0)
        if title == "gradient norms" and all(v > 0 for k in keys for v in history[k] if math.isfinite(v)):
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def health_report(history, window: int = 3, confident: float = 0.9, gap: float = 0.7, vanish_ratio: float = 0.01,
                  explode_ratio: float = 100.0, swing: float = 0.2) -> list[str]:
    """Warnings, in plain words, from a few simple rules on the per-epoch history; [] if none fire.

    The rules (each needs its metrics in the history; "recent" = the last
    ``window`` epochs, or all of them if fewer):

    1. Not finite: any loss or gradient norm is NaN or infinite.
    2. D wins: over the recent epochs D(G(z)) < 1 - ``confident`` and D(x) - D(G(z)) >
       ``gap``. The gap, not D(x) alone, so that one-sided label smoothing, which caps
       D(x) near 1 - alpha, does not hide a winning D (for alpha above about 0.2 lower ``gap``).
    3. G's gradient vanishes: its last norm is below ``vanish_ratio`` times its
       largest norm of the run (needs 2 epochs or more).
    4. Gradients explode: a last norm above ``explode_ratio`` times that network's first norm.
    5. Oscillation: over the last 2 * ``window`` + 1 epochs, ``g_loss`` goes up and
       down in turn every epoch, with a median swing above ``swing`` times its mean level.

    These are rules of thumb on epoch means, not proofs: a quiet report does
    not rule out mode collapse (look at the samples), and a warning early in a
    run can pass. Read them with ``plot_health_check``.
    """
    history = _as_history(history)
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise ValueError(f"window must be a positive integer (epochs), got {window!r}")
    if not 0.5 < confident < 1.0:
        raise ValueError(f"confident must be in (0.5, 1), e.g. 0.9; got {confident!r}")
    if not 0.0 < gap < 1.0:
        raise ValueError(f"gap must be in (0, 1), e.g. 0.7; got {gap!r}")
    warnings = []
    watched = [k for k in ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm") if history.get(k)]
    for key in watched:
        bad = [i + 1 for i, v in enumerate(history[key]) if not math.isfinite(v)]
        if bad:
            warnings.append(f"{key} is not finite from epoch {bad[0]} on: training diverged. Lower the learning "
                            "rates, check the data for NaN, and under mixed precision keep the losses in float32.")
    real, fake = history.get("d_real", []), history.get("d_fake", [])
    if real and fake:
        k = min(window, len(real), len(fake))
        if all(f < 1.0 - confident and r - f > gap for r, f in zip(real[-k:], fake[-k:])):
            warnings.append(
                f"D is winning: over the last {k} epoch(s) mean D(G(z)) < {1.0 - confident:.2g} and mean D(x) is "
                f"more than {gap:.2g} above it, so G gets little useful gradient. Try a smaller D learning rate "
                "than G's (two time-scale updates), a smaller D or fewer D steps, instance noise (InstanceNoiseGAN), or "
                "label_smoothing=0.1.")
    g_norm = [v for v in history.get("g_grad_norm", []) if math.isfinite(v)]
    if len(g_norm) >= 2 and g_norm[-1] < vanish_ratio * max(g_norm):
        warnings.append(
            f"G's gradient is vanishing: its norm fell from {max(g_norm):.3g} to {g_norm[-1]:.3g} "
            f"(below {vanish_ratio:g} of its peak). Use the non-saturating loss and weaken D (see 'D is winning').")
    for key, who in (("d_grad_norm", "D"), ("g_grad_norm", "G")):
        norms = [v for v in history.get(key, []) if math.isfinite(v)]
        if len(norms) >= 2 and norms[0] > 0 and norms[-1] > explode_ratio * norms[0]:
            warnings.append(f"{who}'s gradient norm grew from {norms[0]:.3g} to {norms[-1]:.3g}: training may be "
                            "about to diverge. Lower the learning rates or add a gradient penalty / spectral norm.")
    g_loss = [v for v in history.get("g_loss", []) if math.isfinite(v)][-(2 * window + 1):]
    if len(g_loss) == 2 * window + 1:
        steps = np.diff(g_loss)
        alternating = all(a * b < 0 for a, b in zip(steps[:-1], steps[1:]))
        level = abs(float(np.mean(g_loss)))
        if alternating and level > 0 and float(np.median(np.abs(steps))) > swing * level:
            warnings.append(f"g_loss oscillates: it went up and down in turn over the last {len(g_loss)} epochs by "
                            f"about {float(np.median(np.abs(steps))):.3g}. Lower the learning rates (or beta_1), "
                            "or keep an EMA of G's weights (ema_decay).")
    return warnings
