"""The training path: files written, checkpoint round trip, resume, NaN guard."""

import json
import re
import warnings

import keras
import numpy as np
import pytest

from gan_utils import CheckpointError, TrainingDivergedError, load_generator, make_dataset, train
from gan_utils.training.checkpoints import (
    list_checkpoints,
    read_checkpoint,
    restore_checkpoint,
    restore_latest,
    save_checkpoint,
    tracked_variables,
)


def _gan(hidden=(16,), dropout=0.3, ema_decay=0.9, seed=1):
    """A compiled MLP GAN on 8x8x1 images with every kind of state: dropout seeds, EMA, Adam slots."""
    from gan_utils import GAN, build_mlp_discriminator, build_mlp_generator

    keras.utils.set_random_seed(0)
    gan = GAN(build_mlp_generator(8, (8, 8, 1), hidden=hidden),
              build_mlp_discriminator((8, 8, 1), hidden=(16,), dropout=dropout), seed=seed, ema_decay=ema_decay)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    return gan


def _values(gan) -> dict[str, list[np.ndarray]]:
    return {k: [keras.ops.convert_to_numpy(v).copy() for v in vs]
            for k, vs in tracked_variables(gan.checkpoint_items()).items()}


def _assert_values_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for group in a:
        assert len(a[group]) == len(b[group]), group
        for x, y in zip(a[group], b[group]):
            np.testing.assert_array_equal(x, y, err_msg=group)


def test_train_writes_every_artifact(tiny_gan, tiny_images, tmp_path):
    out = tmp_path / "run"
    result = train(tiny_gan, make_dataset(tiny_images, batch_size=16), out, epochs=2, verbose=0, grid_size=16)
    for name in ("generator.keras", "history.json", "losses.png", "training.gif"):
        assert (out / name).is_file(), name
    assert [p.name for p in result.frames] == ["epoch_0001.png", "epoch_0002.png"]
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == ["ckpt-1", "ckpt-2"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index", "ckpt-2.data-00000-of-00001", "ckpt-2.index"]
    history = json.loads((out / "history.json").read_text())
    assert len(history["d_loss"]) == 2 and len(history["seconds"]) == 2
    g = load_generator(out)
    assert g(np.zeros((1, 8), np.float32)).shape == (1, 8, 8, 1)


def test_checkpoint_round_trip_restores_every_variable(tiny_images, tmp_path):
    gan = _gan()
    data = make_dataset(tiny_images, batch_size=16)
    gan.fit(data, epochs=1, verbose=0)
    saved = _values(gan)
    path = save_checkpoint(tmp_path, 1, gan.checkpoint_items(), {"note": "x"})
    assert path.name == "ckpt-1"
    gan.fit(data, epochs=1, verbose=0)  # move everything on ...
    moved = _values(gan)
    for group in saved:  # ... every group, the dropout layer's seed state included
        assert any(not np.array_equal(a, b) for a, b in zip(saved[group], moved[group])), group
    assert restore_checkpoint(path, gan.checkpoint_items()) == {"note": "x", "epoch": 1}
    _assert_values_equal(_values(gan), saved)


def test_a_plain_tf_checkpoint_misses_the_dropout_seed_state_and_ours_keeps_it(tmp_path):
    """Keras' SeedGenerator is not a TensorFlow trackable, so tf.train.Checkpoint does not reach a Dropout
    layer's seed state; the checkpoint saves such variables under untracked/<item>/<i>."""
    import tensorflow as tf

    gan = _gan()
    seed_state = [v for v in gan.discriminator.variables if "seed_generator_state" in v.path]
    assert len(seed_state) == 1
    plain = tf.train.Checkpoint(discriminator=gan.discriminator).write(str(tmp_path / "plain" / "ckpt"))
    assert [shape for _, shape in tf.train.list_variables(plain)].count([2]) == 0
    seed_state[0].assign([7, 11])
    arrays, _ = read_checkpoint(save_checkpoint(tmp_path / "ours", 1, gan.checkpoint_items(), {}))
    assert arrays["untracked/discriminator/0"].tolist() == [7, 11]
    assert arrays["seed_generator"].shape == (2,)  # the GAN's own latent sampler


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


def test_each_checkpoint_holds_the_record_of_its_own_epoch(tiny_images, tmp_path):
    """The record (epoch, history, fixed noise) is a variable in the same files as the weights."""
    out = tmp_path / "run"
    result = train(_gan(), make_dataset(tiny_images, batch_size=16), out, epochs=3, verbose=0, grid_size=4,
                   keep_checkpoints=3)
    for path in list_checkpoints(out / "checkpoints"):
        epoch = int(path.name.removeprefix("ckpt-"))
        arrays, record = read_checkpoint(path)
        assert record["epoch"] == epoch
        assert int(arrays["g_optimizer/_iterations"]) == 4 * epoch  # 4 steps per epoch
        assert record["history"]["d_loss"] == result.history["d_loss"][:epoch]
        assert np.asarray(record["fixed_noise"], np.float32).shape == (4, 8)


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    items = _gan().checkpoint_items()
    for epoch in range(1, 6):
        save_checkpoint(tmp_path, epoch, items, {}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-4", "ckpt-5"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint", "ckpt-4.data-00000-of-00001", "ckpt-4.index", "ckpt-5.data-00000-of-00001", "ckpt-5.index"]


def _flip_a_byte(path):
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))


@pytest.mark.parametrize("damage", ["flipped byte", "truncated data", "missing data", "garbage index"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one_and_is_kept(damage, tiny_images, tmp_path):
    out = tmp_path / "run"
    data = make_dataset(tiny_images, batch_size=16, seed=0)
    train(_gan(), data, out, epochs=2, verbose=0, grid_size=4)
    folder = out / "checkpoints"
    newest = folder / "ckpt-2.data-00000-of-00001"
    if damage == "flipped byte":
        _flip_a_byte(newest)
    elif damage == "truncated data":
        newest.write_bytes(newest.read_bytes()[:100])
    elif damage == "missing data":
        newest.unlink()
    else:
        (folder / "ckpt-2.index").write_bytes(b"not an index")
    damaged = {p.name: p.read_bytes() for p in folder.glob("ckpt-2.*")}
    gan = _gan()
    with pytest.warns(UserWarning, match="ckpt-2 is unreadable.*trying the previous checkpoint"):
        record = restore_latest(folder, gan.checkpoint_items())
    assert record["epoch"] == 1 and int(gan.g_optimizer.iterations.numpy()) == 4
    assert {p.name: p.read_bytes() for p in folder.glob("ckpt-2.*")} == damaged  # untouched
    # The same train call resumes from epoch 1; writing epoch 2 again moves the damaged files aside first.
    with pytest.warns(UserWarning) as caught:
        result = train(_gan(), data, out, epochs=2, verbose=0, grid_size=4)
    messages = " | ".join(str(w.message) for w in caught)
    assert "ckpt-2 is unreadable" in messages and "moved the unreadable checkpoint" in messages
    assert result.resumed_from == 1 and result.epochs == 2
    assert {p.name: p.read_bytes() for p in (folder / "unreadable").iterdir()} == damaged
    assert read_checkpoint(folder / "ckpt-2")[1]["epoch"] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new checkpoint 2 is read without a warning
        assert restore_latest(folder, _gan().checkpoint_items())["epoch"] == 2


@pytest.mark.parametrize("index", ["missing", "garbage"])
def test_a_missing_or_unreadable_index_falls_back_to_the_checkpoint_files(index, tiny_images, tmp_path):
    """TensorFlow reads an unparsable index as "no checkpoints"; the run must not start over on top of them."""
    out = tmp_path / "run"
    data = make_dataset(tiny_images, batch_size=16, seed=0)
    train(_gan(), data, out, epochs=2, verbose=0, grid_size=4)
    if index == "missing":
        (out / "checkpoints" / "checkpoint").unlink()
    else:
        (out / "checkpoints" / "checkpoint").write_text("model_checkpoint_path: {{{ not a proto")
    with pytest.warns(UserWarning, match="index .* is missing or unreadable; trying the 2 checkpoint"):
        result = train(_gan(), data, out, epochs=3, verbose=0, grid_size=4)
    assert result.resumed_from == 2 and result.epochs == 3
    assert read_checkpoint(out / "checkpoints" / "ckpt-3")[1]["history"]["d_loss"][:2] == result.history["d_loss"][:2]


def test_checkpoint_of_another_model_is_refused_before_anything_changes(tmp_path):
    def saved(name, **kwargs):
        return save_checkpoint(tmp_path / name, 1, _gan(**kwargs).checkpoint_items(), {})

    gan = _gan()
    gan.g_optimizer.iterations.assign(5)  # so that a partial restore would show in the step counter too
    before = _values(gan)
    cases = {
        "wider": (saved("wider", hidden=(20,)), r"\(generator dense_0/kernel\) has shape \(8, 20\) in the checkpoint "
                  r"but \(8, 16\) in this model"),
        "deeper": (saved("deeper", hidden=(16, 16)), "the checkpoint has .* variable.* this model lacks"),
        "no EMA": (saved("no-ema", ema_decay=None), r"this model has 4 variable\(s\) the checkpoint lacks "
                   r"\(ema_generator/"),
        "no dropout": (saved("no-dropout", dropout=0.0), "lacks .*untracked/discriminator/0"),
    }
    for case, (path, says) in cases.items():
        with pytest.raises(CheckpointError, match="different model or configuration") as err:
            restore_checkpoint(path, gan.checkpoint_items())
        for part in (says, "Nothing was restored", "use a new output folder, or rebuild the model the checkpoint"):
            assert re.search(part, str(err.value)), (case, part, str(err.value))
        _assert_values_equal(_values(gan), before)  # nothing was half-assigned


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_resumes_exactly(policy, tiny_images, tmp_path):
    """Under mixed_float16 the optimisers are LossScaleOptimizers: their loss scale is saved and restored too."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        data = make_dataset(tiny_images, batch_size=16, seed=0)
        whole = train(_gan(), data, tmp_path / "whole", epochs=2, verbose=0, grid_size=4)
        train(_gan(), data, tmp_path / "split", epochs=1, verbose=0, grid_size=4)
        gan = _gan()
        assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
        resumed = train(gan, data, tmp_path / "split", epochs=2, verbose=0, grid_size=4)
        arrays, _ = read_checkpoint(tmp_path / "split" / "checkpoints" / "ckpt-1")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert resumed.resumed_from == 1
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert resumed.history[key] == whole.history[key], key
    assert ("g_optimizer/dynamic_scale" in arrays) == (policy == "mixed_float16")


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tiny_gan, tiny_images, tmp_path):
    out = tmp_path / "run"
    train(tiny_gan, make_dataset(tiny_images, batch_size=16), out, epochs=1, verbose=0, grid_size=4)
    import tensorflow as tf

    poisoned = tf.data.Dataset.from_tensor_slices(np.full((32, 8, 8, 1), np.nan, np.float32)).batch(16)
    with pytest.raises(TrainingDivergedError, match="epoch 2, step 1.*learning rate"):
        train(tiny_gan, poisoned, out, epochs=2, verbose=0, grid_size=4)
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == ["ckpt-1"]


def test_nan_guard_scans_the_optimiser_state_too(tiny_gan, tiny_images):
    """A non-finite Adam moment is caught at the end of the epoch even while the weights are finite."""
    from gan_utils.training.callbacks import NaNGuard

    guard = NaNGuard()
    guard.set_model(tiny_gan)
    guard.on_epoch_end(0)  # all finite: nothing happens
    slot = next(v for v in tiny_gan.d_optimizer.variables if "momentum" in v.path)
    slot.assign(np.full(slot.shape, np.inf, np.float32))
    with pytest.raises(TrainingDivergedError, match=r"non-finite values in d_optimizer variable .*momentum"):
        guard.on_epoch_end(0)


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
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == ["ckpt-1"]
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
