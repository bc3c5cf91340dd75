"""The training path: files written, checkpoint round trip, resume, NaN guard."""

import json

import keras
import numpy as np
import pytest

from gan_utils import CheckpointError, TrainingDivergedError, load_generator, make_dataset, train
from gan_utils.training.checkpoints import list_checkpoints, read_checkpoint, restore_checkpoint, save_checkpoint


def test_train_writes_every_artifact(tiny_gan, tiny_images, tmp_path):
    out = tmp_path / "run"
    result = train(tiny_gan, make_dataset(tiny_images, batch_size=16), out, epochs=2, verbose=0, grid_size=16)
    for name in ("generator.keras", "history.json", "losses.png", "training.gif"):
        assert (out / name).is_file(), name
    assert [p.name for p in result.frames] == ["epoch_0001.png", "epoch_0002.png"]
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == ["ckpt-00001.npz", "ckpt-00002.npz"]
    history = json.loads((out / "history.json").read_text())
    assert len(history["d_loss"]) == 2 and len(history["seconds"]) == 2
    g = load_generator(out)
    assert g(np.zeros((1, 8), np.float32)).shape == (1, 8, 8, 1)


def test_checkpoint_round_trip_restores_every_variable(tiny_gan, tiny_images, tmp_path):
    tiny_gan.fit(make_dataset(tiny_images, batch_size=16), epochs=1, verbose=0)
    saved = {k: [np.array(v) for v in vs] for k, vs in tiny_gan.state_variables().items()}
    path = save_checkpoint(tmp_path, 1, tiny_gan.state_variables(), {"note": "x"})
    tiny_gan.fit(make_dataset(tiny_images, batch_size=16), epochs=1, verbose=0)  # move everything on
    meta = restore_checkpoint(path, tiny_gan.state_variables())
    assert meta == {"note": "x", "epoch": 1}
    for group, values in saved.items():
        for a, v in zip(values, tiny_gan.state_variables()[group]):
            np.testing.assert_array_equal(a, np.asarray(v), err_msg=group)


def test_resume_continues_where_it_stopped(tiny_images, tmp_path):
    from gan_utils import GAN, build_mlp_discriminator, build_mlp_generator

    def fresh():
        keras.utils.set_random_seed(0)
        gan = GAN(build_mlp_generator(8, (8, 8, 1), hidden=(16,)), build_mlp_discriminator((8, 8, 1), hidden=(16,)))
        gan.compile()
        return gan

    out = tmp_path / "run"
    first = train(fresh(), make_dataset(tiny_images, batch_size=16), out, epochs=2, verbose=0, grid_size=4)
    gan = fresh()
    second = train(gan, make_dataset(tiny_images, batch_size=16), out, epochs=3, verbose=0, grid_size=4)
    assert second.resumed_from == 2 and second.epochs == 3
    assert second.history["d_loss"][:2] == first.history["d_loss"]
    assert len(second.history["d_loss"]) == 3
    assert gan.d_optimizer.iterations.numpy() == 3 * 4  # 4 steps per epoch, counted from the checkpoint
    # Asking for no more epochs than are done trains nothing and still writes the generator.
    again = train(fresh(), make_dataset(tiny_images, batch_size=16), out, epochs=3, verbose=0, grid_size=4)
    assert again.resumed_from == 3 and len(again.history["d_loss"]) == 3


def test_only_the_newest_checkpoints_are_kept(tiny_gan, tmp_path):
    for epoch in range(1, 6):
        save_checkpoint(tmp_path, epoch, tiny_gan.state_variables(), {}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-00004.npz", "ckpt-00005.npz"]


def test_corrupted_newest_checkpoint_falls_back_and_is_not_deleted(tiny_gan, tmp_path):
    from gan_utils.training.checkpoints import restore_latest

    save_checkpoint(tmp_path, 1, tiny_gan.state_variables(), {"n": 1})
    bad = tmp_path / "ckpt-00002.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="unreadable"):
        meta = restore_latest(tmp_path, tiny_gan.state_variables())
    assert meta["n"] == 1
    assert bad.read_bytes() == b"not a zip file"
    with pytest.raises(CheckpointError, match="unreadable"):
        read_checkpoint(bad)


def test_checkpoint_of_another_model_is_refused(tiny_gan, tmp_path):
    from gan_utils import GAN, build_mlp_discriminator, build_mlp_generator

    def saved(hidden):
        other = GAN(build_mlp_generator(8, (8, 8, 1), hidden=hidden), build_mlp_discriminator((8, 8, 1), hidden=(16,)))
        other.compile()
        return save_checkpoint(tmp_path / str(hidden), 1, other.state_variables(), {})

    before = [np.array(v) for v in tiny_gan.generator.weights]
    with pytest.raises(CheckpointError, match="different model"):
        restore_checkpoint(saved((20,)), tiny_gan.state_variables())
    with pytest.raises(CheckpointError, match="shape .* in this model"):
        restore_checkpoint(saved((16, 40)), tiny_gan.state_variables())
    for a, v in zip(before, tiny_gan.generator.weights):  # nothing was half-assigned
        np.testing.assert_array_equal(a, np.asarray(v))


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tiny_gan, tiny_images, tmp_path):
    out = tmp_path / "run"
    train(tiny_gan, make_dataset(tiny_images, batch_size=16), out, epochs=1, verbose=0, grid_size=4)
    import tensorflow as tf

    poisoned = tf.data.Dataset.from_tensor_slices(np.full((32, 8, 8, 1), np.nan, np.float32)).batch(16)
    with pytest.raises(TrainingDivergedError, match="epoch 2, step 1.*learning rate"):
        train(tiny_gan, poisoned, out, epochs=2, verbose=0, grid_size=4)
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == ["ckpt-00001.npz"]


def test_score_samples_records_a_classifier_score_per_epoch(tmp_path):
    from gan_utils import GAN, build_mlp_discriminator, build_mlp_generator

    keras.utils.set_random_seed(0)
    gan = GAN(build_mlp_generator(8, (28, 28, 1), hidden=(16,)), build_mlp_discriminator((28, 28, 1), hidden=(16,)))
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    images = np.random.default_rng(0).integers(0, 256, (32, 28, 28), dtype=np.uint8)
    result = train(gan, make_dataset(images, batch_size=16), tmp_path / "run", epochs=2, verbose=0,
                   grid_size=4, score_samples=40)
    scores = result.history["score"]
    assert len(scores) == 2 and all(1.0 <= s <= 10.0 for s in scores)
    assert len(result.history["seconds"]) == 2


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_bad_score_samples(tiny_gan, tiny_images, tmp_path, bad):
    with pytest.raises(ValueError, match="score_samples"):
        train(tiny_gan, make_dataset(tiny_images, batch_size=16), tmp_path / "run", epochs=1, score_samples=bad)
    assert not (tmp_path / "run").exists()


def test_over_time_budget_by_hand():
    from gan_utils.training.callbacks import over_time_budget

    assert not over_time_budget([], 0.001)  # nothing known yet: the first epoch runs
    assert not over_time_budget([60.0, 100.0], None)  # no budget
    # 160 s done, the longest epoch 100 s: 260 s is past 4 min (240 s), not past 5 min (300 s).
    assert over_time_budget([60.0, 100.0], 4)
    assert not over_time_budget([60.0, 100.0], 5)
    assert not over_time_budget([60.0, 60.0], 3)  # exactly 180 s still fits


def test_a_time_budget_stops_after_a_whole_epoch_and_a_resume_goes_on(tiny_gan, tiny_images, tmp_path):
    out = tmp_path / "run"
    data = make_dataset(tiny_images, batch_size=16)
    # A budget far smaller than one epoch: the first epoch still runs (nothing is known before it), then it stops.
    first = train(tiny_gan, data, out, epochs=3, verbose=0, grid_size=4, max_minutes=1e-9)
    assert first.epochs == 1 and first.stopped_by_budget
    assert len(first.history["seconds"]) == 1 and [p.name for p in first.frames] == ["epoch_0001.png"]
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == ["ckpt-00001.npz"]
    assert (out / "generator.keras").is_file()
    # Resumed with the same budget: already spent, so nothing more is trained.
    again = train(tiny_gan, data, out, epochs=3, verbose=0, grid_size=4, max_minutes=1e-9)
    assert again.epochs == 1 and again.resumed_from == 1 and again.stopped_by_budget
    # Resumed with room to spare: the remaining epochs run and the budget did not end the run.
    done = train(tiny_gan, data, out, epochs=3, verbose=0, grid_size=4, max_minutes=1e6)
    assert done.epochs == 3 and not done.stopped_by_budget and len(done.history["seconds"]) == 3


def test_a_budget_that_ends_with_the_last_epoch_is_not_reported_as_a_stop(tiny_gan, tiny_images, tmp_path):
    result = train(tiny_gan, make_dataset(tiny_images, batch_size=16), tmp_path / "run", epochs=1, verbose=0,
                   grid_size=4, max_minutes=1e-9)
    assert result.epochs == 1 and not result.stopped_by_budget


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "10"])
def test_bad_max_minutes(tiny_gan, tiny_images, tmp_path, bad):
    with pytest.raises(ValueError, match="max_minutes"):
        train(tiny_gan, make_dataset(tiny_images, batch_size=16), tmp_path / "run", epochs=1, max_minutes=bad)
    assert not (tmp_path / "run").exists()
