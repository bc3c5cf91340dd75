"""Where does the conditional GAN lose variety? Overall against per-class metrics, and cheap tests of why.

Loads trained generators (nothing is trained unless ``--train-variant`` is given) and
compares, in the shipped MNIST classifier's 128-d feature space against the MNIST test set:

- overall FID, precision and recall (``distances``) against their means over the ten classes
  (``per_class_metrics``: a conditional generator's samples grouped by the label asked for,
  an unconditional one's by the classifier's predicted digit, real digits by their labels);
- ``within``: the share of the feature variance that lies within classes,
  sum_c n_c Var_c / (N Var), and ``eff dims``: the participation ratio (sum l)^2 / sum l^2 of
  the within-class covariance eigenvalues l, averaged over classes (how many directions
  the samples of one digit vary along);
- for the cGAN, variants that need no training: the raw generator against its EMA copy
  (both from the run's last checkpoint), the EMA copy with its BatchNorm statistics
  recomputed from its own samples (the EMA copy otherwise carries the raw generator's
  statistics), and labels drawn with the test set's class shares instead of balanced;
- ``z/label``: for the cGAN, the mean feature distance between G(z, y) and G(z', y) (same
  label, two z) divided by that between G(z, y) and G(z, y') (same z, two labels);
- ``conf``: the classifier's mean p(y | x) for each sample's group y (how typical the digits are);
- the projection discriminator's two logit terms, psi(phi(x)) and e(y) . phi(x), on real
  test digits and on the cGAN's samples: which term tells them apart.

    .venv/bin/python benchmarks/cgan_variety.py                       # artifacts of notebooks 02 and 03
    .venv/bin/python benchmarks/cgan_variety.py --n 2000 --per-class  # faster, with the per-class tables

``--train-variant channel`` only trains the cgan recipe with a label-channel discriminator
(``--epochs``, ``--max-minutes``) into artifacts/benchmarks/cgan_variety/channel; add it to the
table afterwards with ``--extra "channel D=artifacts/benchmarks/cgan_variety/channel"``. On a
shared machine, wrap the training in ``flock /work/fullrun.lock``.
A measurement, not a test: figures vary with the seed and the run.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import gan_utils as gu  # noqa: E402
from gan_utils.evaluation import distances as dist  # noqa: E402
from gan_utils.evaluation.per_class import format_per_class, mean_pairwise_distance, per_class_metrics  # noqa: E402


def within_class_structure(features, labels, num_classes: int = 10) -> dict:
    """``within``: within-class share of the total feature variance; ``eff_dims``: mean participation ratio."""
    total = features.var(axis=0).sum() * len(features)
    within, dims = 0.0, []
    for c in range(num_classes):
        f = features[labels == c]
        if len(f) < 3:
            continue
        within += f.var(axis=0).sum() * len(f)
        eig = np.clip(np.linalg.eigvalsh(np.cov(f, rowvar=False)), 0, None)
        dims.append(eig.sum() ** 2 / max((eig ** 2).sum(), 1e-12))
    return {"within": float(within / total), "eff_dims": float(np.mean(dims))}


def evaluate(name, images, group_labels, ref_features, ref_labels, classifier, per_class: bool) -> dict:
    features, probs = gu.classifier_outputs(images, classifier)
    group_labels = np.asarray(group_labels)
    row = {"name": name, "fid": dist.fid(features, ref_features),
           "confidence": float(probs[np.arange(len(probs)), group_labels].mean())}
    row.update(dist.precision_recall(ref_features, features, 3))
    pc = per_class_metrics(ref_features, ref_labels, features, np.asarray(group_labels), 10)
    row.update({f"pc_{k}": v for k, v in pc["mean"].items()})
    row["min_class_recall"] = float(np.nanmin(pc["recall"]))
    row.update(within_class_structure(features, group_labels))
    if per_class:
        print(f"\n{name} (per class):\n{format_per_class(pc)}")
    return row


def z_label_ratio(generator, latent_dim: int, n_z: int, seed: int, classifier) -> float:
    """Mean distance between two z at one label over mean distance between two labels at one z (features)."""
    z = np.random.default_rng(seed).standard_normal((n_z, latent_dim)).astype(np.float32)
    labels = np.repeat(np.arange(10, dtype=np.int32), n_z)
    images = np.asarray(generator.predict([np.tile(z, (10, 1)), labels], batch_size=500, verbose=0))
    feats = gu.classifier_features(images, classifier).reshape(10, n_z, -1)   # [label, z, D]
    across_z = np.mean([mean_pairwise_distance(feats[c]) for c in range(10)])
    across_labels = np.mean([mean_pairwise_distance(feats[:, i]) for i in range(n_z)])
    return float(across_z / across_labels)


def projection_terms(gan, images, labels) -> tuple[float, float]:
    """Means of the projection discriminator's two logit terms, psi(phi(x)) and e(y) . phi(x), on uint8 images."""
    import keras

    d = gan.discriminator
    phi = keras.Model(d.inputs[0], d.get_layer("flatten").output).predict(
        images.astype(np.float32) / 127.5 - 1.0, batch_size=500, verbose=0)
    w, b = d.get_layer("psi").get_weights()
    table = d.get_layer("label_projection").get_weights()[0]
    return float(np.mean(phi @ w[:, 0] + b[0])), float(np.mean(np.sum(table[labels] * phi, axis=1)))


def cgan_from_checkpoint(run_dir: Path):
    """The cgan recipe's GAN with the run's newest checkpoint restored (raw and EMA generators)."""
    from gan_utils.training.checkpoints import restore_latest

    gan = gu.build_gan(gu.get_recipe("cgan"))
    if restore_latest(run_dir / "checkpoints", gan.checkpoint_items()) is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir / 'checkpoints'}; run notebook 03 first")
    return gan


def train_variant(variant: str, out: Path, epochs: int, max_minutes: float, seed: int):
    """The cgan recipe with one change, trained on all of MNIST; returns its EMA generator."""
    recipe = gu.get_recipe("cgan")
    if variant == "channel":
        recipe = recipe.with_overrides(model_kwargs={**recipe.model_kwargs, "label_mode": "channel"})
    else:
        raise ValueError(f"unknown variant {variant!r}; choose 'channel'")
    (x_train, y_train), _ = gu.load_mnist()
    data = gu.make_dataset(x_train, y_train, batch_size=recipe.batch_size, seed=seed, num_classes=10)
    gan = gu.build_gan(recipe, seed=seed)
    result = gu.train(gan, data, out, epochs, verbose=2, max_minutes=max_minutes)
    print(f"{variant}: {result.epochs} epochs, {sum(result.history['seconds']) / 60:.1f} min of training")
    return gan.sampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cgan", default=str(gu.artifacts_dir("03_conditional_gan", create=False)))
    parser.add_argument("--dcgan", default=str(gu.artifacts_dir("02_dcgan", create=False)))
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=DIR",
                        help="another conditional generator.keras folder to add to the table")
    parser.add_argument("--n", type=int, default=10000, help="samples per model (the test set has 10,000)")
    parser.add_argument("--n-z", type=int, default=200, help="z vectors per label for z/label")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-class", action="store_true", help="print each model's per-class table")
    parser.add_argument("--train-variant", choices=["channel"], help="train this variant of the cgan recipe, then stop")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--max-minutes", type=float, default=5.5)
    args = parser.parse_args()
    start = time.perf_counter()
    if args.train_variant:
        out = gu.artifacts_dir("benchmarks") / "cgan_variety" / args.train_variant
        train_variant(args.train_variant, out, args.epochs, args.max_minutes, args.seed)
        print(f"written: {out / 'generator.keras'}; add it to the table with --extra NAME={out}")
        return

    (x_train, y_train), (x_test, y_test) = gu.load_mnist()
    classifier = gu.load_classifier()
    ref_features = gu.classifier_features(x_test, classifier)
    rng = np.random.default_rng(args.seed)
    rows = []

    def add(name, images, group_labels):
        rows.append(evaluate(name, images, group_labels, ref_features, y_test, classifier, args.per_class))

    pick = np.sort(rng.choice(len(x_train), args.n, replace=False))
    add("real train digits", x_train[pick], y_train[pick])

    dcgan_dir = Path(args.dcgan)
    if (dcgan_dir / "generator.keras").is_file():
        images, _ = gu.generate_images(gu.load_generator(dcgan_dir), args.n, seed=args.seed)
        add("DCGAN (by predicted class)", images, gu.classifier_probs(images, classifier).argmax(axis=1))
    else:
        print(f"no DCGAN generator in {dcgan_dir}: skipped")

    cgan_dir = Path(args.cgan)
    gan = cgan_from_checkpoint(cgan_dir)
    saved = gu.load_generator(cgan_dir)
    generators = {"cGAN EMA (saved)": saved, "cGAN raw G": gan.generator}
    recalibrated = gan.ema_generator  # recalibrated in place below, after the saved copy's rows
    ratios, drawn = {}, {}
    for name, generator in generators.items():
        images, labels = drawn[name] = gu.generate_images(generator, args.n, seed=args.seed)
        add(name, images, labels)
        ratios[name] = z_label_ratio(generator, gan.latent_dim, args.n_z, args.seed, classifier)
    terms = {"real test digits": projection_terms(gan, x_test[..., None], y_test),
             "cGAN EMA samples": projection_terms(gan, *drawn["cGAN EMA (saved)"])}
    mix = rng.permutation(np.resize(y_test, args.n)).astype(np.int32)
    for name, generator in generators.items():
        images, labels = gu.generate_images(generator, args.n, seed=args.seed, labels=mix)
        add(f"{name}, test-set label mix", images, labels)
    gu.training.callbacks.recalibrate_ema_generator(gan, 4096, args.seed)
    images, labels = gu.generate_images(recalibrated, args.n, seed=args.seed)
    add("cGAN EMA, BN recalibrated", images, labels)
    ratios["cGAN EMA, BN recalibrated"] = z_label_ratio(recalibrated, gan.latent_dim, args.n_z, args.seed, classifier)

    for name, where in (item.split("=", 1) for item in args.extra):
        generator = gu.load_generator(where)
        images, labels = gu.generate_images(generator, args.n, seed=args.seed)
        add(name, images, labels)
        ratios[name] = z_label_ratio(generator, gan.latent_dim, args.n_z, args.seed, classifier)

    print(f"\n{args.n} samples per model against the 10,000 MNIST test digits (classifier features); "
          "'class mean' columns average the ten per-class values")
    head = (f"{'':30s} {'FID':>6} {'prec':>6} {'recall':>6} | {'class mean: FID':>15} {'prec':>6} {'recall':>6} "
            f"{'min rec':>7} {'divers':>6} | {'within':>6} {'eff dims':>8} {'z/label':>7} {'conf':>6}")
    print(head)
    for r in rows:
        ratio = ratios.get(r["name"])
        print(f"{r['name']:30s} {r['fid']:6.2f} {r['precision']:6.3f} {r['recall']:6.3f} | {r['pc_fid']:15.1f} "
              f"{r['pc_precision']:6.3f} {r['pc_recall']:6.3f} {r['min_class_recall']:7.3f} {r['pc_diversity']:6.3f} | "
              f"{r['within']:6.3f} {r['eff_dims']:8.1f} {'-' if ratio is None else f'{ratio:.3f}':>7} "
              f"{r['confidence']:6.4f}")
    print("\nconf: the classifier's mean p(y | x) for the group's class y")
    print("\nthe cGAN's projection discriminator (last checkpoint, inference mode): mean logit terms")
    for name, (psi, proj) in terms.items():
        print(f"  {name:18s} psi(phi(x)) {psi:6.2f}   e(y) . phi(x) {proj:6.2f}")
    print(f"({(time.perf_counter() - start) / 60:.1f} min)")


if __name__ == "__main__":
    main()
