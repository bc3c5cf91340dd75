"""Data: MNIST / Fashion-MNIST loading with checksums, and the ``tf.data`` pipelines GANs train on (unpaired and
paired: clean images plus a corruption, for image-to-image models)."""

from .corruptions import Corruption, Downsample, GaussianNoise, RandomHole
from .loading import (
    DatasetError,
    labelled_subset,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    to_float_images,
    to_uint8_images,
)
from .paired import make_paired_dataset
from .pipeline import EpochOrder, make_dataset

__all__ = ["Corruption", "DatasetError", "Downsample", "EpochOrder", "GaussianNoise", "RandomHole", "labelled_subset",
           "load_dataset", "load_fashion_mnist", "load_mnist", "make_dataset", "make_paired_dataset", "to_float_images",
           "to_uint8_images"]
