"""Named training recipes: the full-mode defaults shared by the notebooks and the CLI.

``python -m gan_utils train gan`` and notebook 01 in full mode train the same
thing because both read ``RECIPES["gan"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras

from . import models
from .config import dtype_policy, is_quick, set_seed
from .data import labelled_subset
from .gans.gan import GAN
from .gans.infogan import InfoGAN
from .gans.wgan_gp import WGANGP


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of one model of the collection.

    Attributes:
        name: CLI name.
        build: ``build(recipe, image_shape) -> (generator, discriminator)``.
        epochs, batch_size: full-mode training length and batch size.
        quick_epochs, quick_examples: quick mode's length and training-set size.
        latent_dim: size of z.
        d_lr, g_lr, beta_1, beta_2: Adam settings of D and G.
        gan_kwargs: extra arguments of the GAN class (loss, smoothing ...).
        model_kwargs: extra arguments of the builders (e.g. DCGAN widths).
        conditional: whether the models take labels.
        precision: Keras dtype policy the models are built under ("float32",
            "mixed_bfloat16", "mixed_float16" or "auto", see ``config.resolve_precision``).
        jit_compile: compile the train step with XLA.
        steps_per_execution: train steps per compiled call.
        labelled_per_class: > 0 guides an InfoGAN's categorical code with that many
            labelled training images per class (``InfoGAN(labelled=...)``, drawn by
            ``data.labelled_subset``); ``build_gan`` then needs the training set.
        bn_recalibration: > 0 recomputes the EMA generator's BatchNorm statistics from
            that many of its own samples after every epoch (``RecalibrateBatchNorm``).
    """

    name: str
    build: Callable
    epochs: int
    batch_size: int
    latent_dim: int = 100
    d_lr: float = 2e-4
    g_lr: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    quick_epochs: int = 2
    quick_examples: int = 2048
    gan_class: type = GAN
    gan_kwargs: dict = field(default_factory=dict)
    model_kwargs: dict = field(default_factory=dict)
    conditional: bool = False
    precision: str = "float32"
    jit_compile: bool = False
    steps_per_execution: int = 1
    labelled_per_class: int = 0
    bn_recalibration: int = 0

    def with_overrides(self, **changes) -> Recipe:
        """A copy with some fields changed; None values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def epochs_for(self, quick: bool | None = None) -> int:
        return self.quick_epochs if (is_quick() if quick is None else quick) else self.epochs

    @property
    def dataset_batch_size(self) -> int:
        """Images per dataset batch: ``batch_size``, times ``d_steps`` when the GAN's
        ``fresh_real_batches`` gives each discriminator update its own slice of the batch."""
        if self.gan_kwargs.get("fresh_real_batches"):
            return self.batch_size * self.gan_kwargs.get("d_steps", 1)
        return self.batch_size


def _build_mlp(recipe: Recipe, image_shape):
    return (
        models.build_mlp_generator(recipe.latent_dim, image_shape),
        models.build_mlp_discriminator(image_shape),
    )


def _build_dcgan(recipe: Recipe, image_shape):
    kw = recipe.model_kwargs
    return (
        models.build_dcgan_generator(recipe.latent_dim, image_shape, width=kw.get("g_width", 64),
                                     kernel_size=kw.get("kernel_size", 4), extra_convs=kw.get("g_extra_convs", 0)),
        models.build_dcgan_discriminator(image_shape, width=kw.get("d_width", 64),
                                         kernel_size=kw.get("kernel_size", 4), norm=kw.get("d_norm", "batch"),
                                         dropout=kw.get("d_dropout", 0.0), extra_convs=kw.get("d_extra_convs", 0),
                                         hidden=kw.get("d_hidden", 0)),
    )


def _build_cgan(recipe: Recipe, image_shape):
    from .models.conditional import build_conditional_discriminator, build_conditional_generator

    kw = recipe.model_kwargs
    classes, kernel = kw.get("num_classes", 10), kw.get("kernel_size", 4)
    return (
        build_conditional_generator(recipe.latent_dim, image_shape, classes, width=kw.get("g_width", 64),
                                    kernel_size=kernel),
        build_conditional_discriminator(image_shape, classes, width=kw.get("d_width", 64), kernel_size=kernel,
                                        norm=kw.get("d_norm", "batch"), dropout=kw.get("d_dropout", 0.0),
                                        label_mode=kw.get("label_mode", "channel")),
    )


def _build_wgan(recipe: Recipe, image_shape):
    kw = recipe.model_kwargs
    kernel = kw.get("kernel_size", 4)
    return (
        models.build_dcgan_generator(recipe.latent_dim, image_shape, width=kw.get("g_width", 64), kernel_size=kernel,
                                     extra_convs=kw.get("g_extra_convs", 0)),
        # A critic: no BatchNorm (it would couple the samples the gradient penalty treats one by one).
        models.build_dcgan_discriminator(image_shape, width=kw.get("d_width", 64), kernel_size=kernel,
                                         norm=kw.get("d_norm", "layer"), extra_convs=kw.get("d_extra_convs", 0),
                                         hidden=kw.get("d_hidden", 0),
                                         name="wgan_critic"),
    )


RECIPES: dict[str, Recipe] = {
    # Notebook 01: Goodfellow et al.'s MLP pair; Adam at 8e-4 (four times DCGAN's 2e-4) learns faster in the
    # notebook's budget, and an EMA of G's weights gives steadier samples.
    "gan": Recipe(name="gan", build=_build_mlp, epochs=32, batch_size=64, d_lr=8e-4, g_lr=8e-4,
                  gan_kwargs={"ema_decay": 0.999}),
    # Notebook 02: Radford et al.'s DCGAN at widths 48 (G) / 32 (D), with extra 3x3 blocks on the small grids for
    # depth (notebook 02 explains them); Adam 8e-4 (four times the paper's 2e-4) fits the 10-minute budget.
    "dcgan": Recipe(name="dcgan", build=_build_dcgan, epochs=12, batch_size=64, d_lr=8e-4, g_lr=8e-4,
                    precision="auto", bn_recalibration=4096, gan_kwargs={"ema_decay": 0.999},
                    model_kwargs={"g_width": 48, "d_width": 32, "g_extra_convs": 1, "d_extra_convs": 2}),
    # Notebook 03: notebook 02's networks at width 32 without the extra blocks, the label fed to both, D by
    # projection (Miyato & Koyama, 2018), which reads the label more reliably than a label channel.
    "cgan": Recipe(name="cgan", build=_build_cgan, epochs=12, batch_size=64, precision="auto", conditional=True,
                   gan_kwargs={"ema_decay": 0.999},
                   model_kwargs={"g_width": 32, "d_width": 32, "label_mode": "projection"}),
    # Notebook 04: Gulrajani et al.'s WGAN-GP: critic loss, gradient penalty (lambda 10), n_critic 5 with a fresh
    # real batch per critic update (Algorithm 1), Adam beta_2 0.9, and a critic without normalisation layers;
    # notebook 02's networks. Adam 5e-4 (five times the paper's 1e-4) fits the 20-minute budget.
    "wgan-gp": Recipe(name="wgan-gp", build=_build_wgan, epochs=24, batch_size=64, d_lr=5e-4, g_lr=5e-4,
                      beta_1=0.5, beta_2=0.9, precision="auto", gan_class=WGANGP, bn_recalibration=4096,
                      gan_kwargs={"ema_decay": 0.999, "d_steps": 5, "gp_weight": 10.0, "fresh_real_batches": True},
                      model_kwargs={"g_width": 48, "d_width": 32, "g_extra_convs": 1, "d_extra_convs": 2,
                                    "d_norm": None}),
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; a ValueError listing the known names otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(RECIPES)}") from None


def build_gan(recipe: Recipe, image_shape=(28, 28, 1), seed: int = 0, labelled=None, strategy=None,
              **compile_kwargs) -> GAN:
    """Build and compile the GAN a recipe describes.

    ``labelled``: the training set ``(x_train, y_train)``, needed by a recipe with
    ``labelled_per_class``, which draws its labelled images from it with ``seed``.
    ``strategy``: a ``tf.distribute.Strategy`` to build and compile under (its scope);
    None: the current one (one device, unless called inside a ``strategy.scope()``).
    """
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        return _build_gan(recipe, image_shape, seed, labelled, **compile_kwargs)


def _build_gan(recipe: Recipe, image_shape, seed: int, labelled, **compile_kwargs) -> GAN:
    gan_kwargs = dict(recipe.gan_kwargs)
    if recipe.labelled_per_class:
        if labelled is None:
            raise ValueError(f"recipe {recipe.name!r} guides its code with {recipe.labelled_per_class} labelled "
                             "images per class: pass the training set, build_gan(recipe, labelled=(x_train, y_train))")
        gan_kwargs["labelled"] = labelled_subset(*labelled, recipe.labelled_per_class, seed=seed)
    elif labelled is not None:
        raise ValueError(f"recipe {recipe.name!r} uses no labelled images (labelled_per_class=0): drop labelled=")
    with dtype_policy(recipe.precision):
        generator, discriminator = recipe.build(recipe, tuple(image_shape))
        gan = recipe.gan_class(generator, discriminator, seed=seed, **gan_kwargs)
    compile_kwargs = {"jit_compile": recipe.jit_compile, "steps_per_execution": recipe.steps_per_execution,
                      **compile_kwargs}
    gan.compile(
        d_optimizer=keras.optimizers.Adam(recipe.d_lr, beta_1=recipe.beta_1, beta_2=recipe.beta_2),
        g_optimizer=keras.optimizers.Adam(recipe.g_lr, beta_1=recipe.beta_1, beta_2=recipe.beta_2),
        **compile_kwargs,
    )
    return gan


def train_recipe(
    name: str,
    out_dir: str | Path,
    epochs: int | None = None,
    batch_size: int | None = None,
    dataset: str = "mnist",
    quick: bool | None = None,
    seed: int = 0,
    verbose: int | str = 2,
    precision: str | None = None,
    jit_compile: bool | None = None,
    max_minutes: float | None = None,
    strategy="one",
    labelled_per_class: int | None = None,
):
    """Train a named recipe on MNIST (or Fashion-MNIST) into ``out_dir``; resumes if possible.

    ``epochs``, ``batch_size``, ``precision`` and ``jit_compile`` override the
    recipe's values when given. ``max_minutes`` is ``train``'s budget of training
    time: on a slow machine fewer epochs than asked for (None: no budget).
    ``strategy``: "one", "mirrored", "multiworker", "auto" (``distribute.make_strategy``)
    or a ``tf.distribute.Strategy``. ``batch_size`` is per replica: each dataset batch
    holds ``batch_size`` times the number of replicas (the global batch).
    ``labelled_per_class``: for an InfoGAN recipe, the labelled training images per class
    that guide its categorical code (0: none; None: the recipe's).

    Returns the ``TrainResult`` of ``gan_utils.train``.
    """
    from .data import load_dataset, make_dataset
    from .distribute import make_strategy
    from .training.callbacks import RecalibrateBatchNorm
    from .training.train import prepare_out_dir, train

    quick = is_quick() if quick is None else quick
    if isinstance(strategy, str):  # first: a multi-worker strategy must exist before other TensorFlow work
        strategy = make_strategy(strategy)
    recipe = get_recipe(name).with_overrides(epochs=epochs, batch_size=batch_size, precision=precision,
                                             jit_compile=jit_compile)
    if labelled_per_class is not None:
        recipe = _with_labelled(recipe, labelled_per_class)
    for key in ("epochs", "batch_size"):
        value = getattr(recipe, key)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    prepare_out_dir(out_dir, create=False)  # an output "folder" that is a file fails before any work
    set_seed(seed)
    (x_train, y_train), _ = load_dataset(dataset)
    if quick:
        x_train, y_train = x_train[: recipe.quick_examples], y_train[: recipe.quick_examples]
    data = make_dataset(
        x_train,
        y_train if recipe.conditional else None,
        batch_size=recipe.dataset_batch_size * strategy.num_replicas_in_sync,
        seed=seed,
    )
    gan = build_gan(recipe, image_shape=(*x_train.shape[1:3], 1), seed=seed,
                    labelled=(x_train, y_train) if recipe.labelled_per_class else None, strategy=strategy)
    n_epochs = recipe.quick_epochs if quick and epochs is None else recipe.epochs
    callbacks = [RecalibrateBatchNorm(recipe.bn_recalibration)] if recipe.bn_recalibration else []
    return train(gan, data, out_dir, n_epochs, callbacks=callbacks, verbose=verbose, max_minutes=max_minutes)


# ------------------------------------------------------------------ InfoGAN (notebook 07)
def _build_infogan(recipe: Recipe, image_shape):
    """Notebook 02's DCGAN pair, the generator reading InfoGAN's codes off z."""
    kw = recipe.model_kwargs
    return (
        models.build_dcgan_generator(recipe.latent_dim, image_shape, width=kw.get("g_width", 64),
                                     kernel_size=kw.get("kernel_size", 4), extra_convs=kw.get("g_extra_convs", 0),
                                     categorical_code=recipe.gan_kwargs["categorical"],
                                     continuous_codes=recipe.gan_kwargs.get("continuous", 0)),
        models.build_dcgan_discriminator(image_shape, width=kw.get("d_width", 64),
                                         kernel_size=kw.get("kernel_size", 4), norm=kw.get("d_norm", "batch"),
                                         extra_convs=kw.get("d_extra_convs", 0)),
    )


# Notebook 07: InfoGAN's MNIST codes (Chen et al., 2016: one 10-way categorical code, two continuous codes in
# [-1, 1]) on the DCGAN builders at widths 48 (G) / 32 (D) with extra 3x3 blocks, z of 64 (12 code entries and
# 52 of noise), Adam 8e-4 (beta_1 0.5), EMA 0.999 with recomputed BatchNorm statistics, 10 epochs. lambda is 2
# (the paper: 1), the value the collection's earlier DCGAN with a categorical code was measured with.
_INFOGAN = Recipe(name="infogan", build=_build_infogan, epochs=10, batch_size=64, latent_dim=64, d_lr=8e-4,
                  g_lr=8e-4, precision="auto", gan_class=InfoGAN, bn_recalibration=4096,
                  gan_kwargs={"ema_decay": 0.999, "categorical": 10, "continuous": 2, "info_weight": 2.0},
                  model_kwargs={"g_width": 48, "d_width": 32, "g_extra_convs": 1, "d_extra_convs": 2})
RECIPES.update({
    "infogan": _INFOGAN,
    # The same model with 10 labelled training digits per class guiding Q (Spurr et al., 2017).
    "infogan-semi": replace(_INFOGAN, name="infogan-semi", labelled_per_class=10),
})


def _with_labelled(recipe: Recipe, per_class) -> Recipe:
    """``recipe`` with ``labelled_per_class`` set; only a recipe whose GAN learns a categorical code takes labels."""
    import numbers

    if isinstance(per_class, bool) or not isinstance(per_class, numbers.Integral) or per_class < 0:
        raise ValueError(f"labelled_per_class must be an integer >= 0 (labelled images per class, e.g. 10), "
                         f"got {per_class!r}")
    if per_class and not (isinstance(recipe.gan_class, type) and issubclass(recipe.gan_class, InfoGAN)):
        coded = sorted(name for name, r in RECIPES.items() if issubclass(r.gan_class, InfoGAN))
        raise ValueError(f"recipe {recipe.name!r} has no categorical code for labelled images to guide; "
                         f"use one of {coded}, or drop labelled_per_class")
    return replace(recipe, labelled_per_class=int(per_class))


# ------------------------------------------------------------------------------------------------------------
# Image-to-image recipes (notebook 08): pix2pix and its L1-only baseline, on paired data made by a corruption.
# Self-contained: they have their own recipe type because they train on (target, input) pairs, not on images.

@dataclass(frozen=True)
class ImageToImageRecipe:
    """Hyper-parameters of an image-to-image model (``gans.pix2pix.Pix2Pix``).

    Attributes:
        name: CLI name.
        gan_weight: weight of the adversarial term (0: the L1-only baseline, D is not trained).
        l1_weight: lambda, the weight of the L1 term (100 in Isola et al., 2017).
        width, d_width: channels of the U-Net's first level and of the PatchGAN's first conv.
        epochs, batch_size, quick_epochs, quick_examples: as ``Recipe``.
        epoch_size: training pairs per epoch, a random subset drawn afresh every epoch
            (``make_paired_dataset(epoch_size=...)``); None: all the images.
        lr, beta_1: Adam's settings for both networks.
        grid_pairs: (input, output, target) examples in each per-epoch grid.
    """

    name: str
    gan_weight: float
    l1_weight: float = 100.0
    width: int = 16
    d_width: int = 32
    epochs: int = 10
    batch_size: int = 64
    epoch_size: int | None = 15_000
    quick_epochs: int = 2
    quick_examples: int = 1024
    lr: float = 8e-4
    beta_1: float = 0.5
    grid_pairs: int = 12

    def with_overrides(self, **changes) -> ImageToImageRecipe:
        """A copy with some fields changed; None values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# The damage each task repairs: a 14 x 14 hole at a random place, or 4x downsampling (28 -> 7) shown back at 28 x 28.
IMAGE_TO_IMAGE_TASKS = ("inpaint", "superres")

IMAGE_TO_IMAGE_RECIPES: dict[str, ImageToImageRecipe] = {
    # Notebook 08: a U-Net of width 16 (about 160k weights) and a PatchGAN of width 32 with 18 x 18 patches;
    # lambda 100 as in Isola et al. (2017); Adam at 8e-4 (four times their 2e-4, as notebooks 01 and 02 do for
    # DCGAN's) learns faster in the notebook's minutes; epochs of 15,000 pairs let the time budget stop a run
    # within about 20 seconds of it.
    "pix2pix": ImageToImageRecipe(name="pix2pix", gan_weight=1.0),
    # The same U-Net trained on L1 alone: the regression baseline pix2pix is compared with.
    "unet-l1": ImageToImageRecipe(name="unet-l1", gan_weight=0.0),
}


def task_corruption(task: str):
    """The ``data.corruptions`` object of a task: "inpaint" -> RandomHole(14), "superres" -> Downsample(4)."""
    from .data.corruptions import Downsample, RandomHole

    if task == "inpaint":
        return RandomHole(14)
    if task == "superres":
        return Downsample(4)
    raise ValueError(f"unknown task {task!r}; choose one of {list(IMAGE_TO_IMAGE_TASKS)}")


def get_image_to_image_recipe(name: str) -> ImageToImageRecipe:
    """The image-to-image recipe called ``name``; a ValueError listing the known names otherwise."""
    try:
        return IMAGE_TO_IMAGE_RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown image-to-image model {name!r}; choose one of "
                         f"{sorted(IMAGE_TO_IMAGE_RECIPES)}") from None


def build_image_to_image(recipe: ImageToImageRecipe, image_shape=(28, 28, 1), input_shape=None, seed: int = 0,
                         strategy=None):
    """Build and compile the ``Pix2Pix`` a recipe describes (U-Net generator, PatchGAN discriminator).

    ``image_shape``: the targets' shape; ``input_shape``: the inputs' (default the same).
    """
    import tensorflow as tf

    from .gans.pix2pix import Pix2Pix
    from .models.image_to_image import build_patchgan_discriminator, build_unet_generator

    image_shape = tuple(image_shape)
    input_shape = image_shape if input_shape is None else tuple(input_shape)
    with (strategy or tf.distribute.get_strategy()).scope():
        generator = build_unet_generator(input_shape, output_channels=image_shape[-1], width=recipe.width)
        discriminator = build_patchgan_discriminator(image_shape, input_shape, width=recipe.d_width)
        gan = Pix2Pix(generator, discriminator, l1_weight=recipe.l1_weight, gan_weight=recipe.gan_weight, seed=seed)
        gan.compile(d_optimizer=keras.optimizers.Adam(recipe.lr, beta_1=recipe.beta_1),
                    g_optimizer=keras.optimizers.Adam(recipe.lr, beta_1=recipe.beta_1))
    return gan


def train_image_to_image(name: str, task: str, out_dir: str | Path, epochs: int | None = None,
                         batch_size: int | None = None, dataset: str = "mnist", quick: bool | None = None,
                         seed: int = 0, verbose: int | str = 2, max_minutes: float | None = None, strategy="one"):
    """Train an image-to-image recipe on a task ("inpaint" or "superres") of MNIST (or Fashion-MNIST); resumes.

    The training images are damaged on the fly by ``task_corruption(task)``
    (``data.make_paired_dataset``, seeded with ``seed``). Other arguments as ``train_recipe``.
    Returns the ``TrainResult`` of ``gan_utils.train``; its ``generator.keras`` maps damaged
    images to repaired ones.
    """
    from .data import load_dataset
    from .data.paired import make_paired_dataset
    from .distribute import make_strategy
    from .training.train import prepare_out_dir, train

    quick = is_quick() if quick is None else quick
    corruption = task_corruption(task)
    if isinstance(strategy, str):
        strategy = make_strategy(strategy)
    recipe = get_image_to_image_recipe(name).with_overrides(epochs=epochs, batch_size=batch_size)
    for key in ("epochs", "batch_size"):
        value = getattr(recipe, key)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    prepare_out_dir(out_dir, create=False)
    set_seed(seed)
    (x_train, _), _ = load_dataset(dataset)
    if quick:
        x_train = x_train[: recipe.quick_examples]
    image_shape = (*x_train.shape[1:3], 1)
    batch = recipe.batch_size * strategy.num_replicas_in_sync
    epoch_size = None if recipe.epoch_size is None or recipe.epoch_size >= len(x_train) else recipe.epoch_size
    data = make_paired_dataset(x_train, corruption, batch_size=batch, seed=seed, epoch_size=epoch_size)
    gan = build_image_to_image(recipe, image_shape, corruption.input_shape(image_shape), seed=seed,
                               strategy=strategy)
    n_epochs = recipe.quick_epochs if quick and epochs is None else recipe.epochs
    return train(gan, data, out_dir, n_epochs, verbose=verbose, max_minutes=max_minutes,
                 grid_size=recipe.grid_pairs)
