"""Corruptions and the paired pipeline: what each corruption does, seeding, exact epochs on resume, bad input."""

import numpy as np
import pytest
import tensorflow as tf

from gan_utils.data import make_dataset
from gan_utils.data.corruptions import Downsample, GaussianNoise, RandomHole
from gan_utils.data.paired import make_paired_dataset

SEED = tf.constant([1, 2], tf.int64)


def ones(n=16, size=28):
    return np.ones((n, size, size, 1), np.float32)


# ------------------------------------------------------------ corruptions
def test_hole_is_a_square_of_fill_inside_each_image():
    x = RandomHole(14, fill=0.0)(ones(), SEED).numpy()
    for img in x[..., 0]:
        rows, cols = np.nonzero(img == 0.0)
        assert len(rows) == 14 * 14
        assert rows.max() - rows.min() == 13 and cols.max() - cols.min() == 13
        assert (img[img != 0.0] == 1.0).all()  # outside the hole the image is untouched


def test_hole_positions_follow_the_seed_and_cover_the_image():
    hole = RandomHole(3)
    a, b = hole(ones(500, 8), SEED).numpy(), hole(ones(500, 8), SEED).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, hole(ones(500, 8), tf.constant([1, 3], tf.int64)).numpy())
    # Each of the 6 x 6 possible places occurs: the top-left corners of the holes cover all of them.
    corners = {(r.min(), c.min()) for r, c in (np.nonzero(img == 0) for img in a[..., 0])}
    assert corners == {(r, c) for r in range(6) for c in range(6)}


def test_a_hole_as_large_as_the_image_fills_it():
    np.testing.assert_array_equal(RandomHole(8, fill=-0.5)(ones(2, 8), SEED).numpy(), -0.5)


def test_hole_larger_than_the_image_is_refused():
    with pytest.raises(ValueError, match="a 30x30 hole does not fit in 28x28 images"):
        RandomHole(30).input_shape((28, 28, 1))
    with pytest.raises(ValueError, match="does not fit"):
        make_paired_dataset(ones(), RandomHole(29), batch_size=4)


@pytest.mark.parametrize("bad", [0, -2, 2.5, True])
def test_bad_hole_sizes_are_refused(bad):
    with pytest.raises(ValueError, match="hole size"):
        RandomHole(bad)


def test_downsample_averages_blocks():
    x = np.random.default_rng(0).uniform(-1, 1, (2, 28, 28, 1)).astype(np.float32)
    small = Downsample(4, upsample=None)(x).numpy()
    assert small.shape == (2, 7, 7, 1)
    np.testing.assert_allclose(small[0, 2, 3, 0], x[0, 8:12, 12:16, 0].mean(), atol=1e-6)
    # Back at full size: a block-constant image comes back exactly with nearest-neighbour resizing.
    blocks = np.kron(small, np.ones((1, 4, 4, 1), np.float32))
    np.testing.assert_allclose(Downsample(4, upsample="nearest")(x).numpy(), blocks, atol=1e-6)
    assert Downsample(4).input_shape((28, 28, 1)) == (28, 28, 1)
    assert Downsample(4, upsample=None).input_shape((28, 28, 3)) == (7, 7, 3)


def test_downsampling_that_does_not_fit_the_image_size_is_refused():
    with pytest.raises(ValueError, match="cannot be downsampled 5x: height and width must be multiples of 5"):
        Downsample(5).input_shape((28, 28, 1))
    with pytest.raises(ValueError, match="multiples of 3"):
        make_paired_dataset(ones(), Downsample(3), batch_size=4)
    with pytest.raises(ValueError, match="upsample"):
        Downsample(4, upsample="lanczos7")


def test_noise_is_seeded_and_stays_in_range():
    x = np.zeros((4, 8, 8, 1), np.float32)
    a = GaussianNoise(0.5)(x, SEED).numpy()
    np.testing.assert_array_equal(a, GaussianNoise(0.5)(x, SEED).numpy())
    assert -1 <= a.min() < -0.5 and 0.5 < a.max() <= 1 and abs(a.std() - 0.5) < 0.1
    with pytest.raises(ValueError, match="std"):
        GaussianNoise(0)


def test_apply_corrupts_a_whole_array_reproducibly():
    x = (np.random.default_rng(0).random((25, 28, 28)) * 255).astype(np.uint8)
    a = RandomHole(14).apply(x, seed=5, batch_size=10)
    assert a.shape == (25, 28, 28, 1) and a.dtype == np.float32
    np.testing.assert_array_equal(a, RandomHole(14).apply(x, seed=5, batch_size=10))
    assert not np.array_equal(a, RandomHole(14).apply(x, seed=6, batch_size=10))


# ------------------------------------------------------------ the pipeline
def test_pairs_are_targets_and_their_corrupted_inputs():
    x = (np.random.default_rng(0).random((64, 28, 28)) * 255).astype(np.uint8)
    targets, inputs = next(iter(make_paired_dataset(x, RandomHole(14), batch_size=16)))
    assert targets.shape == inputs.shape == (16, 28, 28, 1)
    hole = inputs.numpy() == 0.0
    np.testing.assert_array_equal(inputs.numpy()[~hole], targets.numpy()[~hole])
    assert (hole.reshape(16, -1).sum(axis=1) >= 14 * 14).all()


def test_epochs_are_the_same_on_resume_and_the_damage_is_fresh_each_epoch():
    x = (np.random.default_rng(0).random((64, 8, 8)) * 255).astype(np.uint8)
    order = make_paired_dataset(x, RandomHole(4), batch_size=16, seed=7).epoch_order
    straight = [tuple(t.numpy() for t in b) for b in order.epochs(0).take(12)]
    resumed = [tuple(t.numpy() for t in b) for b in order.epochs(2).take(4)]
    for (t1, i1), (t2, i2) in zip(straight[8:], resumed):
        np.testing.assert_array_equal(t1, t2)
        np.testing.assert_array_equal(i1, i2)
    # The order of the images is make_dataset's, for the same seed.
    plain = make_dataset(x, batch_size=16, seed=7).epoch_order
    for (t, _), p in zip(straight, plain.epochs(0).take(12)):
        np.testing.assert_array_equal(t, p.numpy())
    # Epoch 0 and epoch 1 damage image 0 in different places (fresh holes every epoch).
    def hole_of_image(epoch_batches, image):
        for t, i in epoch_batches:
            match = np.flatnonzero((t.reshape(len(t), -1) == image.reshape(1, -1)).all(axis=1))
            if len(match):
                return i[match[0]] == 0.0
    x0 = np.asarray(x[0], np.float32)[..., None] / 127.5 - 1
    assert not np.array_equal(hole_of_image(straight[:4], x0), hole_of_image(straight[4:8], x0))


def test_unshuffled_pairs_match_apply_with_the_same_batch_size():
    x = (np.random.default_rng(0).random((40, 8, 8)) * 255).astype(np.uint8)
    ds = make_paired_dataset(x, RandomHole(4), batch_size=10, shuffle=False, seed=3, drop_remainder=False)
    inputs = np.concatenate([i.numpy() for _, i in ds])
    np.testing.assert_array_equal(inputs, RandomHole(4).apply(x, seed=3, batch_size=10))


def test_given_pairs_stay_paired_through_the_shuffle():
    x = (np.random.default_rng(0).random((32, 8, 8)) * 255).astype(np.uint8)
    for targets, inputs in make_paired_dataset(x, 255 - x, batch_size=8).take(4):
        np.testing.assert_allclose(inputs.numpy(), -targets.numpy(), atol=1e-6)


def test_unpaired_inputs_are_refused():
    x = np.zeros((32, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="not paired: 31 inputs for 32 targets"):
        make_paired_dataset(x, x[:31], batch_size=8)
    with pytest.raises(TypeError, match="Corruption"):
        make_paired_dataset(x, lambda images: images, batch_size=8)
    with pytest.raises(ValueError, match="not images"):
        make_paired_dataset(x, np.zeros(32, np.int64), batch_size=8)


def test_a_shorter_epoch_is_a_fresh_random_subset_and_resumes_exactly():
    x = (np.random.default_rng(0).random((64, 8, 8)) * 255).astype(np.uint8)
    ds = make_paired_dataset(x, RandomHole(4), batch_size=8, seed=1, epoch_size=20)
    order = ds.epoch_order
    assert order.batches_per_epoch == 2 and len(list(ds)) == 2
    straight = [t.numpy() for t, _ in order.epochs(0).take(6)]
    resumed = [t.numpy() for t, _ in order.epochs(2).take(2)]
    for a, b in zip(straight[4:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(straight[0], straight[2])  # each epoch draws its own subset
    for bad in (4, 65, 2.5):
        with pytest.raises(ValueError, match="epoch_size"):
            make_paired_dataset(x, RandomHole(4), batch_size=8, epoch_size=bad)
