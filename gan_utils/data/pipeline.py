"""``tf.data`` pipelines for GAN training: ``make_dataset`` and the per-epoch order behind resume.

Re-exported by ``gan_utils.data`` (and ``gan_utils``), so ``gu.make_dataset`` is the usual way in.
"""

from __future__ import annotations

import numbers

import numpy as np


def make_dataset(images, labels=None, batch_size: int = 128, shuffle: bool = True, seed: int | None = 0,
                 cache: bool = True, drop_remainder: bool = True, num_classes: int | None = None):
    """A ``tf.data.Dataset`` of image batches for GAN training, shuffled with ``seed``.

    Shuffled: the images are held in memory as one tensor and each batch is gathered from
    it (``tf.gather``), in an order that is a permutation drawn from the seed; batches are
    prefetched (AUTOTUNE). Every pass over the dataset is reshuffled. The dataset also
    carries an ``EpochOrder`` (``dataset.epoch_order``) through which ``gan_utils.train``
    asks for epoch k's batches directly: their order depends only on ``(seed, k)``, so a run
    resumed from a checkpoint sees the same data as one that was never interrupted.
    Not shuffled: from_tensor_slices -> cache (if ``cache``) -> batch -> prefetch.

    Args:
        images: uint8 [N, H, W(, C)] in [0, 255] or float in [-1, 1] (see ``to_float_images``).
        labels: optional integer [N]; then the dataset yields ``(images, labels)``.
        batch_size: images per batch, a positive int.
        shuffle: shuffle (see above), or keep the images in order.
        seed: a non-negative int; None draws one from NumPy's global generator
            (seeded by ``set_seed``).
        cache: without shuffling, cache the sliced images (shuffled datasets gather
            from one in-memory tensor, which needs no cache).
        drop_remainder: drop the last, smaller batch of each pass.
        num_classes: if given, every label must be in [0, num_classes).

    Returns:
        Batches of float32 [B, H, W, C] in [-1, 1], or ``(images, int32 [B])``.
    """
    import tensorflow as tf

    from . import to_float_images  # here, not at the top: data re-exports this module

    x = to_float_images(images)
    n = len(x)
    check_batching(n, batch_size, drop_remainder, seed)
    tensors = x
    if labels is not None:
        y = np.asarray(labels)
        if y.shape != (n,):
            raise ValueError(f"labels must have shape [{n}] (one per image), got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"labels must be integers, got dtype {y.dtype}; cast with labels.astype(int)")
        if num_classes is not None:
            if not isinstance(num_classes, numbers.Integral) or num_classes < 1:
                raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
            bad = np.flatnonzero((y < 0) | (y >= num_classes))
            if bad.size:
                raise ValueError(f"label {y[bad[0]]} (index {bad[0]}) is out of range: "
                                 f"labels must be in [0, {num_classes})")
        tensors = (x, y.astype(np.int32))
    if shuffle:
        if seed is None:
            seed = int(np.random.randint(2**31 - 1))
        order = EpochOrder(tensors, int(batch_size), drop_remainder, int(seed))
        ds = order.passes()
        ds.epoch_order = order
        return ds
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if cache:
        ds = ds.cache()
    return ds.batch(int(batch_size), drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def check_batching(n: int, batch_size, drop_remainder: bool, seed) -> None:
    """The checks ``make_dataset`` (and ``data.paired``) make on a batch size and seed for ``n`` examples."""
    if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if drop_remainder and batch_size > n:
        raise ValueError(f"batch_size {batch_size} is larger than the {n} images: with drop_remainder=True the "
                         "dataset would yield no batches; use a smaller batch_size or drop_remainder=False")
    if seed is not None and (not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")


class EpochOrder:
    """The batches of a shuffled ``make_dataset`` pipeline, for any epoch.

    Epoch k's images come in the order of a permutation drawn from ``(seed, k)``
    alone (``tf.random.experimental.stateless_shuffle``), whatever ran before, so
    that epoch k is the same in a run resumed at epoch k and in one that never stopped.

    ``transform(batch, seed)``, if given, maps each gathered batch to what the dataset
    yields (e.g. ``data.paired`` corrupts it); ``seed`` (int64 [2], for ``tf.random.stateless_*``)
    depends only on ``(seed, epoch, batch number)``, so random transforms repeat exactly on resume too.

    ``epoch_batches``, if given, makes an epoch shorter than a pass: epoch k is the first
    ``epoch_batches`` batches of its own permutation, a random subset drawn afresh every
    epoch (so checkpoints, grids and a time budget act more often on a large dataset).

    Attributes:
        batches_per_epoch: batches in one epoch (one pass over the images, unless ``epoch_batches``).
        seed: the shuffling seed.
    """

    def __init__(self, tensors, batch_size: int, drop_remainder: bool, seed: int, transform=None,
                 epoch_batches: int | None = None):
        import tensorflow as tf

        with tf.device("/cpu:0"):  # tf.data runs on the host: keep the images there, even with a GPU
            self._tensors = tf.nest.map_structure(tf.convert_to_tensor, tensors)
        self.n = int(tf.nest.flatten(tensors)[0].shape[0])
        self.batch_size, self.drop_remainder, self.seed = batch_size, drop_remainder, seed
        self.transform = transform
        self.pass_batches = self.n // batch_size if drop_remainder else -(-self.n // batch_size)
        if epoch_batches is not None and not 1 <= epoch_batches <= self.pass_batches:
            raise ValueError(f"an epoch of {epoch_batches} batches does not fit a pass of {self.pass_batches}: "
                             "choose an epoch size between one batch and all the images")
        self.batches_per_epoch = epoch_batches or self.pass_batches

    def _epoch_indices(self, key, batches: int | None = None):
        """Index batches of the permutation drawn from ``(seed, key)``: ``batches`` of them (default
        ``batches_per_epoch``); fewer than a pass leave out its last ones, more wrap round."""
        import tensorflow as tf

        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(key, tf.int64)])
        perm = tf.random.experimental.stateless_shuffle(tf.range(self.n, dtype=tf.int64), seed=seed)
        ds = tf.data.Dataset.from_tensor_slices(perm).batch(self.batch_size, drop_remainder=self.drop_remainder)
        batches = self.batches_per_epoch if batches is None else batches
        if batches != self.pass_batches:
            ds = ds.repeat().take(batches)
        return ds

    def _gathered(self, keys, batches: int | None = None):
        import tensorflow as tf

        def gather(idx):
            return tf.nest.map_structure(lambda t: tf.gather(t, idx), self._tensors)

        if self.transform is None:
            ds = keys.flat_map(lambda key: self._epoch_indices(key, batches))
            ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:
            def seeded(key):  # (batch seed, indices): the seed mixes (seed, epoch key) with the batch number
                base = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(key, tf.int64)])
                return self._epoch_indices(key, batches).enumerate().map(
                    lambda i, idx: (tf.random.experimental.stateless_fold_in(base, i), idx))

            ds = keys.flat_map(seeded)
            ds = ds.map(lambda seed, idx: self.transform(gather(idx), seed), num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True)
        return ds.prefetch(tf.data.AUTOTUNE)

    def passes(self):
        """One epoch per iteration, reshuffled every time (a key from ``Dataset.random(seed)``)."""
        import tensorflow as tf

        keys = tf.data.Dataset.random(seed=self.seed, rerandomize_each_iteration=True).take(1)
        return self._gathered(keys).apply(tf.data.experimental.assert_cardinality(self.batches_per_epoch))

    def epochs(self, first_epoch: int, batches_per_epoch: int | None = None):
        """Epoch ``first_epoch``, then the next ... without end; fit it with ``steps_per_epoch``.

        Each epoch is ``batches_per_epoch`` batches (default the order's): fewer leave out
        the pass's last batches, more wrap round to its first ones (``train`` uses this to
        make every epoch a whole number of ``steps_per_execution``).
        """
        import tensorflow as tf

        if not isinstance(first_epoch, int) or first_epoch < 0:
            raise ValueError(f"first_epoch must be a non-negative integer, got {first_epoch!r}")
        return self._gathered(tf.data.Dataset.counter(start=first_epoch), batches_per_epoch)
