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
from .gan import GAN
from .wgan import WGANGP


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
        labelled_per_class: > 0 guides the GAN's categorical code with that many
            labelled training images per class (``GAN(info_labelled=...)``, drawn by
            ``data.labelled_subset``); ``build_gan`` then needs the training set.
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
                                     kernel_size=kw.get("kernel_size", 4), extra_convs=kw.get("g_extra_convs", 0),
                                     categorical_code=recipe.gan_kwargs.get("info_codes", 0)),
        models.build_dcgan_discriminator(image_shape, width=kw.get("d_width", 64),
                                         kernel_size=kw.get("kernel_size", 4), norm=kw.get("d_norm", "batch"),
                                         dropout=kw.get("d_dropout", 0.0), extra_convs=kw.get("d_extra_convs", 0),
                                         hidden=kw.get("d_hidden", 0)),
    )


def _build_cgan(recipe: Recipe, image_shape):
    from .conditional import build_conditional_discriminator, build_conditional_generator

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
                                     extra_convs=kw.get("g_extra_convs", 0),
                                     categorical_code=recipe.gan_kwargs.get("info_codes", 0)),
        # A critic: no BatchNorm (it would couple the samples the gradient penalty treats one by one).
        models.build_dcgan_discriminator(image_shape, width=kw.get("d_width", 64), kernel_size=kernel,
                                         norm=kw.get("d_norm", "layer"), extra_convs=kw.get("d_extra_convs", 0),
                                         hidden=kw.get("d_hidden", 0),
                                         name="wgan_critic"),
    )


RECIPES: dict[str, Recipe] = {
    # Notebook 01. Adam 8e-4 (four times Radford et al.'s 2e-4): in scratch runs of 10 epochs the EMA
    # generator scored 8.68 (10,000 samples) with 8e-4, 8.32 with 4e-4 and 7.75 with 2e-4.
    "gan": Recipe(name="gan", build=_build_mlp, epochs=32, batch_size=64, d_lr=8e-4, g_lr=8e-4,
                  gan_kwargs={"ema_decay": 0.999}),
    # Notebook 02. Widths 32 and batch 64 train about as well per epoch as widths 64 and batch
    # 128 on MNIST, at about half the time per epoch. One extra 3x3 block at 7x7 and at 14x14 in G,
    # and Adam 8e-4: in scratch runs of 6 epochs the EMA generator scored 7.97 (10,000 samples)
    # with both, 7.34 with Adam 8e-4 alone, 7.51 with the extra blocks alone, 6.85 with neither.
    # Two extra 3x3 blocks on D's 7x7 grid: 8.90 after 6 epochs (one block 8.61, none 7.93), at
    # about 1.5 times the seconds per epoch. The EMA generator's BatchNorm statistics are
    # recomputed from its own samples after every epoch (bn_recalibration). G at width 48 (D stays at 32):
    # 9.11 after 8 epochs (width 32: 9.07 in notebook 02), and the score still rose to 9.2-9.3 by epochs 11-16
    # (9.23 after 16), where at width 32 it levelled off at about 9.0 after 7. Linear lr decay over the
    # last 3 of 8 epochs (8.95) and G's loss on the top 75% of each fake batch (Sinha et al., 2020; 9.12
    # at width 48) did not help.
    # A 10-way categorical code in z, trained with InfoGAN's mutual-information term (info_codes=10), lifts the
    # plateau of ~9.2, by how much depends on the initialisation (how cleanly the codes split the digits): after
    # 9 epochs notebook 02 scored 9.39 (10,000 samples; 9.33 on 2,000), a scratch run from another initialisation
    # 9.59 (2,000; 9.67 over 10,000 after 12), where the recipe without the code had 9.16 (2,000) and 9.20 after
    # 12 epochs. A 20-way code: 9.44 and 9.39 after 9 epochs (two seeds). G at width 32 with the code was 0.4
    # behind after 3 epochs. 9 epochs took 11.6 min on the 2026-12-03 machine (76 s each), ~6 on the previous one's.
    # z of 64 entries instead of 100 (InfoGAN's MNIST model has 62 of noise beside its codes) and lambda = 2: scratch
    # runs from seeds 1 and 2 scored 9.52 / 9.47 after 7 epochs (2,000 samples) and 9.575 / 9.555 over 10,000 after 8,
    # where the runs above had 9.22-9.46 after 7; seed 0 was 0.08 to 0.21 ahead of its lambda-1, 100-entry run over
    # epochs 1-4 (9.09 after 4). The codes split the digits more cleanly (78% and 67% of a code's samples were its
    # most common digit). 8 epochs, to fit 10 minutes on the slow machine (about 75 s per epoch).
    "dcgan": Recipe(name="dcgan", build=_build_dcgan, epochs=8, batch_size=64, latent_dim=64, d_lr=8e-4, g_lr=8e-4,
                    precision="auto", gan_kwargs={"ema_decay": 0.999, "bn_recalibration": 4096, "info_codes": 10,
                                                  "info_weight": 2.0},
                    model_kwargs={"g_width": 48, "d_width": 32, "g_extra_convs": 1, "d_extra_convs": 2}),
    # Notebook 03: notebook 02's networks at widths 32 without the extra 3x3 blocks (Adam 2e-4) with the label fed to
    # both, D by projection. In the full run of notebook 03 (2,000 samples after each epoch) the projection D
    # reached 98.6% label accuracy after 4 epochs, the label-as-a-channel D 88.5%.
    "cgan": Recipe(name="cgan", build=_build_cgan, epochs=12, batch_size=64, precision="auto", conditional=True,
                   gan_kwargs={"ema_decay": 0.999},
                   model_kwargs={"g_width": 32, "d_width": 32, "label_mode": "projection"}),
    # Notebook 04: WGAN-GP (Gulrajani et al., 2017): n_critic = 5, lambda = 10, Adam(beta_1=0.5, beta_2=0.9),
    # a LayerNorm critic, notebook 02's generator at width 32. In a scratch run Adam 5e-4 scored 7.62 after
    # 3,600 generator steps; the earlier full run at 2e-4 ended at 7.54 after 5,600. Notebook 04 with 5 epochs:
    # 7.98 in 10.1 min, with bn_recalibration 8.05 in 16.0 min (a slower session; the score still rose by 0.06
    # in the fifth epoch); with 9 epochs 8.18 in 13.3 min. Extra 3x3 blocks in the critic cost 1.5 (one) to 2
    # (two) times the time per generator step; a critic normalised over the whole feature map
    # (GroupNormalization(groups=1)) instead of LayerNorm's per-position channels scored 7.93 after 5 epochs.
    # Scratch runs of 2026-12-03 (2,000 samples after each epoch; this recipe: 7.15, 7.60, 7.84 after epochs 1-3):
    # Adam 1e-3 for both, 7.38, 7.49, 7.68; notebook 02's networks (G width 48, two extra blocks in the critic)
    # 7.58 after one epoch, which took about 2.1 times as long as one of this recipe's (640 s against ~300 s, each
    # sharing the CPU with another run; stopped). InfoGAN's 10-way code with z of 64 and lambda = 2, as in the dcgan
    # recipe (2026-12-04): 7.10, 7.58, 7.79, 7.89 after epochs 1-4, no better than without it (7.98 after 4); stopped.
    # G at width 48 (the critic unchanged), the same day: 7.38, 7.49, 7.71 after epochs 1-3 at about 1.17 times the
    # seconds per epoch (169 s against 145 s), behind after the first epoch; stopped.
    # A fresh real batch for every critic update (fresh_real_batches, Algorithm 1; 2026-12-04 scratch runs, 2,000
    # samples): 7.28, 7.80, 7.95 after 937, 1,870 and 2,805 generator steps, where the five updates sharing one
    # batch scored 7.15, 7.60, 7.84 at the same steps. On top of it, Adam beta_1 = 0 (7.82 after 1,870 steps),
    # a critic lr of 1e-3 (7.77), and a critic at width 32 with two extra 3x3 blocks (7.10 after 561 steps against
    # 7.06, at about 1.9 times the seconds per step) were no better; a float32 run (7.08, 7.57, 7.73 after epochs
    # 1-3 of the shared-batch recipe) and a critic without LayerNorm (6.95, 7.51, 7.64) neither.
    # An epoch is now one pass of the critic over the data, 60,000 / 320 = 187 generator steps (the epochs above,
    # with a shared batch, had 937), so 45 epochs are about the 9 of the shared-batch recipe. Notebook 04 with it
    # (2026-12-04, 149 ms per generator step): 41 epochs in 19.7 min, 8.33 over 10,000 samples (FID 98.7), where
    # the shared batch had 8.17 (FID 120.6) after 8 epochs of 937 steps in 19.5 min the same day.
    # Scratch runs of 2026-12-04 (third session; 2,000 samples after each epoch of 187 generator steps; the run
    # above: 7.54 after 7 epochs, 7.74 after 10, 8.15 after 20): Adam's lr falling linearly to 0 over 20 epochs,
    # 8.04 after 20 (worse). Notebook 02's networks (G at width 48, two extra 3x3 blocks in the LayerNorm critic;
    # about 2.2 times the seconds per step) rose faster, 8.25 after 7 epochs and 8.27 after 9, but then the critic
    # lost its grip (w_distance about 0.25, critic loss near 0) and the score fell to 7.42 after 17; with Adam 2e-4
    # the same after 8 epochs (7.49, then 6.94 after 16). ProGAN's drift term 0.001 E[D(x)^2] (Karras et al., 2018)
    # on this recipe: 6.60 after 6 epochs against 7.53, worse. The same deeper critic *without* LayerNorm (as
    # Gulrajani et al.'s MNIST critic) kept rising: 8.15, 8.37, 8.58, 8.67 after 5, 7, 9 and 10 epochs, at about 48 s
    # per epoch alone on the CPU (the LayerNorm critic at width 32: ~28 s; with the blocks: ~61 s). The recipe below
    # without its code; notebook 04 with that: 23 of 24 epochs in 19.5 min (~50 s each), 9.02 over 10,000 samples (FID 20.8).
    # InfoGAN's 10-way code with z of 64 and lambda = 2, as in the dcgan recipe, on these networks (2026-12-04, fifth
    # session; scratch run, 2,000 samples after each epoch): 8.96 after 11 epochs where the recipe without it had
    # 8.64, 9.21 after 13, 9.42 after 19 and 9.52 after 24, 9.49 over 10,000 (18.7 min, ~47 s per epoch); without it 8.99 after 23.
    # Notebook 04 with it: 24 epochs in 17.7 min, 9.38 after 24 (2,000 samples), 9.28 over 10,000 (FID 9.78): the
    # code is not part of WGAN-GP (the critic's loss and penalty are unchanged), and 9.28 is still short of 9.4.
    # How cleanly the code splits the digits depends on the initialisation, and sets the end score (2026-12-04, sixth
    # session; scratch runs, 2,000 samples after each epoch, then 10,000 at the end). 10-way code: seed 0 above (9.49 over
    # 10,000; its codes 78% one digit on average), the notebook's run (9.28; two codes made mostly 1s, none mostly 5s),
    # seed 1 9.11 over 10,000 (9.14 after 24; its codes 45% one digit on average, 93% at best). A 20-way code: seed 0
    # 9.44 over 10,000, seed 1 9.36, and notebook 04 with it 9.25 (9.23 after 24 epochs, 17.6 min): no better, so the
    # recipe keeps 10. lambda = 5 with the 10-way code: seed 0, 9.16 after 16 epochs where lambda = 2 had 9.34; seed 1,
    # codes 61% one digit after 10 epochs (lambda 2: 39%) and 8.88 after 10 (lambda 2: 8.73). lambda = 5 for epochs 1-8,
    # then 2: 9.36 (seed 0) and 9.33 (seed 1) over 10,000, against 9.49 and 9.11 at 2: closer together, neither 9.4.
    # Seventh session (2026-12-04, scratch runs as above). Where the score is lost: the class shares stay balanced (H(y)
    # within 0.004 of log 10) and the worst 10% of samples carry 80-96% of the classifier's entropy, most of it in
    # codes that mix digits. A hidden layer in the code head (info_hidden=128, as InfoGAN's Q): seed 1 9.60 over 10,000
    # (9.64 after 24; every code a different digit, on average 89% of its samples), but seeds 0, 2 and 3 8.85, 8.92
    # and 8.84 after 12 epochs (codes 42-48% one digit; this recipe from seeds 0 and 1: 9.08 and 8.73): it changes
    # which split a run draws, not the odds, so the recipe keeps the linear head. With G's learning rate at 1e-3 as
    # well: 9.03 and 8.83 after 14 (this recipe 9.25 and 8.79). lambda rising linearly from 0 to 2 over the first 4
    # epochs: codes 31% and 27% one digit after 10 epochs, 8.61 and 8.72 (worse). Averaging the EMA weights of the
    # last 2 or 3 epochs' checkpoints: within 0.03 of the last epoch's. This recipe from seed 2: 9.30 over 10,000 (9.36
    # after 24; codes 67% one digit), so four runs of it: 9.49, 9.30, 9.28 (the notebook's), 9.11.
    # Eighth session (2026-12-05): 10 labelled digits per class guide the code (semi-supervised InfoGAN, Spurr et al.,
    # 2017): scratch runs from seeds 0 and 1, 9.66 and 9.74 after 24 epochs (2,000), 9.71 and 9.80 over 10,000; code c
    # is digit c for 92-100% of its samples; codes 65% one digit after 2 epochs where the unlabelled runs had 25-31%.
    "wgan-gp": Recipe(name="wgan-gp", build=_build_wgan, epochs=24, batch_size=64, latent_dim=64, d_lr=5e-4,
                      g_lr=5e-4, beta_1=0.5, beta_2=0.9, precision="auto", gan_class=WGANGP,
                      gan_kwargs={"ema_decay": 0.999, "d_steps": 5, "gp_weight": 10.0, "bn_recalibration": 4096,
                                  "fresh_real_batches": True, "info_codes": 10, "info_weight": 2.0},
                      model_kwargs={"g_width": 48, "d_width": 32, "g_extra_convs": 1, "d_extra_convs": 2,
                                    "d_norm": None},
                      labelled_per_class=10),
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; a ValueError listing the known names otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(RECIPES)}") from None


def build_gan(recipe: Recipe, image_shape=(28, 28, 1), seed: int = 0, labelled=None, **compile_kwargs) -> GAN:
    """Build and compile the GAN a recipe describes.

    ``labelled``: the training set ``(x_train, y_train)``, needed by a recipe with
    ``labelled_per_class``, which draws its labelled images from it with ``seed``.
    """
    gan_kwargs = dict(recipe.gan_kwargs)
    if recipe.labelled_per_class:
        if labelled is None:
            raise ValueError(f"recipe {recipe.name!r} guides its code with {recipe.labelled_per_class} labelled "
                             "images per class: pass the training set, build_gan(recipe, labelled=(x_train, y_train))")
        gan_kwargs["info_labelled"] = labelled_subset(*labelled, recipe.labelled_per_class, seed=seed)
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
):
    """Train a named recipe on MNIST (or Fashion-MNIST) into ``out_dir``; resumes if possible.

    ``epochs``, ``batch_size``, ``precision`` and ``jit_compile`` override the
    recipe's values when given. ``max_minutes`` is ``train``'s budget of training
    time: on a slow machine fewer epochs than asked for (None: no budget).

    Returns the ``TrainResult`` of ``gan_utils.train``.
    """
    from .data import load_dataset, make_dataset
    from .training import prepare_out_dir, train

    quick = is_quick() if quick is None else quick
    recipe = get_recipe(name).with_overrides(epochs=epochs, batch_size=batch_size, precision=precision,
                                             jit_compile=jit_compile)
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
        batch_size=recipe.dataset_batch_size,
        seed=seed,
    )
    gan = build_gan(recipe, image_shape=(*x_train.shape[1:3], 1), seed=seed,
                    labelled=(x_train, y_train) if recipe.labelled_per_class else None)
    n_epochs = recipe.quick_epochs if quick and epochs is None else recipe.epochs
    return train(gan, data, out_dir, n_epochs, verbose=verbose, max_minutes=max_minutes)
