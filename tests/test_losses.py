"""Temporal–spectral loss and focal loss against their direct formulas (numpy references)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eegssm.losses import FocalLoss, TemporalSpectralLoss


def _pair(shape=(3, 4, 257), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def _ref_temporal_spectral(x_hat, x, alpha, beta, norm="backward", mask=None):
    a, b = x_hat.double().numpy(), x.double().numpy()
    err = np.abs(b - a)
    if mask is None:
        temporal = err.mean()
    else:
        m = mask.numpy()
        m = np.broadcast_to(m[:, None, :] if m.ndim == 2 else m, err.shape)
        temporal = err[m].mean()
    spec = np.fft.rfft(b, axis=-1, norm=norm) - np.fft.rfft(a, axis=-1, norm=norm)
    return alpha * temporal + beta * (np.abs(spec) ** 2).mean()


@pytest.mark.parametrize("n_times", [256, 257], ids=lambda t: f"T{t}")
@pytest.mark.parametrize("norm", ["backward", "ortho"])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.3, 2.0), (1.0, 0.0), (0.0, 1.0)])
def test_temporal_spectral_vs_numpy(alpha, beta, norm, n_times):
    x_hat, x = _pair((3, 4, n_times))
    got = TemporalSpectralLoss(alpha, beta, fft_norm=norm)(x_hat, x)
    want = _ref_temporal_spectral(x_hat, x, alpha, beta, norm)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.item(), want, rtol=1e-5)


def test_temporal_spectral_zero_at_identity_and_grad():
    x_hat, x = _pair()
    loss_fn = TemporalSpectralLoss()
    assert loss_fn(x, x).item() == 0.0
    x_hat.requires_grad_(True)
    loss = loss_fn(x_hat, x)
    loss.backward()
    assert torch.isfinite(x_hat.grad).all() and x_hat.grad.abs().sum() > 0
    assert set(loss_fn.last_terms) == {"temporal", "spectral"}
    np.testing.assert_allclose(
        loss.item(), loss_fn.last_terms["temporal"] + loss_fn.last_terms["spectral"], rtol=1e-6
    )


@pytest.mark.parametrize("per_channel", [False, True], ids=["mask-BT", "mask-BCT"])
def test_masked_temporal_term_counts_hidden_samples_only(per_channel):
    x_hat, x = _pair()
    g = torch.Generator().manual_seed(1)
    shape = x.shape if per_channel else (x.shape[0], x.shape[-1])
    mask = torch.rand(shape, generator=g) < 0.3
    got = TemporalSpectralLoss(0.7, 1.3)(x_hat, x, mask=mask)
    want = _ref_temporal_spectral(x_hat, x, 0.7, 1.3, mask=mask)
    np.testing.assert_allclose(got.item(), want, rtol=1e-5)

    # temporal term only: errors on visible samples do not count at all
    hidden = mask if per_channel else mask[:, None, :].expand_as(x)
    perfect_on_hidden = torch.where(hidden, x, x_hat)
    assert TemporalSpectralLoss(1.0, 0.0)(perfect_on_hidden, x, mask=mask).item() == 0.0
    assert TemporalSpectralLoss(1.0, 0.0)(perfect_on_hidden, x).item() > 0.1


def test_masked_spectral_term_uses_whole_window():
    x_hat, x = _pair()
    mask = torch.zeros(x.shape[0], x.shape[-1], dtype=torch.bool)
    mask[:, 10:50] = True
    spectral = TemporalSpectralLoss(0.0, 1.0)
    torch.testing.assert_close(spectral(x_hat, x, mask=mask), spectral(x_hat, x))


def test_temporal_spectral_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        TemporalSpectralLoss()(torch.zeros(1, 2, 10), torch.zeros(1, 2, 11))


def _ref_focal(logits, targets, alpha, gamma, mask=None):
    z, y = logits.double().numpy(), targets.double().numpy()
    p = 1.0 / (1.0 + np.exp(-z))
    ce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    p_t = y * p + (1 - y) * (1 - p)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = loss * (y * alpha + (1 - y) * (1 - alpha))
    if mask is not None:
        loss = loss[mask.numpy()]
    return loss.mean()


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
@pytest.mark.parametrize("alpha,gamma", [(0.5, 2.0), (0.25, 2.0), (None, 1.5), (0.8, 0.0)])
def test_focal_vs_formula(alpha, gamma, soft):
    g = torch.Generator().manual_seed(2)
    logits = 3 * torch.randn(4, 300, generator=g)
    targets = torch.rand(4, 300, generator=g) if soft else (torch.rand(4, 300, generator=g) < 0.2)
    got = FocalLoss(alpha, gamma)(logits, targets.float())
    np.testing.assert_allclose(got.item(), _ref_focal(logits, targets.float(), alpha, gamma), 1e-5)


def test_focal_equals_bce_when_gamma0_alpha_none():
    g = torch.Generator().manual_seed(3)
    logits = 4 * torch.randn(2, 3, 50, generator=g)
    targets = (torch.rand(2, 3, 50, generator=g) < 0.5).float()
    torch.testing.assert_close(
        FocalLoss(alpha=None, gamma=0.0)(logits, targets),
        F.binary_cross_entropy_with_logits(logits, targets),
    )
    # focusing only down-weights: focal ≤ BCE
    assert FocalLoss(None, 2.0)(logits, targets) < FocalLoss(None, 0.0)(logits, targets)


def test_focal_mask():
    g = torch.Generator().manual_seed(4)
    logits = torch.randn(3, 100, generator=g, requires_grad=True)
    targets = (torch.rand(3, 100, generator=g) < 0.3).float()
    valid = torch.rand(3, 100, generator=g) < 0.6
    loss_fn = FocalLoss()
    got = loss_fn(logits, targets, mask=valid)
    np.testing.assert_allclose(
        got.item(), _ref_focal(logits.detach(), targets, 0.5, 2.0, valid), rtol=1e-5
    )
    got.backward()
    assert (logits.grad[~valid] == 0).all() and (logits.grad[valid] != 0).any()
    # invalid samples may hold anything
    garbage = torch.where(valid, logits.detach(), torch.full_like(logits, 1e4))
    torch.testing.assert_close(loss_fn(garbage, targets, mask=valid), got.detach())
    none = loss_fn(logits, targets, mask=torch.zeros_like(valid))
    assert none.item() == 0.0 and none.requires_grad


def test_focal_extreme_logits_finite():
    logits = torch.tensor([[-200.0, -30.0, 0.0, 30.0, 200.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 0.0, 1.0, 1.0, 0.0]])
    loss = FocalLoss()(logits, targets)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError):
        FocalLoss(gamma=-1.0)
