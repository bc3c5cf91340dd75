"""The command line, run in-process (quick mode) and as a real subprocess."""

import json
import subprocess
import sys

import numpy as np
import pytest

from gan_utils.__main__ import main


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "gan"
    assert main(["train", "gan", "--out", str(out), "--quick", "--epochs", "1", "--batch-size", "256"]) == 0
    return out


def test_train_writes_a_loadable_run_that_resumes(trained_run, capsys):
    from gan_utils.training.train import load_generator

    assert load_generator(trained_run).output_shape == (None, 28, 28, 1)
    history = (trained_run / "history.json").read_text()
    capsys.readouterr()
    # The same command again finds the epoch in the run's checkpoint: nothing is trained, the history is kept.
    assert main(["train", "gan", "--out", str(trained_run), "--quick", "--epochs", "1", "--batch-size", "256"]) == 0
    assert "trained gan: 1 epochs" in capsys.readouterr().out
    assert (trained_run / "history.json").read_text() == history


def test_sample_writes_uint8_images(trained_run, tmp_path):
    out = tmp_path / "s.npz"
    assert main(["sample", str(trained_run), "--n", "37", "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["images"].shape == (37, 28, 28, 1)
        assert f["images"].dtype == np.uint8
        assert "labels" not in f.files


def test_evaluate_prints_the_metrics_table_with_the_real_floor(trained_run, capsys):
    assert main(["evaluate", str(trained_run), "--n", "200", "--reference", "500"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    for column in ("FID", "KID", "score", "precision", "recall", "coverage", "min"):
        assert column in header
    assert lines[1].startswith(str(trained_run)) and lines[2].startswith("real: train vs test digits")


def test_evaluate_json_rows_hold_every_metric(trained_run, capsys):
    assert main(["evaluate", str(trained_run), "--n", "200", "--reference", "500", "--format", "json"]) == 0
    run, floor = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for key in ("fid", "kid", "score", "precision", "recall", "density", "coverage", "class_kl",
                "memorisation_ratio"):
        assert isinstance(run[key], float), key
    assert run["n"] == 200 and run["train_minutes"] > 0 and run["label_accuracy"] is None
    # The generator after one quick epoch is far from real digits; real training digits are close to test digits.
    assert floor["fid"] < run["fid"] and floor["precision"] > run["precision"]


def test_module_runs_as_a_subprocess():
    done = subprocess.run([sys.executable, "-m", "gan_utils", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "train" in done.stdout


def test_evaluate_rejects_a_file_that_is_not_samples(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"junk")
    np.savez(tmp_path / "other.npz", pixels=np.zeros(3))
    assert main(["evaluate", str(bad)]) == 2
    assert main(["evaluate", str(tmp_path / "other.npz")]) == 2
    err = capsys.readouterr().err
    assert "not a readable samples file" in err and "no 'images' array" in err


def test_cgan_train_sample_evaluate_with_balanced_labels(tmp_path, capsys):
    run = tmp_path / "cgan"
    assert main(["train", "cgan", "--out", str(run), "--quick", "--epochs", "1", "--batch-size", "256"]) == 0
    out = tmp_path / "c.npz"
    assert main(["sample", str(run), "--n", "25", "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["images"].shape == (25, 28, 28, 1)
        assert f["labels"].dtype == np.int32
        assert np.bincount(f["labels"]).tolist() == [3] * 5 + [2] * 5  # balanced: 0..9, 0..9, 0..4
    capsys.readouterr()
    assert main(["evaluate", str(out), "--reference", "500", "--format", "json", "--no-floor"]) == 0
    report = json.loads(capsys.readouterr().out)
    per_class = report["label_accuracy_per_class"]
    assert len(per_class) == 10 and report["n"] == 25
    # The overall accuracy weighs each requested class by its samples: 3 of classes 0-4, 2 of classes 5-9.
    assert report["label_accuracy"] == pytest.approx((3 * sum(per_class[:5]) + 2 * sum(per_class[5:])) / 25)


def test_wgan_gp_trains_and_samples_from_the_command_line(tmp_path):
    run = tmp_path / "wgan"
    assert main(["train", "wgan-gp", "--out", str(run), "--quick", "--epochs", "1", "--batch-size", "256"]) == 0
    assert main(["sample", str(run), "--n", "10", "--out", str(tmp_path / "w.npz")]) == 0
    with np.load(tmp_path / "w.npz") as f:
        assert f["images"].shape == (10, 28, 28, 1) and "labels" not in f.files


def test_dcgan_trains_and_samples_in_a_fresh_process(tmp_path):
    # `sample`, in a new Python process, must rebuild the generator from generator.keras in safe mode.
    out = tmp_path / "dcgan"
    assert main(["train", "dcgan", "--out", str(out), "--quick", "--epochs", "1", "--batch-size", "256"]) == 0
    samples = tmp_path / "s.npz"
    done = subprocess.run([sys.executable, "-m", "gan_utils", "sample", str(out), "--n", "20", "--out", str(samples)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with np.load(samples) as f:
        assert f["images"].shape == (20, 28, 28, 1) and f["images"].dtype == np.uint8


def test_train_max_minutes_stops_early_and_says_so(tmp_path, capsys):
    out = tmp_path / "gan"
    assert main(["train", "gan", "--out", str(out), "--quick", "--epochs", "3", "--batch-size", "256",
                 "--max-minutes", "1e-9"]) == 0
    printed = capsys.readouterr().out
    assert "trained gan: 1 epochs" in printed and "stopped by --max-minutes 1e-09" in printed
    history = json.loads((out / "history.json").read_text())
    assert len(history["seconds"]) == 1 and sorted(p.name for p in (out / "frames").iterdir()) == ["epoch_0001.png"]


@pytest.mark.parametrize("bad", ["0", "-5", "nan", "ten"])
def test_train_refuses_a_bad_max_minutes(tmp_path, bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "gan", "--out", str(tmp_path / "x"), "--max-minutes", bad])
    assert exit_info.value.code == 2 and "minutes" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
