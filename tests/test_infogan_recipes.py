"""The InfoGAN recipes and their command line: train (with or without labelled digits), sample, evaluate."""

import json

import numpy as np
import pytest

import gan_utils as gu
from gan_utils.__main__ import main
from gan_utils.gans.infogan import code_layers


def _labels(n=200):
    return np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 10


def test_the_infogan_recipe_builds_an_infogan_whose_generator_reads_its_codes():
    gan = gu.build_gan(gu.get_recipe("infogan"))
    assert isinstance(gan, gu.InfoGAN) and gan.labelled is None
    (layer,) = code_layers(gan.generator)
    assert (layer.num_codes, layer.continuous) == (gan.categorical, gan.continuous)
    assert gan.continuous > 0 and gan.q_head.units == gan.categorical + gan.continuous


def test_the_semi_supervised_recipe_draws_its_labelled_digits_from_the_training_set():
    recipe = gu.get_recipe("infogan-semi")
    with pytest.raises(ValueError, match="pass the training set"):
        gu.build_gan(recipe)
    gan = gu.build_gan(recipe, labelled=_labels())
    images, codes = gan.labelled
    assert len(images) == 10 * recipe.labelled_per_class
    np.testing.assert_array_equal(np.bincount(codes.numpy()), [recipe.labelled_per_class] * 10)


@pytest.mark.parametrize("name, per_class, message", [
    ("gan", 10, "recipe 'gan' has no categorical code for labelled images to guide; use one of .*infogan"),
    ("infogan", -1, "labelled_per_class must be an integer >= 0"),
    ("infogan", 2.5, "labelled_per_class must be an integer >= 0"),
])
def test_labelled_per_class_is_refused_where_it_cannot_apply(tmp_path, name, per_class, message):
    with pytest.raises(ValueError, match=message):
        gu.train_recipe(name, tmp_path / "run", quick=True, labelled_per_class=per_class)


@pytest.fixture(scope="module")
def semi_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "infogan"
    assert main(["train", "infogan", "--out", str(out), "--quick", "--epochs", "1", "--batch-size", "256",
                 "--labelled-per-class", "2"]) == 0
    return out


def test_cli_trains_infogan_with_labelled_digits(semi_run):
    history = json.loads((semi_run / "history.json").read_text())
    assert len(history["labelled_loss"]) == 1 and len(history["info_loss"]) == 1


def test_cli_samples_and_evaluates_an_infogan_with_its_code_matching(semi_run, tmp_path, capsys):
    assert main(["sample", str(semi_run), "--n", "20", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as f:
        assert f["images"].shape == (20, 28, 28, 1) and "labels" not in f.files
    capsys.readouterr()
    assert main(["evaluate", str(semi_run), "--n", "200", "--reference", "500", "--no-floor"]) == 0
    out = capsys.readouterr().out
    assert f"{semi_run}: categorical code vs the classifier's digit over 200 samples: best one-to-one matching" in out
    assert main(["evaluate", str(semi_run), "--n", "200", "--reference", "500", "--no-floor", "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)
    expected = gu.code_accuracy(gu.load_generator(semi_run), 200)["accuracy"]
    assert row["code_match"] == pytest.approx(expected)


def test_cli_refuses_a_negative_labelled_count(capsys):
    with pytest.raises(SystemExit):
        main(["train", "infogan", "--out", "x", "--labelled-per-class", "-1"])
    assert "expected an integer >= 0" in capsys.readouterr().err
