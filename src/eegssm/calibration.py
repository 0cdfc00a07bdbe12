"""Probability calibration of a classifier's logits: temperature scaling (Guo et al. 2017).

One scalar ``T > 0`` divides every logit, ``p = softmax(z / T)``; it does not change the arg-max
(so accuracy is unchanged) and is fitted by minimising the negative log-likelihood of held-out
labels. ``T > 1`` softens an over-confident model, ``T < 1`` sharpens an under-confident one.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

#: Temperatures are searched in ``[1 / MAX_T, MAX_T]``.
MAX_T = 100.0


def nll(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of labels ``y (N,)`` under ``softmax(logits (N, K) / T)``."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-logp[np.arange(len(y)), np.asarray(y)].mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising :func:`nll` on ``(logits (N, K), y (N,))``.

    A one-dimensional bounded search over ``log T`` (the NLL is convex in ``1/T``). Returns 1.0
    when ``y`` holds fewer than two classes (nothing to fit).
    """
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    if logits.ndim != 2 or len(logits) != len(y):
        raise ValueError(f"logits must be (N, K) and y (N,), got {logits.shape} and {y.shape}")
    if len(np.unique(y)) < 2:
        return 1.0
    bound = np.log(MAX_T)
    res = minimize_scalar(
        lambda log_t: nll(logits, y, float(np.exp(log_t))),
        bounds=(-bound, bound),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(res.x))


def calibrated_proba(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / T)`` as float64 ``(N, K)`` (rows sum to 1)."""
    return np.exp(log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1))
