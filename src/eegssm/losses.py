"""Training losses: temporal–spectral reconstruction (EEGM2), binary focal loss (detector)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eegssm.config.training import FocalLossConfig, ReconstructionLossConfig

#: Default settings (defined once, in :mod:`eegssm.config.training`).
_FOCAL, _RECONSTRUCTION = FocalLossConfig(), ReconstructionLossConfig()


def _broadcast_mask(mask: Tensor, like: Tensor) -> Tensor:
    """``(B, T)`` or ``(B, C, T)`` bool mask → ``(B, C, T)`` float, matching ``like (B, C, T)``."""
    if mask.dim() == like.dim() - 1:
        mask = mask.unsqueeze(-2)
    return mask.to(like.dtype).expand_as(like)


class TemporalSpectralLoss(nn.Module):
    """``alpha · mean|X − X̂| + beta · mean(|rFFT(X) − rFFT(X̂)|²)``, rFFT along time.

    Args:
        alpha: weight of the temporal (L1) term.
        beta: weight of the spectral term.
        fft_norm: ``torch.fft.rfft`` normalisation. ``"backward"`` (default, unnormalised) is the
            paper's formula: the spectral term then grows linearly with ``T`` for white errors.
            ``"ortho"`` makes it equal in scale to a mean squared error in time (Parseval).

    Call ``loss(x_hat, x, mask=None)`` with ``x_hat, x (B, C, T)``:

    - temporal term: mean of ``|X − X̂|`` over all ``B·C·T`` samples, or — with ``mask``
      ``(B, T)`` (or ``(B, C, T)``), True on hidden samples — over hidden samples only;
    - spectral term: mean over ``B·C·(T//2 + 1)`` frequency bins of the squared modulus of the
      complex spectrum difference, always over the **whole window**, also when a mask is given.
      A spectrum is a property of the whole window: the spectrum of the hidden samples alone
      (the signal multiplied by the mask) would be dominated by the mask's own edges. Since the
      visible samples are easy to reproduce, in masked training this term mostly measures how
      well the hidden spans keep the window's spectrum.

    Computed in float32 (float64 for float64 inputs). Returns a scalar. ``last_terms`` holds the
    two unweighted terms of the last call (detached), for logging.
    """

    def __init__(
        self,
        alpha: float = _RECONSTRUCTION.alpha,
        beta: float = _RECONSTRUCTION.beta,
        fft_norm: str = _RECONSTRUCTION.fft_norm,
    ) -> None:
        super().__init__()
        self.alpha, self.beta, self.fft_norm = alpha, beta, fft_norm
        self.last_terms: dict[str, float] = {}

    def forward(self, x_hat: Tensor, x: Tensor, mask: Tensor | None = None) -> Tensor:
        temporal, spectral = self.terms(x_hat, x, mask)
        return self.alpha * temporal + self.beta * spectral

    def terms(self, x_hat: Tensor, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The unweighted ``(temporal, spectral)`` terms, with gradients (``forward`` weighs them).

        A data-parallel caller weighs them separately: the temporal term is a mean over hidden
        samples, the spectral term a mean over windows (``ReconstructionObjective``).
        """
        if x_hat.shape != x.shape:
            raise ValueError(f"shape mismatch: x_hat {tuple(x_hat.shape)} vs x {tuple(x.shape)}")
        dtype = torch.promote_types(x.dtype, torch.float32)  # float32, or float64 if given
        x_hat, x = x_hat.to(dtype), x.to(dtype)
        err = (x - x_hat).abs()
        if mask is None:
            temporal = err.mean()
        else:
            m = _broadcast_mask(mask, err)
            temporal = (err * m).sum() / m.sum().clamp_min(1.0)
        # rFFT is linear: rFFT(X) − rFFT(X̂) = rFFT(X − X̂).
        spec = torch.fft.rfft(x - x_hat, dim=-1, norm=self.fft_norm)
        spectral = (spec.real.square() + spec.imag.square()).mean()
        self.last_terms = {"temporal": temporal.item(), "spectral": spectral.item()}
        return temporal, spectral


class FocalLoss(nn.Module):
    """Binary focal loss on logits (Lin et al. 2017), per sample.

    ``FL = alpha_t · (1 − p_t)^gamma · BCE(logit, y)``, ``p_t = p`` where ``y = 1`` else
    ``1 − p``, ``alpha_t = alpha`` where ``y = 1`` else ``1 − alpha``. ``alpha=None`` drops the
    class weight; ``gamma=0, alpha=None`` is plain binary cross-entropy. Soft targets in
    ``[0, 1]`` are accepted (``p_t`` and ``alpha_t`` interpolate linearly).

    Args:
        alpha: weight of the positive class, or None.
        gamma: focusing exponent (``≥ 0``).

    Call ``loss(logits, targets, mask=None)``: ``logits, targets`` of any equal shape, e.g.
    ``(B, T)`` per-sample logits; ``mask`` bool of the same shape, True where a sample counts
    (e.g. False on padding). Returns the mean over counted samples (0, with a gradient path, when
    none counts).
    """

    def __init__(self, alpha: float | None = _FOCAL.alpha, gamma: float = _FOCAL.gamma) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.alpha, self.gamma = alpha, gamma

    def forward(self, logits: Tensor, targets: Tensor, mask: Tensor | None = None) -> Tensor:
        logits, targets = logits.float(), targets.float()
        bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        loss = bce
        if self.gamma:
            p = torch.sigmoid(logits)
            p_t = p * targets + (1 - p) * (1 - targets)
            loss = loss * (1 - p_t).clamp_min(0).pow(self.gamma)
        if self.alpha is not None:
            loss = loss * (self.alpha * targets + (1 - self.alpha) * (1 - targets))
        if mask is None:
            return loss.mean()
        m = mask.to(loss.dtype)
        return (loss * m).sum() / m.sum().clamp_min(1.0)
