"""Argument checks shared by the model builders."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from keras import layers

from .layers import SpectralNorm


def check_image_shape(image_shape) -> tuple[int, int, int]:
    """Validate ``(height, width, channels)`` and return it as a tuple of ints."""
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
    if shape is None or len(shape) != 3 or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
    ):
        raise ValueError(
            f"image_shape must be (height, width, channels) of positive ints, got {image_shape!r}; "
            "MNIST is (28, 28, 1)"
        )
    return shape  # type: ignore[return-value]


def check_positive(name: str, value) -> int:
    """Validate a positive integer hyper-parameter."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_widths(name: str, widths: Sequence[int]) -> tuple[int, ...]:
    """Validate a non-empty sequence of positive layer widths; returns it as a tuple."""
    widths = tuple(widths)
    if not widths:
        raise ValueError(f"{name} needs at least one hidden layer width")
    for w in widths:
        check_positive(f"each of {name}", w)
    return widths



def check_bools(**flags) -> None:
    """Validate boolean switches (e.g. ``spectral_norm=True``): a clear error for anything but True or False."""
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")



def check_count(name: str, value, zero_means: str) -> int:
    """Validate an integer >= 0 (NumPy integers accepted, bools refused); ``zero_means`` goes into the message."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 ({zero_means}), got {value!r}")
    return int(value)


def generator_batch_norm(name: str, **kwargs) -> layers.BatchNormalization:
    """A generator's BatchNormalization: synchronised across replicas when built under a strategy with several.

    Under ``tf.distribute`` with more than one replica its batch statistics are those of the
    global batch (``synchronized=True``), so G normalises the same way on 1 or N devices;
    on one device it is the plain layer.
    """
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync if tf.distribute.has_strategy() else 1
    return layers.BatchNormalization(synchronized=replicas > 1, name=name, **kwargs)


def spectral(layer: layers.Layer, spectral_norm: bool) -> layers.Layer:
    """``layer`` wrapped in ``SpectralNorm`` (same name) if ``spectral_norm``, else ``layer`` itself."""
    return SpectralNorm(layer) if spectral_norm else layer
