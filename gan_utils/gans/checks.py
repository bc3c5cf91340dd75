"""Argument checks of the GAN classes: each names the problem and the fix."""

from __future__ import annotations

import numbers

import keras


def input_shapes(model: keras.Model, role: str) -> list[tuple]:
    """The shapes of a model's inputs; a clear error for a model without defined inputs."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(f"the {role} has no defined inputs; build it with keras.Input(...) (a functional model, or "
                         "Sequential starting with keras.Input) before passing it to GAN")
    return [tuple(t.shape) for t in inputs]


def check_pair(generator: keras.Model, discriminator: keras.Model) -> tuple[int, tuple, bool]:
    """``(latent_dim, image_shape, conditional)`` of a generator / discriminator pair that fit each other."""
    g_in, d_in = input_shapes(generator, "generator"), input_shapes(discriminator, "discriminator")
    if len(g_in) != len(d_in) or len(g_in) not in (1, 2):
        raise ValueError(f"generator takes {len(g_in)} input(s) and discriminator {len(d_in)}; an unconditional GAN "
                         "needs one each (z; images), a conditional GAN two each ([z, labels]; [images, labels])")
    image_shape = tuple(int(d) for d in d_in[0][1:])
    g_out = tuple(generator.outputs[0].shape[1:])
    if g_out != image_shape:
        raise ValueError(f"generator output shape {g_out} does not match discriminator input shape {image_shape}; "
                         "build both for the same image shape")
    d_out = tuple(discriminator.outputs[0].shape[1:])
    if d_out not in ((), (1,)):
        raise ValueError(f"the discriminator must give one logit per image, [B, 1] or [B]; it gives {d_out} per "
                         "image. End it with Dense(1) (flatten first), or subclass GAN and override discriminate() "
                         "for another kind of output")
    return int(g_in[0][-1]), image_shape, len(g_in) == 2


def check_weight(name: str, value, usual: str) -> float:
    """A loss weight: a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0 ({usual}), got {value!r}")
    return float(value)


def check_ema_decay(ema_decay) -> float | None:
    if ema_decay is not None and (isinstance(ema_decay, bool) or not isinstance(ema_decay, numbers.Real)
                                  or not 0.0 < ema_decay < 1.0):
        raise ValueError(f"ema_decay must be in (0, 1), e.g. 0.999, or None; got {ema_decay!r}")
    return None if ema_decay is None else float(ema_decay)
