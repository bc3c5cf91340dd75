"""Corruptions that turn clean images into the inputs of an image-to-image model.

Each corruption is a callable ``corruption(images, seed) -> inputs`` on a batch, float32
[B, H, W, C] in [-1, 1], with ``seed`` an int64 [2] stateless seed (the same seed gives the
same damage), and ``corruption.input_shape(image_shape)`` says what it makes of one image,
or raises a ValueError naming the problem and the fix when it does not fit.

- ``RandomHole(size)``: a ``size`` x ``size`` square at a random place set to ``fill`` (inpainting).
- ``Downsample(factor)``: average ``factor`` x ``factor`` blocks (28 -> 7 for factor 4), then
  resize back to the full size (``upsample="bilinear"``, the default) or keep the small image
  (``upsample=None``) (super-resolution).
- ``GaussianNoise(std)``: add N(0, std^2) noise, clipped to [-1, 1] (denoising).
"""

from __future__ import annotations

import numbers

import numpy as np

from .loading import to_float_images


class Corruption:
    """Base class: subclasses define ``input_shape`` and ``__call__``."""

    def input_shape(self, image_shape) -> tuple[int, int, int]:
        """(H, W, C) of the corrupted input for a clean image of ``image_shape``; raises if it does not fit."""
        raise NotImplementedError

    def __call__(self, images, seed):
        """float32 [B, H, W, C] in [-1, 1], int64 [2] -> the corrupted batch, float32 in [-1, 1]."""
        raise NotImplementedError

    def apply(self, images, seed: int = 0, batch_size: int = 1000) -> np.ndarray:
        """Corrupt a whole array (e.g. the test set) with a fixed seed: float32 [N, *input_shape] in [-1, 1].

        Args:
            images: uint8 [N, H, W(, C)] or float [N, H, W, C] in [-1, 1].
            seed: non-negative int; batch k uses the stateless seed fold_in((seed, 0), k).
        """
        import tensorflow as tf

        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        x = to_float_images(images)
        self.input_shape(x.shape[1:])
        base = tf.constant([int(seed), 0], tf.int64)
        # k as int64, as tf.data's enumerate gives it (fold_in's result depends on the dtype).
        out = [np.asarray(self(tf.constant(x[i:i + batch_size]),
                               tf.random.experimental.stateless_fold_in(base, tf.constant(k, tf.int64))))
               for k, i in enumerate(range(0, len(x), batch_size))]
        return np.concatenate(out)


def _image_shape(image_shape) -> tuple[int, int, int]:
    shape = tuple(int(d) for d in image_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape!r}")
    return shape


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class RandomHole(Corruption):
    """Inpainting: a ``size`` x ``size`` square, at a uniformly random place inside each image, set to ``fill``.

    Args:
        size: side of the hole in pixels (at most the image's height and width).
        fill: the value written into the hole, in [-1, 1]. The default 0 (mid grey) is a
            value MNIST's black background and white strokes rarely take, so the network
            (and you) can see where the hole is; -1 would make it look like background.
    """

    def __init__(self, size: int = 14, fill: float = 0.0):
        self.size = _positive_int("the hole size", size)
        if isinstance(fill, bool) or not isinstance(fill, numbers.Real) or not -1.0 <= fill <= 1.0:
            raise ValueError(f"fill must be a number in [-1, 1] (images are in [-1, 1]), got {fill!r}")
        self.fill = float(fill)

    def __repr__(self) -> str:
        return f"RandomHole(size={self.size}, fill={self.fill:g})"

    def input_shape(self, image_shape):
        h, w, c = _image_shape(image_shape)
        if self.size > min(h, w):
            raise ValueError(f"a {self.size}x{self.size} hole does not fit in {h}x{w} images; use a hole of at "
                             f"most {min(h, w)} pixels (RandomHole(size=...))")
        return (h, w, c)

    def mask(self, batch: int, height: int, width: int, seed):
        """bool [batch, height, width, 1]: True inside each image's hole (corners drawn from ``seed``)."""
        import tensorflow as tf

        places = tf.constant([height - self.size + 1, width - self.size + 1], tf.float32)  # corners per axis
        u = tf.random.stateless_uniform([batch, 2], seed=seed)  # in [0, 1)
        corners = tf.minimum(tf.cast(tf.floor(u * places), tf.int32), tf.cast(places, tf.int32) - 1)
        rows, cols = tf.range(height)[None, :], tf.range(width)[None, :]
        in_rows = (rows >= corners[:, :1]) & (rows < corners[:, :1] + self.size)  # [B, H]
        in_cols = (cols >= corners[:, 1:]) & (cols < corners[:, 1:] + self.size)  # [B, W]
        return (in_rows[:, :, None] & in_cols[:, None, :])[..., None]

    def __call__(self, images, seed):
        import tensorflow as tf

        images = tf.convert_to_tensor(images, tf.float32)
        h, w = self.input_shape(images.shape[1:])[:2]
        hole = self.mask(tf.shape(images)[0], h, w, seed)
        return tf.where(hole, tf.constant(self.fill, tf.float32), images)


class Downsample(Corruption):
    """Super-resolution: average ``factor`` x ``factor`` blocks, then (by default) resize back to full size.

    Args:
        factor: the downsampling factor; the image's height and width must be multiples of it
            (28 x 28 with factor 4 gives 7 x 7).
        upsample: "bilinear" (default), "nearest" or "bicubic" resizes the small image back
            to H x W (the input is then the same size as the target, as a U-Net needs);
            None keeps it small (H / factor, W / factor), for a generator that upsamples itself.
    """

    METHODS = ("bilinear", "nearest", "bicubic", None)

    def __init__(self, factor: int = 4, upsample: str | None = "bilinear"):
        self.factor = _positive_int("the downsampling factor", factor)
        if upsample not in self.METHODS:
            raise ValueError(f"upsample must be one of {self.METHODS}, got {upsample!r}")
        self.upsample = upsample

    def __repr__(self) -> str:
        return f"Downsample(factor={self.factor}, upsample={self.upsample!r})"

    def input_shape(self, image_shape):
        h, w, c = _image_shape(image_shape)
        if h % self.factor or w % self.factor:
            raise ValueError(f"{h}x{w} images cannot be downsampled {self.factor}x: height and width must be "
                             f"multiples of {self.factor}; pad or crop them, or choose a factor that divides both")
        return (h, w, c) if self.upsample else (h // self.factor, w // self.factor, c)

    def __call__(self, images, seed=None):
        import tensorflow as tf

        images = tf.convert_to_tensor(images, tf.float32)
        h, w = images.shape[1], images.shape[2]
        self.input_shape(images.shape[1:])
        small = tf.nn.avg_pool2d(images, self.factor, self.factor, "VALID")
        if self.upsample is None:
            return small
        return tf.clip_by_value(tf.image.resize(small, (h, w), method=self.upsample), -1.0, 1.0)


class GaussianNoise(Corruption):
    """Denoising: x + N(0, std^2) per pixel, clipped to [-1, 1].

    Args:
        std: the noise's standard deviation in the units of images in [-1, 1] (e.g. 0.5).
    """

    def __init__(self, std: float = 0.5):
        if isinstance(std, bool) or not isinstance(std, numbers.Real) or not 0.0 < std < float("inf"):
            raise ValueError(f"std must be a positive number (images are in [-1, 1]: try 0.2 to 1), got {std!r}")
        self.std = float(std)

    def __repr__(self) -> str:
        return f"GaussianNoise(std={self.std:g})"

    def input_shape(self, image_shape):
        return _image_shape(image_shape)

    def __call__(self, images, seed):
        import tensorflow as tf

        images = tf.convert_to_tensor(images, tf.float32)
        noise = tf.random.stateless_normal(tf.shape(images), seed=seed, stddev=self.std)
        return tf.clip_by_value(images + noise, -1.0, 1.0)
