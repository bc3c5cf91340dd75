"""Looking at InfoGAN's codes: code sweeps and the best one-to-one matching of codes to digits."""

import keras
import numpy as np
import pytest
from scipy.special import erf

import gan_utils as gu
from gan_utils.models.layers import CategoricalCode, continuous_codes, latent_codes

K, M, D = 3, 2, 8


def _noise(rows=4, seed=0):
    return np.random.default_rng(seed).standard_normal((rows, D)).astype(np.float32)


def _coded_generator(size=8):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((D,)), CategoricalCode(K, M, name="categorical_code"),
                             keras.layers.Dense(size * size, activation="tanh"), keras.layers.Reshape((size, size, 1))])


# ------------------------------------------------------------------ sweeps
def test_a_categorical_sweep_sets_column_v_to_code_v_and_keeps_each_rows_noise():
    noise = _noise()
    z = gu.sweep_latents(noise, "categorical", range(K), K, M)
    assert z.shape == (4 * K, D) and z.dtype == np.float32
    grid = z.reshape(4, K, D)
    np.testing.assert_array_equal(np.asarray(latent_codes(z, K)).reshape(4, K), np.tile(np.arange(K), (4, 1)))
    for r in range(4):
        for v in range(K):
            np.testing.assert_array_equal(grid[r, v, K:], noise[r, K:])  # the continuous codes and z' untouched
            np.testing.assert_array_equal(np.sort(grid[r, v, :K]), np.sort(noise[r, :K]))  # a swap, not new values


@pytest.mark.parametrize("j", [0, 1])
def test_a_continuous_sweep_changes_only_its_entry_and_the_generator_reads_the_values_back(j):
    noise = _noise()
    values = np.array([-1.0, -0.5, 0.0, 0.3, 1.0])
    z = gu.sweep_latents(noise, j, values, K, M)
    grid = z.reshape(4, len(values), D)
    varies = np.any(grid != grid[:, :1], axis=(0, 1))
    assert varies.tolist() == [i == K + j for i in range(D)]
    np.testing.assert_array_equal(grid[:, 0, np.arange(D) != K + j], noise[:, np.arange(D) != K + j])
    read = np.asarray(continuous_codes(z, K, M))[:, j].reshape(4, len(values))
    np.testing.assert_allclose(read, np.tile(values, (4, 1)), atol=1e-6)
    np.testing.assert_allclose(erf(grid[0, 1, K + j] / np.sqrt(2)), -0.5, atol=1e-6)


def test_code_sweep_images_are_the_generators_images_of_the_sweep():
    g = _coded_generator()
    noise = _noise(3)
    images = gu.code_sweep_images(g, noise, 1, steps=4)
    assert images.shape == (3 * 4, 8, 8, 1) and images.dtype == np.uint8
    expected = gu.to_uint8_images(np.asarray(g(gu.sweep_latents(noise, 1, np.linspace(-1, 1, 4), K, M))))
    np.testing.assert_array_equal(images, expected)
    assert gu.code_sweep_images(g, noise).shape == (3 * K, 8, 8, 1)  # default: the categorical code, every value


@pytest.mark.parametrize("code, values, message", [
    (2, None, r"code must be 'categorical' or an integer in \[0, 2\)"),
    ("digit", None, "code must be 'categorical'"),
    (True, None, "code must be 'categorical'"),
    (0, [0.0, 1.5], r"a continuous code lives in \[-1, 1\]"),
    ("categorical", [0, 1.5], r"integer codes in \[0, 3\)"),
    ("categorical", [0, 3], r"code must be an integer in \[0, 3\)"),
    (0, [], "values must be a non-empty 1-D list"),
])
def test_bad_sweeps_say_what_to_do(code, values, message):
    with pytest.raises(ValueError, match=message):
        gu.sweep_latents(_noise(), code, [0.0] if values is None else values, K, M)


def test_code_sweep_images_needs_a_coded_generator_and_noise_of_its_size():
    plain = gu.build_mlp_generator(D, (8, 8, 1), hidden=(16,))
    with pytest.raises(ValueError, match="needs one CategoricalCode layer.*categorical_code=k"):
        gu.code_sweep_images(plain, _noise())
    with pytest.raises(ValueError, match=r"noise must be \[R, 8\]"):
        gu.code_sweep_images(_coded_generator(), np.zeros((2, 5), np.float32))


# ------------------------------------------------------------------ matching codes to digits
def test_a_permuted_labelling_matches_perfectly():
    digits = np.random.default_rng(0).integers(0, 10, 500)
    permutation = np.random.default_rng(1).permutation(10)
    codes = permutation[digits]                       # code = permutation[digit]
    result = gu.matching_accuracy(codes, digits)
    assert result["accuracy"] == 1.0 and result["purity"] == 1.0
    np.testing.assert_array_equal(np.asarray(result["mapping"])[permutation], np.arange(10))  # inverse permutation


def test_a_known_confusion_gives_the_one_to_one_optimum_not_the_greedy_one():
    # code 0: 8 ones and 2 zeros; code 1: 6 ones and 4 twos; code 2: 10 zeros.
    codes = np.repeat([0, 0, 1, 1, 2], [8, 2, 6, 4, 10])
    digits = np.repeat([1, 0, 1, 2, 0], [8, 2, 6, 4, 10])
    result = gu.matching_accuracy(codes, digits)
    # Best one-to-one: 0 -> 1 (8), 1 -> 2 (4), 2 -> 0 (10) = 22 of 30. Each code's most common digit: 8 + 6 + 10 = 24,
    # but codes 0 and 1 would both be "ones".
    assert result["accuracy"] == pytest.approx(22 / 30)
    assert result["purity"] == pytest.approx(24 / 30)
    assert result["mapping"] == [1, 2, 0]
    np.testing.assert_allclose(result["per_code"], [0.8, 0.4, 1.0])
    np.testing.assert_array_equal(result["counts"], [[2, 8, 0], [0, 6, 4], [10, 0, 0]])


def test_more_codes_than_digits_leave_codes_unmatched():
    codes = np.array([0, 1, 2, 2, 3])
    digits = np.array([0, 0, 1, 1, 1])
    result = gu.matching_accuracy(codes, digits, num_codes=4, num_classes=2)
    assert result["accuracy"] == pytest.approx(3 / 5)  # code 2 -> 1 (2), and one of codes 0, 1 -> 0 (1)
    assert sorted(result["mapping"]).count(-1) == 2


@pytest.mark.parametrize("codes, digits, message", [
    ([0, 1], [0], "one length"),
    ([], [], "non-empty"),
    ([0, 5], [0, 1], r"codes must be integers in \[0, 3\)"),
    ([0, 1], [0.0, 1.0], "digits must be integers"),
])
def test_bad_codes_or_digits_say_what_to_do(codes, digits, message):
    with pytest.raises(ValueError, match=message):
        gu.code_digit_counts(np.asarray(codes), np.asarray(digits), 3, 10)


def test_code_accuracy_matches_codes_of_the_same_samples_as_generate_images():
    g = gu.build_dcgan_generator(16, (28, 28, 1), width=4, categorical_code=4, continuous_codes=1)
    classifier = gu.load_classifier()
    result = gu.code_accuracy(g, n=120, seed=3, classifier=classifier, batch_size=50)
    images, _ = gu.generate_images(g, 120, seed=3, batch_size=50)
    z = np.random.default_rng(3).standard_normal((120, 16)).astype(np.float32)
    expected = gu.matching_accuracy(np.asarray(latent_codes(z, 4)), gu.classifier_probs(images, classifier).argmax(1),
                                    4, 10)
    assert result["n"] == 120 and result["accuracy"] == expected["accuracy"]
    np.testing.assert_array_equal(result["counts"], expected["counts"])
    assert result["counts"].shape == (4, 10) and result["counts"].sum() == 120
