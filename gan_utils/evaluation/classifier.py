"""Sample-quality metrics built on a small MNIST classifier that ships with the package.

The classifier (``build_classifier``) is a 4-conv CNN. Its input is a uint8-valued
image [N, 28, 28, 1] in [0, 255] (float or uint8 dtype); the model rescales to
[0, 1] itself. Generated images, float in [-1, 1], are first quantised to uint8
exactly as a saved PNG would be (``data.to_uint8_images``), so real and generated
images go through the same pipeline.

Weights: ``gan_utils/weights/mnist_classifier.weights.h5``, trained by
``python -m gan_utils train-classifier`` (fixed seed).

The metrics between feature sets (FID, KID, precision/recall, density/coverage,
memorisation) live in ``gan_utils.distances`` and are re-exported here;
``gan_utils.evaluation`` runs them all on a set of samples.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers

from .distances import (  # noqa: F401  (re-exported: gan_utils.metrics is the one place to look)
    density_coverage,
    fid,
    fid_extrapolated,
    frechet_distance,
    gaussian_stats,
    kid,
    memorisation,
    nearest_neighbours,
    precision_recall,
)

DEFAULT_CLASSIFIER = Path(__file__).resolve().parents[1] / "weights" / "mnist_classifier.weights.h5"
FEATURE_LAYER = "features"


def build_classifier(num_classes: int = 10) -> keras.Model:
    """MNIST CNN: uint8-valued [N, 28, 28, 1] -> logits [N, num_classes].

    The penultimate Dense layer is named ``features`` (128-d, ReLU).
    """
    inp = keras.Input((28, 28, 1), name="pixels")
    x = layers.Rescaling(1.0 / 255.0)(inp)
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu", name=FEATURE_LAYER)(x)
    x = layers.Dropout(0.3)(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inp, logits, name="mnist_classifier")


def load_classifier(path: str | Path | None = None) -> keras.Model:
    """Build the classifier and load its weights (the shipped ones by default)."""
    path = Path(path) if path is not None else DEFAULT_CLASSIFIER
    if not path.is_file():
        raise FileNotFoundError(
            f"classifier weights not found at {path}; train them with "
            "`python -m gan_utils train-classifier` or reinstall gan_utils"
        )
    model = build_classifier()
    model.load_weights(path)
    return model


def as_mnist_uint8(images) -> np.ndarray:
    """The classifier's input pipeline: uint8 [N, 28, 28, 1], from uint8 [N, 28, 28(, 1)] or float [-1, 1] images.

    Floats are quantised exactly as a saved PNG would be (``data.to_uint8_images``),
    so real and generated images reach every metric the same way.
    """
    from ..data import to_float_images, to_uint8_images

    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        arr = to_uint8_images(to_float_images(arr))  # raises on values outside [-1, 1]
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.shape[1:] != (28, 28, 1):
        raise ValueError(f"the MNIST classifier takes [N, 28, 28, 1] images, got shape {arr.shape}")
    return arr


def _as_pixels(images) -> np.ndarray:
    """``as_mnist_uint8`` as float32 values in [0, 255] (what the classifier's Rescaling layer expects)."""
    return as_mnist_uint8(images).astype(np.float32)


def classifier_probs(images, classifier: keras.Model | None = None, batch_size: int = 500) -> np.ndarray:
    """p(y|x) for each image: float64 [N, 10].

    Args:
        images: uint8 [N, 28, 28(, 1)] in [0, 255], or float [N, 28, 28, 1] in [-1, 1].
        classifier: defaults to ``load_classifier()``.
    """
    classifier = classifier or load_classifier()
    return _softmax(classifier.predict(_as_pixels(images), batch_size=batch_size, verbose=0))


def classifier_outputs(images, classifier: keras.Model | None = None, batch_size: int = 500):
    """Penultimate features and p(y|x) in one pass: ``(float64 [N, 128], float64 [N, 10])``.

    The features are the ReLU outputs of the Dense layer named ``features``
    (``FEATURE_LAYER``), the layer before the logits. They are what FID, KID,
    precision/recall and density/coverage compare. Inputs as ``classifier_probs``.
    """
    classifier = classifier or load_classifier()
    two_heads = getattr(classifier, "_gan_utils_two_heads", None)
    if two_heads is None:
        two_heads = keras.Model(classifier.inputs, [classifier.get_layer(FEATURE_LAYER).output, classifier.outputs[0]])
        classifier._gan_utils_two_heads = two_heads
    features, logits = two_heads.predict(_as_pixels(images), batch_size=batch_size, verbose=0)
    return features.astype(np.float64), _softmax(logits)


def classifier_features(images, classifier: keras.Model | None = None, batch_size: int = 500) -> np.ndarray:
    """The classifier's penultimate features, float64 [N, 128] (see ``classifier_outputs``)."""
    return classifier_outputs(images, classifier, batch_size)[0]


def _softmax(logits) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def classifier_score(probs, eps: float = 1e-12) -> float:
    """exp(E_x KL(p(y|x) || p(y))): the MNIST analogue of the Inception Score.

    Salimans et al., 2016. Ranges from 1 (every sample has the same prediction)
    to the number of classes (confident and balanced predictions).

    Args:
        probs: float [N, K], rows summing to 1.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"probs must be [N, K] with N >= 1, got shape {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("each row of probs must be a probability vector (non-negative, sums to 1)")
    marginal = p.mean(axis=0, keepdims=True)
    kl = np.sum(p * (np.log(p + eps) - np.log(marginal + eps)), axis=1)
    return float(np.exp(kl.mean()))


def class_fractions(probs, num_classes: int | None = None) -> np.ndarray:
    """Fraction of samples whose arg-max class is k: float64 [K], sums to 1."""
    p = np.asarray(probs)
    k = num_classes or p.shape[1]
    counts = np.bincount(p.argmax(axis=1), minlength=k)
    return counts / counts.sum()


def kl_to_uniform(fractions) -> float:
    """KL(h || uniform) = sum_k h_k log(K h_k) of a class histogram h (``class_fractions``), in nats.

    0 when every class is equally common; log K (2.30 for ten digits) when all
    samples fall in one class. A measure of mode dropping; 0 log 0 counts as 0.
    """
    h = np.asarray(fractions, np.float64)
    if h.ndim != 1 or len(h) == 0 or np.any(h < 0) or not np.isclose(h.sum(), 1.0, atol=1e-6):
        raise ValueError(f"fractions must be a 1-D histogram of non-negative shares summing to 1, got {h}")
    nz = h > 0
    return float(np.sum(h[nz] * np.log(len(h) * h[nz])))


def label_accuracy(probs, labels) -> dict:
    """How often the classifier assigns a conditional sample to the class it was asked for.

    Args:
        probs: float [N, K], p(y|x) of the generated images (``classifier_probs``).
        labels: int [N], the labels the generator was given.

    Returns:
        ``{"overall": float, "per_class": [float] * K}``: the fraction of samples
        whose arg-max class equals the requested label, over all samples and per
        requested class (NaN for a class that was never requested).
    """
    p = np.asarray(probs)
    y = np.asarray(labels)
    if p.ndim != 2 or y.shape != (len(p),):
        raise ValueError(f"labels must be [N] = [{len(p)}] for probs of shape {p.shape}, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    if len(y) == 0:
        raise ValueError("label_accuracy got no samples; pass at least one (probs [N, K] and labels [N], N >= 1)")
    k = p.shape[1]
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"labels must be in [0, {k}), got values from {y.min()} to {y.max()}")
    hit = p.argmax(axis=1) == y
    asked = np.bincount(y, minlength=k)
    correct = np.bincount(y, weights=hit, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = correct / asked
    return {"overall": float(hit.mean()), "per_class": [float(a) for a in per_class]}


def score_samples(images, classifier: keras.Model | None = None, labels=None) -> dict:
    """Classifier score and class fractions of a batch of samples (and label accuracy, given the labels asked for)."""
    probs = classifier_probs(images, classifier)
    fractions = class_fractions(probs)
    result = {
        "n": int(len(probs)),
        "classifier_score": classifier_score(probs),
        "class_fractions": [round(float(f), 4) for f in fractions],
        "min_class_fraction": float(fractions.min()),
        "max_class_fraction": float(fractions.max()),
    }
    if labels is not None:
        accuracy = label_accuracy(probs, labels)
        result["label_accuracy"] = accuracy["overall"]
        # A class that was never asked for has no accuracy: None (JSON null), not NaN.
        result["label_accuracy_per_class"] = [None if np.isnan(a) else round(a, 4) for a in accuracy["per_class"]]
    return result


def train_classifier(
    out: str | Path = DEFAULT_CLASSIFIER, epochs: int = 8, seed: int = 0, verbose: int = 2
) -> dict:
    """Train the MNIST classifier with a fixed seed and save its weights atomically.

    Small random shifts (up to 2 pixels) augment the training images.

    Returns:
        ``{"test_accuracy": float, "path": str}``.
    """
    import tensorflow as tf

    from ..config import set_seed
    from ..data import load_mnist
    from ..io import atomic_path

    set_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    x_train = x_train[..., None].astype(np.float32)
    x_test = x_test[..., None].astype(np.float32)
    shift = layers.RandomTranslation(2 / 28, 2 / 28, fill_mode="constant", seed=seed)
    train = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train.astype(np.int32)))
        .shuffle(60000, seed=seed)
        .batch(128)
        .map(lambda x, y: (shift(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    model = build_classifier()
    steps = epochs * int(np.ceil(len(x_train) / 128))
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, steps)
    model.compile(
        keras.optimizers.Adam(schedule),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(train, epochs=epochs, verbose=verbose)
    _, acc = model.evaluate(x_test, y_test.astype(np.int32), batch_size=500, verbose=0)
    # Save from a fresh copy so that the file holds the weights only (no optimizer state).
    clean = build_classifier()
    clean.set_weights(model.get_weights())
    out = Path(out)
    with atomic_path(out) as tmp:
        clean.save_weights(tmp)
    return {"test_accuracy": float(acc), "path": str(out)}
