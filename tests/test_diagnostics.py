"""The health-check figure and the plain-language warnings of gan_utils.evaluation.diagnostics."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from gan_utils.evaluation.diagnostics import health_report, plot_health_check

EPOCHS = 10


def _balanced():
    rng = np.random.default_rng(0)
    return {
        "d_loss": list(1.3 + 0.05 * rng.standard_normal(EPOCHS)),
        "g_loss": list(0.8 + 0.05 * rng.standard_normal(EPOCHS)),
        "d_real": list(0.55 + 0.02 * rng.standard_normal(EPOCHS)),
        "d_fake": list(0.45 + 0.02 * rng.standard_normal(EPOCHS)),
        "d_grad_norm": list(1.0 + 0.1 * rng.random(EPOCHS)),
        "g_grad_norm": list(0.5 + 0.1 * rng.random(EPOCHS)),
    }


def _d_wins():
    h = _balanced()
    h["d_real"] = list(np.linspace(0.6, 0.99, EPOCHS))
    h["d_fake"] = list(np.linspace(0.4, 0.01, EPOCHS))
    h["d_loss"] = list(np.linspace(1.2, 0.02, EPOCHS))
    h["g_grad_norm"] = list(np.geomspace(0.5, 1e-3, EPOCHS))
    return h


def test_a_balanced_run_gives_no_warnings():
    assert health_report(_balanced()) == []


def test_a_discriminator_that_wins_is_flagged_with_remedies():
    report = health_report(_d_wins())
    assert any("D is winning" in w and "InstanceNoiseGAN" in w and "label_smoothing" in w for w in report)
    assert any("vanishing" in w for w in report)


def test_the_d_wins_rule_needs_the_whole_window():
    h = _balanced()
    h["d_real"][-2:], h["d_fake"][-2:] = [0.95, 0.95], [0.05, 0.05]  # only 2 of the last 3 epochs
    assert not any("D is winning" in w for w in health_report(h))


def test_non_finite_exploding_and_oscillating_histories_are_flagged():
    h = _balanced()
    h["g_loss"][6] = float("nan")
    assert any("g_loss is not finite from epoch 7" in w for w in health_report(h))
    h = _balanced()
    h["d_grad_norm"][-1] = 500.0
    assert any("D's gradient norm grew" in w for w in health_report(h))
    h = _balanced()
    h["g_loss"] = [0.8 + (0.4 if i % 2 else -0.4) for i in range(EPOCHS)]
    assert any("oscillates" in w for w in health_report(h))


def test_report_accepts_a_history_object_and_checks_its_arguments():
    class History:
        history = _d_wins()

    assert any("D is winning" in w for w in health_report(History()))
    with pytest.raises(ValueError, match="history must be a dict"):
        health_report([1, 2, 3])
    with pytest.raises(ValueError, match="window"):
        health_report(_balanced(), window=0)


def test_health_check_figure_has_the_expected_panels():
    fig = plot_health_check(_d_wins())
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["loss balance", "D on real and fake", "gradient norms"]
    assert axes[2].get_yscale() == "log"
    assert axes[1].get_ylim() == (0.0, 1.0)
    assert len(axes[1].get_lines()) == 3  # D(x), D(G(z)) and the 0.5 line

    wgan = {"d_loss": [1.0, 0.5], "g_loss": [0.3, 0.2]}  # a critic: no d_real / d_fake, no norms
    assert [ax.get_title() for ax in plot_health_check(wgan).get_axes()] == ["loss balance"]
    with pytest.raises(ValueError, match="none of the metrics"):
        plot_health_check({"score": [1.0]})


def test_a_winning_d_is_flagged_under_label_smoothing_too():
    # One-sided smoothing 0.2 caps D(x) near 0.8, but D(G(z)) near 0.07 is still a D that wins.
    h = {"d_real": [0.80, 0.80, 0.81], "d_fake": [0.07, 0.06, 0.07], "d_loss": [0.6] * 3, "g_loss": [3.9] * 3}
    assert any("D is winning" in w for w in health_report(h))
    balanced = {"d_real": [0.75, 0.74, 0.75], "d_fake": [0.33, 0.32, 0.33]}
    assert not any("D is winning" in w for w in health_report(balanced))
