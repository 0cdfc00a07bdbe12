"""Temperature scaling: recovers a known temperature, never raises the NLL, keeps the arg-max."""

from __future__ import annotations

import numpy as np
import pytest

from eegssm.calibration import calibrated_proba, fit_temperature, nll


def _tempered_task(true_t: float, n: int = 4000, k: int = 3, seed: int = 0):
    """Labels drawn from softmax(z / true_t): the logits z are over-confident by true_t."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 4.0, size=(n, k))
    p = calibrated_proba(z, true_t)
    y = np.array([rng.choice(k, p=row) for row in p])
    return z, y


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_recovers_the_temperature_labels_were_drawn_with(true_t):
    z, y = _tempered_task(true_t)
    t = fit_temperature(z, y)
    assert t == pytest.approx(true_t, rel=0.1)
    assert nll(z, y, t) <= nll(z, y, 1.0) + 1e-12
    # a grid search agrees with the bounded search
    grid = np.exp(np.linspace(np.log(0.2), np.log(5.0), 401))
    best = grid[np.argmin([nll(z, y, g) for g in grid])]
    assert t == pytest.approx(best, rel=0.02)


def test_calibrated_proba_keeps_the_argmax_and_sums_to_one():
    z = np.random.default_rng(1).normal(size=(50, 4)) * 10
    for t in (0.1, 1.0, 7.0):
        p = calibrated_proba(z, t)
        np.testing.assert_allclose(p.sum(1), 1.0)
        np.testing.assert_array_equal(p.argmax(1), z.argmax(1))
    assert np.isfinite(calibrated_proba(np.array([[1e4, -1e4]]), 0.01)).all()


def test_single_class_and_bad_shapes():
    assert fit_temperature(np.zeros((5, 2)), np.zeros(5, dtype=int)) == 1.0
    with pytest.raises(ValueError, match="logits"):
        fit_temperature(np.zeros(5), np.zeros(5, dtype=int))
