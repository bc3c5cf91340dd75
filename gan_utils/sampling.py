"""Drawing samples from a saved generator."""

from __future__ import annotations

import numbers
from pathlib import Path

import keras
import numpy as np

from .data import to_uint8_images
from .io import atomic_path


def balanced_labels(n: int, num_classes: int = 10) -> np.ndarray:
    """int32 [n]: 0, 1, ..., K-1, 0, 1, ... (every class within one of n/K)."""
    return (np.arange(n) % num_classes).astype(np.int32)


def num_classes_of(generator: keras.Model, default: int = 10) -> int:
    """The number of labels a conditional generator takes: the size of its first ``Embedding``.

    Nested models are searched too. Generators without an Embedding (e.g. one-hot
    inputs) give ``default``: pass ``num_classes`` explicitly to the functions
    that take it (``train``, ``generate_images``, ``class_grid_images``).
    """
    for layer in generator._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.input_dim)
    return default


def find_batch_norms(model: keras.Model) -> list:
    """The ``BatchNormalization`` layers anywhere in ``model`` (nested models included)."""
    # _flatten_layers also walks layers held by custom layers, which .layers does not list.
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization)]


def recalibrate_batch_norm(model: keras.Model, inputs) -> int:
    """Set every BatchNorm layer's moving mean and variance to its batch statistics on ``inputs``.

    "Standing statistics" (Brock et al., 2019, Appendix C.1): one forward pass in
    training mode with the layers' momentum set to 0, so each moving statistic
    becomes the mean (or biased variance) over this batch, every layer seeing the
    batch-normalised activations of the layers before it. Afterwards
    ``model(inputs, training=False)`` equals ``model(inputs, training=True)``.
    The trainable weights are not touched, and each momentum is restored.

    Use it for weights whose moving statistics were never estimated, such as an
    exponential moving average of a generator's weights. ``inputs``: what the model
    takes (z, or ``[z, labels]``), one batch large enough for stable statistics
    (a few thousand samples). Returns the number of BatchNorm layers recalibrated.
    """
    layers = find_batch_norms(model)
    saved = [(layer.momentum, layer.trainable, layer.moving_mean.numpy(), layer.moving_variance.numpy())
             for layer in layers]
    done = False
    try:
        for layer in layers:
            layer.momentum = 0.0
            layer.trainable = True  # Keras updates the statistics of trainable layers only
        if layers:
            model(inputs, training=True)
        done = True
    finally:
        for layer, (momentum, trainable, mean, variance) in zip(layers, saved):
            layer.momentum, layer.trainable = momentum, trainable
            if not done:  # a failed pass leaves no half-updated statistics behind
                layer.moving_mean.assign(mean)
                layer.moving_variance.assign(variance)
    return len(layers)


def check_generator(model, what: str = "the model") -> keras.Model:
    """Return ``model`` if it looks like a generator (z [B, latent] (, labels) -> images [B, H, W, C]).

    A clear ValueError otherwise, e.g. for a discriminator passed where a generator belongs.
    """
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise ValueError(f"{what} has no defined inputs/outputs; a generator is a Keras model built with "
                         "keras.Input((latent_dim,)), e.g. gan.generator or load_generator(run_folder)")
    shapes_in = [tuple(t.shape) for t in inputs]
    shape_out = tuple(outputs[0].shape)
    if len(shapes_in[0]) != 2 or len(shapes_in) > 2 or len(shape_out) != 4:
        looks = " It looks like a discriminator." if len(shapes_in[0]) == 4 else ""
        raise ValueError(
            f"{what} is not a generator: it takes {shapes_in} and returns {shape_out}, while a generator takes "
            f"z [B, latent_dim] (and labels [B]) and returns images [B, H, W, C].{looks} Pass the generator: "
            "gan.generator, or the generator.keras that train writes in its output folder"
        )
    return model


def check_truncation(threshold) -> float:
    """Validate a truncation threshold (a finite number > 0) and return it as a float."""
    if (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)
            or not 0.0 < float(threshold) < float("inf")):
        raise ValueError(f"the truncation threshold must be a positive number, e.g. 0.5 to 2 (smaller: typical but "
                         f"less varied samples), or None for no truncation; got {threshold!r}")
    return float(threshold)


def truncated_normal(shape, threshold: float, rng: np.random.Generator) -> np.ndarray:
    """z ~ N(0, I) truncated to [-threshold, threshold] per entry, by resampling: float32 ``shape``.

    The truncation trick of BigGAN (Brock et al., 2019, sec. 3.1): entries with
    |z_i| > threshold are drawn again until they fall inside, so z follows the
    normal density restricted to the box (not clipped: nothing piles up at the
    bounds). Smaller thresholds give samples nearer the mode of G's
    distribution: more typical, less varied.

    Args:
        shape: the output shape, e.g. (n, latent_dim).
        threshold: > 0; about 5% of the normal's mass lies beyond 2, 62% beyond 0.5.
        rng: ``np.random.default_rng(seed)``.
    """
    threshold = check_truncation(threshold)
    z = rng.standard_normal(shape)
    outside = np.abs(z) > threshold
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > threshold
    return z.astype(np.float32)


def generate_images(
    generator: keras.Model, n: int, seed: int = 0, batch_size: int = 500, labels=None,
    num_classes: int | None = None, truncation: float | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Draw ``n`` images from a generator: ``(uint8 [n, H, W, C], labels int32 [n] or None)``.

    z ~ N(0, I) from a NumPy generator seeded with ``seed``; with ``truncation``
    (e.g. 0.5 to 2), z ~ ``truncated_normal`` with that threshold: the truncation
    trick, which trades diversity for typical samples. A conditional
    generator (two inputs) gets ``labels``, balanced over ``num_classes`` by
    default (``num_classes_of(generator)`` when not given).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if truncation is not None:
        truncation = check_truncation(truncation)
    check_generator(generator, "the generator given to generate_images")
    latent_dim = int(generator.inputs[0].shape[-1])
    conditional = len(generator.inputs) == 2
    if not conditional and labels is not None:
        raise ValueError("labels were given but this generator is unconditional (its only input is z): "
                         "drop labels, or load a conditional generator (e.g. one trained with the cgan recipe)")
    if conditional:
        num_classes = num_classes or num_classes_of(generator)
        labels = balanced_labels(n, num_classes) if labels is None else np.asarray(labels)
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers (int32), got dtype {labels.dtype}")
        labels = labels.astype(np.int32)
        if labels.shape != (n,):
            raise ValueError(f"labels must be int32 [n] = [{n}], got shape {labels.shape}")
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"labels must be in [0, {num_classes}) (num_classes={num_classes}), "
                             f"got values from {labels.min()} to {labels.max()}")
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        shape = (stop - start, latent_dim)
        z = rng.standard_normal(shape).astype(np.float32) if truncation is None else truncated_normal(shape, truncation, rng)
        inputs = [z, labels[start:stop]] if conditional else z
        out.append(to_uint8_images(np.asarray(generator(inputs, training=False))))
    return np.concatenate(out), (labels if conditional else None)


def class_grid_images(generator: keras.Model, noise, num_classes: int | None = None) -> np.ndarray:
    """Images of a conditional generator for every (class, noise) pair: uint8 [K * M, H, W, C].

    Row k (images k*M ... k*M + M - 1) asks for class k; column j uses ``noise[j]``
    in every row. Show it with ``plot_class_grid(images, num_classes)``.

    Args:
        generator: a conditional generator, ``[z, labels] -> images``.
        noise: float32 [M, latent_dim], one noise vector per column.
        num_classes: rows of the grid (default ``num_classes_of(generator)``).
    """
    if len(generator.inputs) != 2:
        raise ValueError("class_grid_images needs a conditional generator (inputs [z, labels])")
    z = np.asarray(noise, np.float32)
    latent_dim = int(generator.inputs[0].shape[-1])
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"noise must be [M, {latent_dim}] (the generator's latent size), got shape {z.shape}")
    num_classes = num_classes or num_classes_of(generator)
    labels = np.repeat(np.arange(num_classes, dtype=np.int32), len(z))
    images = generator([np.tile(z, (num_classes, 1)), labels], training=False)
    return to_uint8_images(np.asarray(images))


def write_samples(path: str | Path, images: np.ndarray, labels: np.ndarray | None = None) -> Path:
    """Write ``images`` (and ``labels``) to an ``.npz`` file, atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"sample files end in .npz, got {path}")
    arrays = {"images": images} if labels is None else {"images": images, "labels": labels}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return path
