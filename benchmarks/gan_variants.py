"""Short training runs of MLP or DCGAN variants, scored after every epoch: how the recipes were chosen.

Each run trains one configuration on all 60,000 MNIST digits through ``gu.train``,
scores 2,000 EMA samples with the shipped classifier after every epoch, then
10,000 at the end, and prints the per-epoch scores, the minutes of training and
the class shares. Run configurations one at a time (they use both CPU cores):

    .venv/bin/python benchmarks/gan_variants.py '{"name": "dcgan_lr8", "kind": "dcgan", "epochs": 6, "lr": 8e-4}'
    .venv/bin/python benchmarks/gan_variants.py '{"name": "mlp_lr8", "kind": "mlp", "epochs": 10, "lr": 8e-4}'

Keys (all optional but ``name``): kind ("dcgan" or "mlp"), epochs, batch, lr (both
networks) or d_lr / g_lr, beta1, beta2, ema, bn_recalibration (samples; 0 off), seed,
precision ("auto", "float32" ...),
latent; DCGAN: g_width, d_width, g_extra_convs, d_norm ("batch", "layer" or null),
d_extra_convs, d_hidden (units of a Dense layer before D's logit), d_dropout,
spectral_norm, minibatch_std, info_codes (k: InfoGAN's k-way categorical code in G and
a code head on D; 0 off), info_weight (its lambda, default 1); MLP: g_hidden, d_hidden, d_dropout,
spectral_norm, minibatch_std. Runs write to artifacts/benchmarks/variants/NAME
(deleted first). A measurement, not a test: numbers vary from run to run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import gan_utils as gu  # noqa: E402
from gan_utils.recipes import Recipe  # noqa: E402

COMMON_KEYS = {"name", "kind", "epochs", "batch", "lr", "d_lr", "g_lr", "beta1", "beta2", "ema", "bn_recalibration",
               "seed", "precision", "latent", "d_dropout", "spectral_norm", "minibatch_std"}
KIND_KEYS = {"dcgan": {"g_width", "d_width", "g_extra_convs", "d_norm", "d_extra_convs", "d_hidden", "info_codes",
                       "info_weight"},
             "mlp": {"g_hidden", "d_hidden"}}


def check_config(cfg) -> dict:
    """The configuration, or a ValueError naming the bad key, kind or name (a typo must not mislabel a run)."""
    if not isinstance(cfg, dict):
        raise ValueError(f"the configuration must be a JSON object, got {cfg!r}")
    kind = cfg.get("kind", "dcgan")
    if kind not in KIND_KEYS:
        raise ValueError(f"kind must be one of {sorted(KIND_KEYS)}, got {kind!r}")
    unknown = set(cfg) - COMMON_KEYS - KIND_KEYS[kind]
    if unknown:
        raise ValueError(f"unknown keys for kind {kind!r}: {sorted(unknown)}; allowed: "
                         f"{sorted(COMMON_KEYS | KIND_KEYS[kind])}")
    name = cfg.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in (".", ".."):
        raise ValueError(f"name must be a simple folder name (letters, digits, _ . -), got {name!r}")
    return {**cfg, "kind": kind}


def build(cfg: dict):
    """(generator, discriminator) for a configuration dict."""
    latent = cfg.get("latent", 100)
    if cfg["kind"] == "dcgan":
        g = gu.build_dcgan_generator(latent, (28, 28, 1), width=cfg.get("g_width", 32),
                                     extra_convs=cfg.get("g_extra_convs", 0),
                                     categorical_code=cfg.get("info_codes", 0))
        d = gu.build_dcgan_discriminator((28, 28, 1), width=cfg.get("d_width", 32), norm=cfg.get("d_norm", "batch"),
                                         dropout=cfg.get("d_dropout", 0.0), spectral_norm=cfg.get("spectral_norm", False),
                                         minibatch_std=cfg.get("minibatch_std", False),
                                         extra_convs=cfg.get("d_extra_convs", 0), hidden=cfg.get("d_hidden", 0))
        return g, d
    g = gu.build_mlp_generator(latent, (28, 28, 1), hidden=tuple(cfg.get("g_hidden", (256, 512, 1024))))
    d = gu.build_mlp_discriminator((28, 28, 1), hidden=tuple(cfg.get("d_hidden", (512, 256))),
                                   dropout=cfg.get("d_dropout", 0.0), spectral_norm=cfg.get("spectral_norm", False),
                                   minibatch_std=cfg.get("minibatch_std", False))
    return g, d


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    cfg = check_config(json.loads(argv[0]))
    name = cfg["name"]
    out = gu.artifacts_dir("benchmarks", "variants", name)
    shutil.rmtree(out, ignore_errors=True)
    seed = cfg.get("seed", 0)
    gu.set_seed(seed)
    (x, _), _ = gu.load_mnist()
    lr = cfg.get("lr", 2e-4)
    # The same path as the CLI's recipes: build under the dtype policy, wrap in GAN (or InfoGAN) with an EMA.
    info = {"categorical": cfg["info_codes"], "info_weight": cfg.get("info_weight", 1.0)} if cfg.get("info_codes") else {}
    recipe = Recipe(name=name, build=lambda _recipe, _shape: build(cfg), epochs=cfg.get("epochs", 6),
                    batch_size=cfg.get("batch", 64), d_lr=cfg.get("d_lr", lr), g_lr=cfg.get("g_lr", lr),
                    beta_1=cfg.get("beta1", 0.5), beta_2=cfg.get("beta2", 0.999),
                    precision=cfg.get("precision", "auto" if cfg["kind"] == "dcgan" else "float32"),
                    gan_class=gu.InfoGAN if info else gu.GAN, gan_kwargs={"ema_decay": cfg.get("ema", 0.999), **info})
    gan = gu.build_gan(recipe, seed=seed)
    data = gu.make_dataset(x, batch_size=recipe.batch_size, seed=seed)
    recalibrate = [gu.RecalibrateBatchNorm(cfg["bn_recalibration"])] if cfg.get("bn_recalibration") else []
    result = gu.train(gan, data, out, recipe.epochs, callbacks=recalibrate, verbose=0, score_samples=2000)
    h = result.history
    minutes = np.cumsum(h["seconds"]) / 60
    print(f"{name}: G {gan.generator.count_params():,} parameters, D {gan.discriminator.count_params():,}")
    for epoch, (score, m) in enumerate(zip(h["score"], minutes), 1):
        print(f"  epoch {epoch:2d}  {m:5.1f} min  score {score:.2f}  D(x) {h['d_real'][epoch - 1]:.2f}  "
              f"D(G(z)) {h['d_fake'][epoch - 1]:.2f}")
    images, _ = gu.generate_images(gan.sampler, 10_000, seed=0)
    final = gu.score_samples(images)
    print(f"RESULT {name}: {minutes[-1]:.1f} min of training, score of 10,000 EMA samples "
          f"{final['classifier_score']:.2f}, class shares {final['min_class_fraction']:.1%} to "
          f"{final['max_class_fraction']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
