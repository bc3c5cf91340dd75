"""The command line for image-to-image models: train pix2pix --task ..., apply a run to an .npz of images."""

import numpy as np
import pytest

from gan_utils.__main__ import main


@pytest.fixture(scope="module")
def inpaint_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "inpaint"
    assert main(["train", "pix2pix", "--task", "inpaint", "--out", str(out), "--quick", "--epochs", "1"]) == 0
    return out


def test_train_pix2pix_writes_a_run_with_grids(inpaint_run, capsys):
    assert (inpaint_run / "generator.keras").is_file() and (inpaint_run / "training.gif").is_file()
    assert main(["train", "pix2pix", "--task", "inpaint", "--out", str(inpaint_run), "--quick", "--epochs", "1"]) == 0
    assert "trained pix2pix --task inpaint: 1 epochs" in capsys.readouterr().out


def test_apply_repairs_clean_images_it_damages_first(inpaint_run, tmp_path):
    from gan_utils import load_mnist

    _, (x, _) = load_mnist()
    np.savez(tmp_path / "digits.npz", images=x[:30])
    out = tmp_path / "repaired.npz"
    assert main(["apply", str(inpaint_run), "--images", str(tmp_path / "digits.npz"), "--corrupt", "inpaint",
                 "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["images"].shape == f["inputs"].shape == (30, 28, 28, 1) and f["images"].dtype == np.uint8
        damaged = f["inputs"]
    # Already damaged images go in as they are.
    np.savez(tmp_path / "damaged.npz", images=damaged)
    assert main(["apply", str(inpaint_run), "--images", str(tmp_path / "damaged.npz"), "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f.files == ["images"]


def test_apply_refuses_images_of_another_size_and_writes_nothing(inpaint_run, tmp_path, capsys):
    np.savez(tmp_path / "small.npz", images=np.zeros((4, 14, 14), np.uint8))
    out = tmp_path / "out.npz"
    assert main(["apply", str(inpaint_run), "--images", str(tmp_path / "small.npz"), "--out", str(out)]) == 2
    assert "generator takes (28, 28, 1)" in capsys.readouterr().err and not out.exists()
    np.savez(tmp_path / "nothing.npz", pictures=np.zeros((4, 28, 28), np.uint8))
    assert main(["apply", str(inpaint_run), "--images", str(tmp_path / "nothing.npz"), "--out", str(out)]) == 2
    assert "no 'images' array" in capsys.readouterr().err and not out.exists()


def test_apply_refuses_a_noise_generator(tmp_path, capsys):
    from gan_utils import build_mlp_generator
    from gan_utils.training.train import save_generator

    save_generator(build_mlp_generator(8, (28, 28, 1), hidden=(8,)), tmp_path / "g.keras")
    np.savez(tmp_path / "x.npz", images=np.zeros((2, 28, 28), np.uint8))
    assert main(["apply", str(tmp_path / "g.keras"), "--images", str(tmp_path / "x.npz"),
                 "--out", str(tmp_path / "o.npz")]) == 2
    assert "not an image-to-image generator" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["train", "pix2pix", "--out", "X"], "needs a task: add --task inpaint or --task superres"),
    (["train", "gan", "--task", "inpaint", "--out", "X"], "--task applies to the image-to-image models"),
    (["train", "unet-l1", "--task", "superres", "--precision", "float32", "--out", "X"], "drop --precision"),
])
def test_train_refuses_a_missing_or_misplaced_task(argv, message, tmp_path, capsys):
    argv = [str(tmp_path / "run") if a == "X" else a for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_superres_l1_baseline_trains_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "sr"
    assert main(["train", "unet-l1", "--task", "superres", "--out", str(out), "--quick", "--epochs", "1"]) == 0
    assert (out / "generator.keras").is_file()
