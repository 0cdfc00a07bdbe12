"""Causal, chunk-by-chunk preprocessing for live monitoring (``eegssm monitor``).

The offline pipeline (:mod:`eegssm.preprocessing.pipeline`) is zero-phase: ``resample_poly``
compensates its filter delay, ``sosfiltfilt`` runs the cascade forward and backward, and the
z-score uses the whole recording. None of that is possible live, so the online pipeline is its
causal counterpart, and **the two give different signals** (phase shift and start transients of
the causal filters, running instead of global statistics):

- resampling: the same polyphase FIR as ``scipy.signal.resample_poly`` (Kaiser window, β 5) but
  applied causally, i.e. exactly ``scipy.signal.upfirdn(h, x, up, down)`` (a delay of
  ``(len(h) - 1) / 2`` up-sampled samples, ~39 ms for 500 → 256 Hz);
- filtering: one pass of the same SOS cascade (band-pass + notches) with ``scipy.signal.sosfilt``
  and its state ``zi`` carried from chunk to chunk (single-pass magnitude, non-linear phase);
  the state starts at the steady state for a constant input equal to the first sample
  (``sosfilt_zi · x₀``), so a DC offset causes no start transient;
- normalisation: per channel, sample ``t`` is z-scored with the mean and standard deviation of
  all samples ``<= t`` seen so far (cumulative statistics, float64; the online analogue of the
  offline whole-recording z-score, converging to it on stationary EEG), optionally frozen after
  ``freeze_after_s`` seconds (a calibration period) so a long seizure does not rescale itself;
  values clipped to ``±clip``. Samples before two have been seen are 0.

Every stage is exact under chunking: any split of a signal into chunks gives the same output as
one call on the whole signal (up to float round-off).

Shapes: chunks are ``(C, n)`` float32 in µV (after the montage, which is instantaneous and can be
applied per chunk with :func:`eegssm.preprocessing.montages.apply_montage`); outputs ``(C, n')``.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from eegssm.preprocessing import filters
from eegssm.preprocessing.pipeline import PreprocessConfig


def resample_filter(up: int, down: int, window: tuple = ("kaiser", 5.0)) -> np.ndarray:
    """The FIR of ``scipy.signal.resample_poly`` for ``up/down`` (gain ``up``), float64."""
    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=window)
    return h * up


class StreamingResampler:
    """Causal polyphase resampling by ``up/down``, state carried between chunks.

    Output ``m`` is ``sum_k h[k]·x_up[m·down - k]`` with ``x_up`` the input with ``up - 1`` zeros
    after each sample, i.e. ``scipy.signal.upfirdn(h, x, up, down)`` computed piece by piece;
    only the ``ceil(len(h) / up)`` taps of output ``m``'s phase are evaluated.
    """

    def __init__(self, n_channels: int, up: int, down: int, h: np.ndarray | None = None) -> None:
        self.up, self.down = int(up), int(down)
        h = resample_filter(self.up, self.down) if h is None else np.asarray(h, dtype=np.float64)
        self.taps = -(-h.size // self.up)  # taps per phase
        poly = np.zeros(self.taps * self.up)
        poly[: h.size] = h
        self.poly = poly.reshape(self.taps, self.up).T  # (up, taps): phase φ, tap i = h[φ + up·i]
        self.history = np.zeros((n_channels, self.taps - 1))  # last inputs, oldest first
        self.n_in = 0  # input samples seen
        self.n_out = 0  # outputs produced

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """``(C, n)`` input samples → ``(C, n')`` outputs whose newest input has arrived."""
        x = np.concatenate([self.history, np.asarray(chunk, dtype=np.float64)], axis=1)
        first = self.n_in - self.history.shape[1]  # global index of x[:, 0]
        self.n_in += chunk.shape[1]
        # outputs m with newest input index (m·down) // up < n_in
        stop = -(-(self.n_in * self.up) // self.down)
        m = np.arange(self.n_out, stop)
        self.n_out = stop
        newest = (m * self.down) // self.up  # global index of tap 0's input
        phase = (m * self.down) % self.up
        idx = newest[:, None] - np.arange(self.taps)[None, :] - first  # (n', taps)
        valid = idx >= 0  # before the first sample: zeros
        xs = x[:, np.where(valid, idx, 0)] * valid  # (C, n', taps)
        out = np.einsum("cmt,mt->cm", xs, self.poly[phase])
        self.history = x[:, x.shape[1] - (self.taps - 1) :] if self.taps > 1 else x[:, :0]
        return out.astype(np.float32)


class OnlinePreprocessor:
    """Causal resample → band-pass/notch → running z-score, chunk by chunk.

    Args:
        config: the checkpoint's :class:`PreprocessConfig` (rates, band, notch, clip, and
            ``normalize``: ``"zscore"``, ``"fixed"`` or None; ``"p95"`` has no online form and is
            refused).
        sfreq_in: rate of the incoming chunks (Hz).
        n_channels: channels per chunk (after the montage).
        freeze_after_s: stop updating the normalisation statistics after this many seconds of
            output (None: cumulative statistics for ever).

    ``push((C, n) µV)`` → ``(C, n')`` float32 at ``sfreq``.
    """

    def __init__(
        self,
        config: PreprocessConfig,
        sfreq_in: float,
        n_channels: int,
        freeze_after_s: float | None = None,
    ) -> None:
        if config.normalize not in ("zscore", "fixed", None):
            raise ValueError(f"no online form of normalize={config.normalize!r}")
        self.config = config
        self.sfreq = float(config.sfreq or sfreq_in)
        self.resampler = None
        if self.sfreq != sfreq_in:
            f = filters.resample_factors(sfreq_in, self.sfreq)
            self.resampler = StreamingResampler(n_channels, f.numerator, f.denominator)
            self.sfreq = float(sfreq_in) * f.numerator / f.denominator
        self.sos = filters.design_filter(
            self.sfreq,
            config.l_freq,
            config.h_freq,
            config.notch,
            config.filter_order,
            config.notch_quality,
        )
        self.zi: np.ndarray | None = None  # (S, C, 2), set from the first sample
        self.freeze_after = None if freeze_after_s is None else int(freeze_after_s * self.sfreq)
        self.count = 0  # samples in the statistics
        self.total = np.zeros((n_channels, 1))  # float64 sums
        self.total_sq = np.zeros((n_channels, 1))

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """``(C, n)`` raw µV at ``sfreq_in`` → ``(C, n')`` float32 at ``sfreq``."""
        x = np.asarray(chunk, dtype=np.float32)
        if self.resampler is not None:
            x = self.resampler.push(x)
        if x.shape[1] == 0:
            return x
        x = self.filter(x)
        if self.config.normalize == "zscore":
            x = self.normalize(x)
        elif self.config.normalize == "fixed":
            x = filters.fixed_scale(x, self.config.scale_uv, self.config.clip)
        return x

    def filter(self, x: np.ndarray) -> np.ndarray:
        """One causal pass of the SOS cascade with carried state: ``(C, n)`` → ``(C, n)``."""
        if len(self.sos) == 0:
            return x
        if self.zi is None:
            self.zi = signal.sosfilt_zi(self.sos)[:, None, :] * x[None, :, :1].astype(np.float64)
        y, self.zi = signal.sosfilt(self.sos, x.astype(np.float64), axis=-1, zi=self.zi)
        return y.astype(np.float32)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Running z-score: sample ``t`` uses the statistics of the samples ``<= t``."""
        n = x.shape[1]
        xd = x.astype(np.float64)
        live = n if self.freeze_after is None else max(0, min(n, self.freeze_after - self.count))
        csum = self.total + np.cumsum(xd[:, :live], axis=1)
        csq = self.total_sq + np.cumsum(xd[:, :live] ** 2, axis=1)
        counts = self.count + np.arange(1, live + 1)
        if live < n:  # frozen: the last statistics hold for the rest of the chunk
            csum = np.concatenate(
                [csum, np.repeat(csum[:, -1:] if live else self.total, n - live, 1)], 1
            )
            csq = np.concatenate(
                [csq, np.repeat(csq[:, -1:] if live else self.total_sq, n - live, 1)], 1
            )
            counts = np.concatenate([counts, np.full(n - live, self.count + live)])
        if live:
            self.total, self.total_sq = csum[:, live - 1 : live], csq[:, live - 1 : live]
            self.count += live
        mean = csum / np.maximum(counts, 1)
        var = np.maximum(csq / np.maximum(counts, 1) - mean**2, 0.0)
        std = np.sqrt(var)
        scale = np.divide(1.0, std, out=np.zeros_like(std), where=(std > 0) & (counts >= 2))
        out = ((xd - mean) * scale).astype(np.float32)
        if self.config.clip is not None:
            np.clip(out, -self.config.clip, self.config.clip, out=out)
        return out
