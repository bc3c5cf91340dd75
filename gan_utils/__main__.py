"""Command line: ``python -m gan_utils {train,sample,evaluate,train-classifier,apply} ...``.

    python -m gan_utils train gan --out artifacts/cli/gan        # full-mode defaults
    python -m gan_utils sample artifacts/cli/gan --n 10000 --out samples.npz
    python -m gan_utils evaluate artifacts/cli/gan artifacts/cli/dcgan   # metrics table
    python -m gan_utils train infogan --labelled-per-class 10 --out artifacts/cli/infogan-semi
    python -m gan_utils train-classifier                         # rebuild shipped weights
    python -m gan_utils train pix2pix --task inpaint --out artifacts/cli/inpaint   # image-to-image
    python -m gan_utils apply artifacts/cli/inpaint --images digits.npz --corrupt inpaint --out repaired.npz
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import zipfile

from .config import PRECISIONS
from .distribute import STRATEGIES


def _int_at_least(minimum: int, what: str):
    """An argparse type: an integer >= ``minimum``, or an error naming ``what`` was expected."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value
    return parse


_positive_int = _int_at_least(1, "a positive integer")
_count = _int_at_least(0, "an integer >= 0")


def _positive_minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of minutes, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of minutes, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    from .recipes import IMAGE_TO_IMAGE_RECIPES, IMAGE_TO_IMAGE_TASKS, RECIPES

    p = argparse.ArgumentParser(prog="python -m gan_utils", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model with the notebooks' full-mode defaults (resumes)")
    t.add_argument("model", choices=sorted(RECIPES) + sorted(IMAGE_TO_IMAGE_RECIPES))
    t.add_argument("--task", choices=IMAGE_TO_IMAGE_TASKS,
                   help=f"what an image-to-image model ({', '.join(sorted(IMAGE_TO_IMAGE_RECIPES))}) learns to "
                        "repair: inpaint (a 14x14 hole at a random place) or superres (4x downsampled digits)")
    t.add_argument("--out", required=True, help="run folder (checkpoints, generator.keras, history)")
    t.add_argument("--epochs", type=_positive_int, help="total epochs (default: the recipe's)")
    t.add_argument("--batch-size", type=_positive_int)
    t.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist"])
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quick", action="store_true", help="quick mode (same as GAN_QUICK=1)")
    t.add_argument("--precision", choices=PRECISIONS,
                   help="dtype policy (default: the recipe's)")
    t.add_argument("--xla", action=argparse.BooleanOptionalAction, default=None,
                   help="compile the train step with XLA (default: the recipe's)")
    t.add_argument("--max-minutes", type=_positive_minutes, default=None,
                   help="budget of training time: stop after the epoch when the next would go past it "
                        "(a slower machine trains fewer epochs; run again with a larger budget to go on)")

    t.add_argument("--labelled-per-class", type=_count, default=None, metavar="N",
                   help="InfoGAN recipes: guide the categorical code with N labelled training digits per class "
                        "(0: none; default: the recipe's, 10 for infogan-semi and 0 for infogan)")
    t.add_argument("--strategy", choices=STRATEGIES, default="auto",
                   help="where to train: one device, every GPU of this machine (mirrored), several machines "
                        "(multiworker, reads TF_CONFIG); auto (default): mirrored when more than one GPU is "
                        "visible, else one device. --batch-size is per replica")

    s = sub.add_parser("sample", help="write N samples of a trained run to an .npz file")
    s.add_argument("run", help="run folder or generator.keras file")
    s.add_argument("--n", type=_positive_int, default=10000)
    s.add_argument("--out", required=True, help="output .npz (images uint8 [N,H,W,C], labels if conditional)")
    s.add_argument("--seed", type=int, default=0)

    e = sub.add_parser("evaluate", help="FID, KID, score, precision/recall, density/coverage ... of trained runs")
    e.add_argument("runs", nargs="+", help="run folders, generator.keras files or sample .npz files")
    e.add_argument("--n", type=_positive_int, default=10000, help="samples per run (default 10000)")
    e.add_argument("--reference", type=_positive_int, default=10000,
                   help="MNIST test images to compare with (default 10000; fewer are a random subset "
                        "drawn with --seed)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--format", choices=["table", "markdown", "json"], default="table",
                   help="aligned text table (default), a Markdown table, or one JSON object per row")
    e.add_argument("--no-floor", action="store_true", help="leave out the real-data row (train vs test images)")

    a = sub.add_parser("apply", help="repair the images of an .npz file with a trained image-to-image model")
    a.add_argument("run", help="run folder or generator.keras of a pix2pix / unet-l1 run")
    a.add_argument("--images", required=True,
                   help=".npz with 'images' (uint8 [N,H,W(,C)] in [0, 255] or float in [-1, 1]): damaged images, "
                        "or clean ones with --corrupt")
    a.add_argument("--corrupt", choices=IMAGE_TO_IMAGE_TASKS,
                   help="damage the images first, as in training (the damaged inputs are saved too)")
    a.add_argument("--out", required=True, help="output .npz: 'images' (repaired, uint8), 'inputs' with --corrupt")
    a.add_argument("--seed", type=int, default=0, help="seed of --corrupt's damage")

    c = sub.add_parser("train-classifier", help="train the MNIST classifier used by the metrics")
    c.add_argument("--out", default=None, help="weights file (default: the shipped one)")
    c.add_argument("--epochs", type=_positive_int, default=8)
    c.add_argument("--seed", type=int, default=0)
    return p


def _samples_of(source: str, n: int, seed: int):
    import numpy as np

    from .sampling import generate_images
    from .training.train import load_generator

    if source.endswith(".npz"):
        try:
            f = np.load(source, allow_pickle=False)
            arrays = {k: f[k] for k in f.files} if isinstance(f, np.lib.npyio.NpzFile) else None
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise ValueError(f"{source} is not a readable samples file ({e}); re-create it with "
                             "`python -m gan_utils sample`") from e
        if arrays is None or "images" not in arrays:
            raise ValueError(f"{source} has no 'images' array; write it with `python -m gan_utils sample`")
        labels = arrays.get("labels")
        if len(arrays["images"]) == 0:
            raise ValueError(f"{source} holds no images; write samples with `python -m gan_utils sample RUN --n N`")
        return arrays["images"][:n], (None if labels is None else labels[:n])
    return generate_images(load_generator(source), n, seed=seed)


def _code_accuracies(runs, n: int, seed: int, classifier) -> dict:
    """For each run whose generator has InfoGAN's categorical code: ``code_accuracy`` over the same samples."""
    from .evaluation.codes import code_accuracy
    from .gans.infogan import code_layers
    from .training.train import load_generator

    out = {}
    for run in runs:
        if run.endswith(".npz"):
            continue
        generator = load_generator(run)
        if code_layers(generator):
            out[run] = code_accuracy(generator, n, seed=seed, classifier=classifier)
    return out


def _read_images(path: str):
    """The 'images' array of an .npz file; a clear error if it is missing or unreadable."""
    import numpy as np

    if not path.endswith(".npz"):
        raise ValueError(f"--images must be an .npz file with an 'images' array, got {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "images" not in f.files:
                raise ValueError(f"{path} has no 'images' array (it has {f.files}); save one with "
                                 "np.savez(path, images=images)")
            return f["images"]
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{path} is not a readable .npz file ({e})") from e


def _apply(args) -> None:
    import numpy as np

    from .data import to_uint8_images
    from .gans.pix2pix import check_image_generator, translate
    from .io import atomic_path
    from .recipes import task_corruption
    from .training.train import load_generator

    if not args.out.endswith(".npz"):
        raise ValueError(f"--out must end in .npz, got {args.out}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    generator = load_generator(args.run, check=check_image_generator)
    images = _read_images(args.images)
    inputs = task_corruption(args.corrupt).apply(images, seed=args.seed) if args.corrupt else images
    repaired = to_uint8_images(translate(generator, inputs))  # checks the shapes before anything is written
    arrays = {"images": repaired}
    if args.corrupt:
        arrays["inputs"] = to_uint8_images(inputs)
    with atomic_path(args.out) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    print(f"wrote {len(repaired)} repaired images {repaired.shape[1:]} to {args.out}"
          + (" (and their damaged inputs)" if args.corrupt else ""))


def _evaluate(args) -> None:
    from .evaluation.evaluate import (
        Reference,
        evaluate_real_floor,
        evaluate_samples,
        format_table,
        training_minutes,
    )

    # Read every input before the slow part, so a bad path fails at once.
    samples = {run: _samples_of(run, args.n, args.seed) for run in args.runs}
    reference = Reference.mnist(n_reference=args.reference, seed=args.seed)
    rows = {}
    for run, (images, labels) in samples.items():
        rows[run] = dict(evaluate_samples(images, reference, labels, seed=args.seed),
                         train_minutes=training_minutes(run) if os.path.isdir(run) else None)
    codes = _code_accuracies(args.runs, args.n, args.seed, reference.classifier)
    for run, result in codes.items():
        rows[run]["code_match"] = result["accuracy"]
    if not args.no_floor:
        # At the runs' sample size: FID and the k-NN metrics depend on N (with mixed sizes, the smallest).
        n_floor = min([len(images) for images, _ in samples.values()] + [len(reference.images)])
        rows["real: train vs test digits"] = evaluate_real_floor(reference, n_floor, args.seed)
    if args.format == "json":
        for name, row in rows.items():
            print(json.dumps({"run": name, **row}))
        return
    print(format_table(rows, markdown=args.format == "markdown"))
    for run, result in codes.items():
        pairs = ", ".join(f"{c}->{d}" for c, d in enumerate(result["mapping"]))
        print(f"\n{run}: categorical code vs the classifier's digit over {result['n']} samples: best one-to-one "
              f"matching {result['accuracy']:.2%} (code->digit {pairs}); a code's most common digit "
              f"{result['purity']:.2%}")
    print(f"\nN samples per run against {len(reference.images)} MNIST test digits; features: the shipped "
          "classifier's 128-d penultimate layer. FID and KID: lower is better (FID is biased upwards at small "
          "N; compare at equal N). precision/recall k=3, density/coverage k=5. class KL: 0 = balanced digits. "
          "NN ratio: median distance to the nearest training image, generated / test (about 1: no copying).")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; known input errors print one line and return 2."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, OSError, RuntimeError, FloatingPointError) as e:
        # DatasetError and CheckpointError are RuntimeErrors, TrainingDivergedError a FloatingPointError.
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(args) -> int:
    verbose = 1 if sys.stdout.isatty() else 2
    if args.command == "train":
        from .recipes import IMAGE_TO_IMAGE_RECIPES, train_recipe

        if args.model in IMAGE_TO_IMAGE_RECIPES:
            return _train_image_to_image(args, verbose)
        if args.task is not None:
            raise ValueError(f"--task applies to the image-to-image models {sorted(IMAGE_TO_IMAGE_RECIPES)}, not "
                             f"to {args.model}: drop it")
        result = train_recipe(
            args.model, args.out, epochs=args.epochs, batch_size=args.batch_size,
            dataset=args.dataset, quick=args.quick or None, seed=args.seed, verbose=verbose,
            precision=args.precision, jit_compile=args.xla, max_minutes=args.max_minutes,
            strategy=args.strategy, labelled_per_class=args.labelled_per_class,
        )
        seconds = sum(result.history.get("seconds", []))
        budget = (f", stopped by --max-minutes {args.max_minutes:g} (run again with more to go on)"
                  if result.stopped_by_budget else "")
        print(f"trained {args.model}: {result.epochs} epochs ({seconds / 60:.1f} min of training{budget}); "
              f"generator at {result.generator_path}")
    elif args.command == "sample":
        from .sampling import generate_images, write_samples
        from .training.train import load_generator

        images, labels = generate_images(load_generator(args.run), args.n, seed=args.seed)
        path = write_samples(args.out, images, labels)
        print(f"wrote {len(images)} samples {images.shape[1:]} to {path}")
    elif args.command == "evaluate":
        _evaluate(args)
    elif args.command == "apply":
        _apply(args)
    elif args.command == "train-classifier":
        from .evaluation.classifier import DEFAULT_CLASSIFIER, train_classifier

        print(json.dumps(train_classifier(args.out or DEFAULT_CLASSIFIER, args.epochs, args.seed)))
    return 0


def _train_image_to_image(args, verbose) -> int:
    from .recipes import train_image_to_image

    if args.task is None:
        raise ValueError(f"{args.model} needs a task: add --task inpaint or --task superres")
    unused = [flag for flag, value in (("--precision", args.precision), ("--xla", args.xla)) if value is not None]
    if unused:
        raise ValueError(f"{args.model} trains in float32 without XLA: drop {' and '.join(unused)}")
    result = train_image_to_image(args.model, args.task, args.out, epochs=args.epochs, batch_size=args.batch_size,
                                  dataset=args.dataset, quick=args.quick or None, seed=args.seed, verbose=verbose,
                                  max_minutes=args.max_minutes, strategy=args.strategy)
    seconds = sum(result.history.get("seconds", []))
    budget = (f", stopped by --max-minutes {args.max_minutes:g} (run again with more to go on)"
              if result.stopped_by_budget else "")
    print(f"trained {args.model} --task {args.task}: {result.epochs} epochs ({seconds / 60:.1f} min of training"
          f"{budget}); generator at {result.generator_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
