"""Log relative band power per channel: the classical EEG spectral feature, as a torch module.

For each channel of a window ``x (B, C, T)`` sampled at ``sfreq`` Hz, the power spectral
density is estimated by Welch's method exactly as ``scipy.signal.welch`` does it with its
defaults (periodic Hann window of ``segment_s`` seconds, half-overlapping segments, each
segment's mean removed, one-sided density, mean over segments; trailing samples that do not
fill a segment are left out). The power of each band ``[lo, hi)`` Hz is the mean PSD over the
frequency bins inside it, and the feature is the log of its share of the bands' total::

    P_b = mean_{f in [lo_b, hi_b)} PSD(f),        feature_b = log(P_b / sum_b' P_b')

Relative power does not depend on the signal's scale or on the PSD's normalisation constant.
A channel without power in any band (flat) gets the uniform share ``log(1/n_bands)``; a single
empty band is floored at ``log(TINY)``. Windows shorter than a segment use one segment of
their own length (as scipy does), so a band may then hold no frequency bin (power 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

#: The bands (Hz) of the band-power features: delta, theta, alpha, beta 1, beta 2, gamma.
DEFAULT_BANDS: tuple[tuple[float, float], ...] = (
    (1.0, 4.0),
    (4.0, 8.0),
    (8.0, 13.0),
    (13.0, 20.0),
    (20.0, 30.0),
    (30.0, 45.0),
)
#: Floor of a relative band power before the log (float64 arithmetic).
TINY = 1e-30


def welch_psd(x: Tensor, sfreq: float, nperseg: int) -> tuple[Tensor, Tensor]:
    """Welch PSD as ``scipy.signal.welch(x, sfreq, nperseg=nperseg)`` computes it.

    Args:
        x: ``(..., T)`` signal; computed in float64.
        sfreq: sampling rate (Hz).
        nperseg: segment length in samples (``min(nperseg, T)`` is used).

    Returns:
        ``(freqs (F,) Hz, psd (..., F) in units²/Hz)``, ``F = nperseg // 2 + 1``, float64.
    """
    x = x.to(torch.float64)
    n = min(int(nperseg), x.shape[-1])
    step = n - n // 2  # noverlap = n // 2
    win = torch.hann_window(n, periodic=True, dtype=torch.float64, device=x.device)
    seg = x.unfold(-1, n, step)  # (..., S, n)
    seg = seg - seg.mean(dim=-1, keepdim=True)  # detrend="constant"
    spec = torch.fft.rfft(seg * win, dim=-1)
    psd = spec.real**2 + spec.imag**2
    psd = psd / (sfreq * (win**2).sum())
    if n % 2:  # one-sided: double every bin but DC (and Nyquist for even n)
        psd[..., 1:] *= 2
    else:
        psd[..., 1:-1] *= 2
    freqs = torch.fft.rfftfreq(n, d=1.0 / sfreq, dtype=torch.float64, device=x.device)
    return freqs, psd.mean(dim=-2)


class BandPower(nn.Module):
    """``x (B, C, T)`` → log relative band power ``(B, C · n_bands)`` (channel-major: the
    ``n_bands`` values of channel 0 first). No trainable parameters.

    Args:
        sfreq: sampling rate of the windows (Hz).
        bands: ``[(lo, hi), ...]`` Hz, each ``0 <= lo < hi <= sfreq / 2``.
        segment_s: Welch segment length (s); ``round(segment_s * sfreq)`` samples.
    """

    def __init__(
        self,
        sfreq: float,
        bands: Sequence[tuple[float, float]] = DEFAULT_BANDS,
        segment_s: float = 2.0,
    ) -> None:
        super().__init__()
        if not (isinstance(sfreq, int | float) and math.isfinite(sfreq) and sfreq > 0):
            raise ValueError(f"BandPower needs the sampling rate in Hz, got sfreq={sfreq!r}")
        self.sfreq = float(sfreq)
        self.bands = tuple((float(lo), float(hi)) for lo, hi in bands)
        for lo, hi in self.bands:
            if not 0 <= lo < hi <= self.sfreq / 2:
                raise ValueError(
                    f"band [{lo}, {hi}) Hz must lie within 0 .. {self.sfreq / 2} Hz (Nyquist at "
                    f"sfreq={self.sfreq} Hz): resample to at least {2 * hi:g} Hz or leave "
                    "band power out"
                )
        self.nperseg = max(1, round(segment_s * self.sfreq))

    @property
    def n_bands(self) -> int:
        return len(self.bands)

    def band_powers(self, x: Tensor) -> Tensor:
        """Absolute band powers ``(B, C, n_bands)`` (mean PSD in each band, float64)."""
        freqs, psd = welch_psd(x, self.sfreq, self.nperseg)
        masks = torch.stack([(freqs >= lo) & (freqs < hi) for lo, hi in self.bands], dim=-1)
        masks = masks.to(psd.dtype)  # (F, n_bands)
        return (psd @ masks) / masks.sum(dim=0).clamp_min(1.0)

    def forward(self, x: Tensor) -> Tensor:
        p = self.band_powers(x)
        total = p.sum(dim=-1, keepdim=True)
        rel = torch.where(total > 0, p / total.clamp_min(TINY), 1.0 / self.n_bands)
        return rel.clamp_min(TINY).log().flatten(-2).to(x.dtype)

    def extra_repr(self) -> str:
        return f"sfreq={self.sfreq}, bands={list(self.bands)}, nperseg={self.nperseg}"
