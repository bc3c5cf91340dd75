"""Paired data for image-to-image models: ``(targets, inputs)`` batches from clean images and a corruption.

The batches put the real images first and their condition second, as ``(images, labels)``
does for a conditional GAN: the target is what the discriminator sees as real, the
corrupted input is what both networks are conditioned on.
"""

from __future__ import annotations

import numpy as np

from .corruptions import Corruption
from .loading import to_float_images
from .pipeline import EpochOrder, check_batching


def make_paired_dataset(images, corruption, batch_size: int = 64, shuffle: bool = True, seed: int | None = 0,
                        drop_remainder: bool = True, epoch_size: int | None = None):
    """A ``tf.data.Dataset`` of ``(targets, inputs)`` batches for training an image-to-image model.

    With a ``Corruption``, each batch of clean images is corrupted on the fly with a
    stateless seed drawn from ``(seed, epoch, batch number)``: every epoch shows each
    image with fresh damage (a new hole position, say), and a run resumed at epoch k
    sees exactly the pairs of an uninterrupted one. Shuffling, the per-epoch order and
    resume work as in ``make_dataset`` (the same ``EpochOrder``, ``dataset.epoch_order``).

    Args:
        images: the clean images (targets): uint8 [N, H, W(, C)] or float [N, H, W, C] in [-1, 1].
        corruption: a ``Corruption`` (e.g. ``RandomHole(14)``, ``Downsample(4)``), or the inputs
            themselves, one per image (uint8 or float [N, h, w, c]), for data that comes in pairs.
        batch_size: pairs per batch.
        shuffle: shuffle every epoch (see ``make_dataset``); False keeps the order (the
            damage is then fixed by ``seed`` and the batch number).
        seed: a non-negative int; None draws one from NumPy's global generator.
        drop_remainder: drop the last, smaller batch of each pass.
        epoch_size: pairs per epoch when shuffled (default: all the images). A smaller epoch
            is a random subset drawn afresh every epoch (``EpochOrder(epoch_batches=...)``),
            so that checkpoints, per-epoch grids and ``train``'s time budget act more often.

    Returns:
        Batches ``(targets float32 [B, H, W, C], inputs float32 [B, h, w, c])``, both in [-1, 1].
    """
    import tensorflow as tf

    targets = to_float_images(images)
    check_batching(len(targets), batch_size, drop_remainder, seed)
    if seed is None:
        seed = int(np.random.randint(2**31 - 1))
    if isinstance(corruption, Corruption):
        corruption.input_shape(targets.shape[1:])  # a corruption that does not fit fails here

        def transform(batch, batch_seed):
            return batch, corruption(batch, batch_seed)

        tensors = targets
    elif callable(corruption) or corruption is None:
        raise TypeError(f"corruption must be a gan_utils Corruption (RandomHole, Downsample, GaussianNoise, or a "
                        f"subclass with input_shape and __call__) or an array of inputs; got {corruption!r}")
    else:
        transform, tensors = None, (targets, _paired_inputs(targets, corruption))
    if epoch_size is not None and (isinstance(epoch_size, bool) or not isinstance(epoch_size, int)
                                   or not batch_size <= epoch_size <= len(targets)):
        raise ValueError(f"epoch_size must be an integer from batch_size ({batch_size}) to the number of images "
                         f"({len(targets)}), or None for all of them; got {epoch_size!r}")
    if shuffle:
        order = EpochOrder(tensors, int(batch_size), drop_remainder, int(seed), transform=transform,
                           epoch_batches=None if epoch_size is None else epoch_size // int(batch_size))
        ds = order.passes()
        ds.epoch_order = order
        return ds
    # In order: batch k is damaged with the stateless seed fold_in((seed, 0), k), as Corruption.apply does
    # with the same batch size.
    base = tf.constant([int(seed), 0], tf.int64)
    with tf.device("/cpu:0"):
        held = tf.nest.map_structure(tf.convert_to_tensor, tensors)
    ds = tf.data.Dataset.range(len(targets)).batch(int(batch_size), drop_remainder=drop_remainder).enumerate()
    transform = transform or (lambda batch, batch_seed: batch)
    ds = ds.map(lambda k, idx: transform(tf.nest.map_structure(lambda t: tf.gather(t, idx), held),
                                         tf.random.experimental.stateless_fold_in(base, k)))
    return ds.prefetch(tf.data.AUTOTUNE)


def _paired_inputs(targets: np.ndarray, inputs) -> np.ndarray:
    try:
        x = to_float_images(inputs)
    except ValueError as e:
        raise ValueError(f"the inputs paired with the targets are not images: {e}") from None
    if len(x) != len(targets):
        raise ValueError(f"the inputs and targets are not paired: {len(x)} inputs for {len(targets)} targets. Pass "
                         "one input per target, in the same order (input i is the corrupted version of target i)")
    return x
