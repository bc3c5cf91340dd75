"""Data: MNIST / Fashion-MNIST loading with checksums, and the ``tf.data`` pipelines GANs train on."""

from .loading import (
    DatasetError,
    labelled_subset,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    to_float_images,
    to_uint8_images,
)
from .pipeline import EpochOrder, make_dataset

__all__ = ["DatasetError", "EpochOrder", "labelled_subset", "load_dataset", "load_fashion_mnist", "load_mnist",
           "make_dataset", "to_float_images", "to_uint8_images"]
