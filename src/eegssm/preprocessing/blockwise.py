"""The offline preprocessing of :func:`~eegssm.preprocessing.pipeline.preprocess`, block by block,
for recordings too long to hold in memory (a day of EEG is 1.7 GB as 19 × 256 Hz float32).

Two passes over the file, each reading one block (plus margins) at a time:

1. :meth:`BlockwisePreprocessor.scan`: montage → resample → zero-phase filter each block and
   accumulate the per-channel statistics of the result (count, mean, sum of squared deviations,
   combined across blocks exactly: Chan et al. 1979) and the range of each montaged channel
   (flat-channel detection). Nothing is kept but the statistics.
2. :meth:`BlockwisePreprocessor.blocks`: the same per-block computation again, now normalised with
   the whole-recording statistics, yielded block after block in time order.

How close this is to :func:`preprocess` on the whole recording (tests check it):

- montage: exact (a montage is a fixed channel-mixing matrix, computed once);
- resampling: exact; block edges fall on multiples of the polyphase ``down`` factor and every
  block is read with ``margin_s`` of neighbouring samples on each side, so the FIR sees the
  samples it sees in the whole-recording call;
- zero-phase IIR filtering (``sosfiltfilt``): equal up to the decay of the cascade's response
  over the margin (60 s by default: the 0.5 Hz high-pass has decayed to ~1e-6 by then);
- normalisation: the same statistics up to float round-off.

At the recording's two ends the blocks see the true ends, so edge handling is the same as the
whole-recording call. Memory is one block's samples (a few hundred MB at most) whatever the
recording's length.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from fractions import Fraction

import numpy as np

from eegssm.io.read import RecordingSource
from eegssm.io.types import Recording
from eegssm.preprocessing import filters
from eegssm.preprocessing.montages import apply_montage
from eegssm.preprocessing.pipeline import (
    NonFiniteSignalError,
    PreprocessConfig,
    PreprocessError,
    check_length,
    check_rate,
    get_preset,
)

#: Raw float64 samples of one block (all kept channels) are kept below this many bytes
#: (about 29 minutes of 19 channels at 256 Hz; a block's working set is a few times this).
BLOCK_BYTES = 64 * 2**20
#: ``Detector.run_file`` reads a recording whole when its raw float64 samples fit in this
#: (about 1.9 hours of 19 channels at 256 Hz), and block by block otherwise.
IN_MEMORY_BYTES = 256 * 2**20
#: Samples read on each side of a block so the filters see their neighbourhood (seconds).
MARGIN_S = 60.0


def default_block_s(n_channels: int, sfreq: float, budget: int = BLOCK_BYTES) -> float:
    """Block length (s) whose raw float64 samples take about ``budget`` bytes."""
    return budget / (8.0 * max(n_channels, 1) * sfreq)


def fits_in_memory(source: RecordingSource) -> bool:
    """Whether the raw float64 samples of ``source`` fit in :data:`IN_MEMORY_BYTES`."""
    return 8 * source.n_channels * source.n_times <= IN_MEMORY_BYTES


def montage_matrix(recording_like: Recording, config: PreprocessConfig) -> tuple[np.ndarray, dict]:
    """The montage of ``config`` as a ``(C_out, C_in)`` float32 matrix, and its ``meta``.

    Every montage is linear and the same at every sample (differences, copies, zeros and
    spherical-spline interpolation), so applying it to the identity gives its matrix.
    ``recording_like`` supplies the channel names and rate (its data is not used).
    """
    n = len(recording_like.ch_names)
    eye = Recording(
        data=np.eye(n, dtype=np.float32),
        sfreq=recording_like.sfreq,
        ch_names=list(recording_like.ch_names),
        meta=dict(recording_like.meta),
    )
    mapped = apply_montage(eye, **config.montage_kwargs())
    return np.asarray(mapped.data, dtype=np.float32), mapped


class BlockwisePreprocessor:
    """Preprocess a :class:`RecordingSource` block by block (see the module docstring).

    Args:
        source: an opened recording (:func:`eegssm.io.open_recording`).
        config: a :class:`PreprocessConfig` or preset name. ``normalize="p95"`` needs the whole
            recording at once and is refused when there is more than one block.
        block_s: block length in seconds of input (default: :func:`default_block_s`).
        margin_s: samples read on each side of a block (seconds).

    Attributes:
        sfreq: output rate (Hz); ``n_times``: output samples; ``ch_names``: output channels.
    """

    def __init__(
        self,
        source: RecordingSource,
        config: PreprocessConfig | str = "seizure",
        block_s: float | None = None,
        margin_s: float = MARGIN_S,
    ) -> None:
        self.config = cfg = get_preset(config) if isinstance(config, str) else config
        self.source = source
        self.name = str(source.meta.get("source") or source.path)
        sfreq_in = float(source.sfreq)
        self.flat_inputs: list[str] = []
        self._set_montage(list(source.ch_names))

        factor = Fraction(1)
        check_rate(self.name, sfreq_in, cfg.sfreq, stacklevel=3)
        if cfg.sfreq is not None and cfg.sfreq != sfreq_in:
            factor = filters.resample_factors(sfreq_in, cfg.sfreq)
        self.up, self.down = factor.numerator, factor.denominator
        self.sfreq = sfreq_in * self.up / self.down
        self.n_times = -(-source.n_times * self.up // self.down)
        self.sos = filters.design_filter(
            self.sfreq, cfg.l_freq, cfg.h_freq, cfg.notch, cfg.filter_order, cfg.notch_quality
        )
        check_length(self.n_times, self.sos, self.sfreq, self.name)

        block_s = default_block_s(source.n_channels, sfreq_in) if block_s is None else block_s
        d = self.down
        self.block = max(d, int(block_s * sfreq_in) // d * d)  # input samples, multiple of down
        self.margin = -(-int(math.ceil(margin_s * sfreq_in)) // d) * d
        self.n_blocks = max(1, -(-source.n_times // self.block))
        if cfg.normalize == "p95" and self.n_blocks > 1:
            raise PreprocessError(
                f"{self.name}: normalize='p95' needs the whole recording in memory "
                f"({source.duration / 3600:.1f} h in {self.n_blocks} blocks); read it with "
                "read_recording and call preprocess, or use a larger block_s"
            )
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.flat: np.ndarray | None = None
        #: after :meth:`blocks_in_one_pass`: a flat channel was found, scan and start again.
        self.scan_needed = False
        #: the whole recording's :class:`~eegssm.preprocessing.filters.Normalization` (set by
        #: :meth:`scan`; None when the config does not normalise).
        self.normalization: filters.Normalization | None = None

    def _set_montage(self, names: list[str]) -> None:
        """The montage matrix from the input channels ``names`` (a subset of the source's)."""
        rows = [self.source.ch_names.index(n) for n in names]
        self.matrix, mapped = montage_matrix(
            Recording(np.zeros((len(names), 0), np.float32), float(self.source.sfreq), names),
            self.config,
        )
        used = np.flatnonzero(np.any(self.matrix != 0, axis=0))  # input channels used
        self.used = np.asarray(rows, dtype=np.int64)[used]
        self.matrix = np.ascontiguousarray(self.matrix[:, used])
        self.ch_names = list(mapped.ch_names)
        self.montage_meta = {
            k: mapped.meta[k]
            for k in ("montage", "input", "channel_map", "interpolated", "zeroed", "dropped")
            if k in mapped.meta
        }

    # -- one block -------------------------------------------------------------------------
    def _out_index(self, raw_index: int) -> int:
        """First output sample at or after input sample ``raw_index``."""
        return -(-raw_index * self.up // self.down)

    def _montaged(self, lo: int, hi: int) -> np.ndarray:
        """Input samples ``[lo, hi)`` through the montage: ``(C_out, hi - lo)`` float32."""
        x = self.source.read(lo, hi)
        if not np.array_equal(self.used, np.arange(x.shape[0])):  # else every channel, in order
            x = x[self.used]
        self._last_raw = x[:, self._core[0] - lo : self._core[1] - lo]
        if not np.isfinite(x).all():
            bad = [
                self.source.ch_names[self.used[i]]
                for i, ok in enumerate(np.isfinite(x).all(axis=1))
                if not ok
            ]
            first = lo + int(np.flatnonzero(~np.isfinite(x).all(axis=0))[0])
            raise NonFiniteSignalError(
                f"{self.name}: non-finite samples (NaN/inf) in input channel(s) "
                f"{', '.join(bad)}, first at {first / self.source.sfreq:.3f} s; fix or drop the "
                "channel (or crop the segment) before preprocessing"
            )
        return self.matrix @ x

    def _filtered(self, a: int, b: int, check: _FlatCheck | None = None) -> np.ndarray:
        """Output samples of input block ``[a, b)`` after montage, resampling and filtering
        (not normalised). ``check`` first gets the montaged block and its input channels (the
        flat-channel checks); the montaged block is then filtered in place."""
        lo, hi = max(0, a - self.margin), min(self.source.n_times, b + self.margin)
        self._core = (a, b)
        x = self._montaged(lo, hi)
        if check is not None:
            check.add(x[:, a - lo : b - lo], self._last_raw)
        self._last_raw = None  # the input block is not kept while the consumer works
        y = x
        if self.up != self.down:
            y, _ = filters.resample(x, self.source.sfreq, self.sfreq)
        y = filters.filtfilt(y, self.sos, np.dtype(self.config.filter_dtype).type, overwrite=True)
        first = self._out_index(lo)
        y = y[:, self._out_index(a) - first : self._out_index(b) - first]
        if not np.isfinite(y).all():
            raise NonFiniteSignalError(
                f"{self.name}: non-finite values after filtering near "
                f"{a / self.source.sfreq:.0f} s (overflow: absurd values?)"
            )
        return y

    def _spans(self) -> Iterator[tuple[int, int]]:
        for a in range(0, self.source.n_times, self.block):
            yield a, min(a + self.block, self.source.n_times)

    # -- the two passes ---------------------------------------------------------------------
    def scan(self, progress: Callable[[int], None] | None = None) -> None:
        """Pass 1: whole-recording statistics (sets ``mean``, ``std``, ``flat`` and
        ``normalization``). ``mean`` and ``std`` (of the filtered signal) are gathered only for
        data-driven normalisations (``zscore``, ``p95``; zeros otherwise): with a fixed scale
        this pass only reads the samples for the flat-channel checks, without filtering.

        Input EEG channels found flat (``config.flat_uv``) are left out with a warning, as
        :func:`~eegssm.preprocessing.pipeline.drop_flat_channels` does, and the statistics are
        gathered again without them. ``progress`` is called with the number of input samples
        done after each block.
        """
        flat = self._scan(progress)
        if flat:
            from eegssm.io.channels import is_non_eeg
            from eegssm.preprocessing.pipeline import FlatRecordingError

            eeg = [n for n in self.source.ch_names if not is_non_eeg(n)]
            if len(flat) == len(eeg):
                raise FlatRecordingError(
                    f"{self.name}: all {len(eeg)} EEG channels are flat (RMS below "
                    f"{self.config.flat_uv:g} µV): a disconnected amplifier or an empty "
                    "recording; nothing to analyse"
                )
            warnings.warn(
                f"{self.name}: flat channel(s) {', '.join(flat)} (RMS below "
                f"{self.config.flat_uv:g} µV) left out, treated as missing",
                UserWarning,
                stacklevel=2,
            )
            self.flat_inputs = flat
            self._set_montage([n for n in self.source.ch_names if n not in flat])
            self._scan(None)

    def _scan(self, progress: Callable[[int], None] | None) -> list[str]:
        """One statistics pass; returns the flat input EEG channels among those used."""
        c = len(self.ch_names)
        count, mean, m2 = 0, np.zeros((c, 1)), np.zeros((c, 1))
        check = _FlatCheck(c, len(self.used))
        percentile = None
        # The filtered signal's statistics matter only to data-driven normalisations; with a
        # fixed scale (or none) this pass reads and montages the samples without filtering.
        stats = self.needs_statistics
        for a, b in self._spans():
            if stats:
                y = self._filtered(a, b, check)
            else:
                self._core = (a, b)
                x = self._montaged(a, b)
                check.add(x, self._last_raw)
                self._last_raw = None
                y = x[:, :0]
            if self.config.normalize == "p95":  # one block (checked in __init__): the recording
                percentile = filters.percentile_normalization(y, 95.0, self.config.clip)
            n = y.shape[1]
            if n:
                block_mean = y.mean(axis=1, keepdims=True, dtype=np.float64)
                block_m2 = ((y - block_mean.astype(np.float32)).astype(np.float64) ** 2).sum(
                    axis=1, keepdims=True
                )
                delta = block_mean - mean
                total = count + n
                mean = mean + delta * (n / total)
                m2 = m2 + block_m2 + delta**2 * (count * n / total)
                count = total
            if progress is not None:
                progress(b - a)
        self._set_statistics(mean, np.sqrt(m2 / max(count, 1)), check.flat_outputs(), percentile)
        return self._flat_inputs(check)

    def _set_statistics(
        self,
        mean: np.ndarray,
        std: np.ndarray,
        flat: np.ndarray,
        percentile: filters.Normalization | None = None,
    ) -> None:
        """``mean``, ``std``, ``flat`` and the normalisation they give."""
        self.mean, self.std, self.flat = mean, std, flat
        norm = None
        if self.config.normalize == "zscore":
            norm = filters.zscore_normalization(clip=self.config.clip, mean=mean, std=std)
        elif self.config.normalize == "p95":
            norm = percentile
        elif self.config.normalize == "fixed":
            norm = filters.fixed_normalization(len(mean), self.config.scale_uv, self.config.clip)
        self.normalization = None if norm is None else norm.with_zeroed(self.flat)

    def _flat_inputs(self, check: _FlatCheck) -> list[str]:
        """The input EEG channels (among those used) that ``check`` found flat."""
        if self.config.flat_uv is None:
            return []
        from eegssm.io.channels import is_non_eeg

        names = [self.source.ch_names[i] for i in self.used]
        return [
            n
            for n, rms in zip(names, check.input_rms())
            if rms < self.config.flat_uv and not is_non_eeg(n)
        ]

    @property
    def needs_statistics(self) -> bool:
        """Whether the normalisation needs statistics of the whole recording (``zscore``,
        ``p95``) before the first normalised block; a fixed scale (or none) does not, and
        :meth:`blocks_in_one_pass` can skip :meth:`scan`."""
        return self.config.normalize in ("zscore", "p95")

    def blocks_in_one_pass(
        self, progress: Callable[[int], None] | None = None
    ) -> Iterator[np.ndarray]:
        """:meth:`blocks` without :meth:`scan` first, for a normalisation that needs no
        statistics (:attr:`needs_statistics` False): the blocks assume that no channel is flat
        and the flat-channel checks of :meth:`scan` are made on the way. After the last block
        :attr:`scan_needed` tells whether they found one (a disconnected electrode): the
        blocks were then not the preprocessed recording — run :meth:`scan` and :meth:`blocks`
        (``Detector.run_file`` does). Saves a read of the whole file otherwise."""
        if self.needs_statistics:
            raise PreprocessError(
                f"normalize={self.config.normalize!r} needs scan() before the first block"
            )
        c = len(self.ch_names)
        self._set_statistics(np.zeros((c, 1)), np.zeros((c, 1)), np.zeros(c, dtype=bool))
        self.scan_needed = False
        check = _FlatCheck(c, len(self.used))
        for a, b in self._spans():
            y = self._filtered(a, b, check)
            if progress is not None:
                progress(b - a)
            yield self._normalised(y)
        self.scan_needed = bool(check.flat_outputs().any() or self._flat_inputs(check))
        if self.scan_needed:
            self.mean = None  # the statistics above were assumed: recording() scans

    def _normalised(self, y: np.ndarray) -> np.ndarray:
        if self.normalization is None:
            return np.asarray(y, dtype=np.float32)
        return self.normalization.apply(y)

    def _require_scan(self) -> None:
        if self.mean is None:
            self.scan()

    def blocks(
        self, progress: Callable[[int], None] | None = None, normalize: bool = True
    ) -> Iterator[np.ndarray]:
        """Pass 2: the preprocessed recording as consecutive ``(C_out, n)`` float32 blocks
        (their lengths add up to ``n_times``). Runs :meth:`scan` first if it has not run.

        ``normalize=False`` yields the filtered blocks in µV (``self.normalization.apply`` of
        each is then the normalised block, bit for bit).
        """
        self._require_scan()
        for a, b in self._spans():
            y = self._filtered(a, b)
            if progress is not None:
                progress(b - a)
            yield self._normalised(y) if normalize else y

    def read(self, start: int, stop: int) -> np.ndarray:
        """Preprocessed output samples ``[start, stop)`` (clipped): ``(C_out, n)`` float32."""
        self._require_scan()
        start, stop = max(0, int(start)), min(self.n_times, int(stop))
        if stop <= start:
            return np.zeros((len(self.ch_names), 0), dtype=np.float32)
        a = start // self.up * self.down
        b = min(self.source.n_times, -(-stop // self.up) * self.down)
        y = self._filtered(a, b)
        offset = start - self._out_index(a)
        return self._normalised(y[:, offset : offset + stop - start])

    def recording(self) -> Recording:
        """The preprocessed recording with lazily computed samples (:class:`LazySignal`):
        slicing ``data[:, a:b]`` preprocesses just that stretch."""
        self._require_scan()
        meta = dict(self.source.meta, **self.montage_meta)
        meta["preprocess"] = self.config.model_dump()
        meta["flat"] = [n for n, f in zip(self.ch_names, self.flat) if f]
        if self.flat_inputs:
            meta["flat_inputs"] = list(self.flat_inputs)
        meta["normalization"] = None if self.normalization is None else self.normalization.to_dict()
        meta["blockwise"] = {"blocks": self.n_blocks, "block_samples": self.block}
        data = LazySignal(self.read, (len(self.ch_names), self.n_times))
        return Recording(
            data=data,  # type: ignore[arg-type]
            sfreq=self.sfreq,
            ch_names=list(self.ch_names),
            events=list(self.source.events),
            meta=meta,
        )


class _FlatCheck:
    """The flat-channel checks of a pass, block by block: the range of each montaged channel
    (a derivation of two identical electrodes is constant) and the variance of each input
    channel (a disconnected electrode)."""

    def __init__(self, n_out: int, n_in: int) -> None:
        self.low, self.high = np.full(n_out, np.inf), np.full(n_out, -np.inf)
        self.peak = np.zeros(n_out)
        self.raw_sum, self.raw_sq, self.raw_n = np.zeros(n_in), np.zeros(n_in), 0

    def add(self, x: np.ndarray, raw: np.ndarray) -> None:
        """A block: montaged ``x (C_out, n)`` and its input channels ``raw (C_in, n)``."""
        if not x.shape[1]:
            return
        low, high = x.min(axis=1), x.max(axis=1)
        self.low, self.high = np.minimum(self.low, low), np.maximum(self.high, high)
        self.peak = np.maximum(self.peak, np.maximum(-low, high))  # max |x|
        # float64 sums without a float64 copy of the block (this runs beside the model)
        self.raw_sum += raw.sum(axis=1, dtype=np.float64)
        self.raw_sq += np.einsum("ij,ij->i", raw, raw, dtype=np.float64)
        self.raw_n += raw.shape[1]

    def flat_outputs(self) -> np.ndarray:
        """``(C_out,)`` bool: constant montaged channels (as ``pipeline.flat_rows``)."""
        return (self.high - self.low) <= 1e-6 * self.peak

    def input_rms(self) -> np.ndarray:
        """``(C_in,)`` standard deviation of each input channel (µV; inf before any block:
        nothing is called flat)."""
        if self.raw_n == 0:
            return np.full(len(self.raw_sum), np.inf)
        mean = self.raw_sum / self.raw_n
        return np.sqrt(np.maximum(self.raw_sq / self.raw_n - mean**2, 0.0))


class LazySignal:
    """A read-only ``(C, T)`` float32 array-like whose column slices are computed on demand.

    ``signal[:, a:b]`` (or ``signal[rows, a:b]``) calls ``read(a, b)``; ``np.asarray(signal)``
    computes everything (``T`` samples of every channel in memory).
    """

    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, read: Callable[[int, int], np.ndarray], shape: tuple[int, int]) -> None:
        self._read = read
        self.shape = shape

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        if not isinstance(cols, slice) or cols.step not in (None, 1):
            raise TypeError("LazySignal supports [rows, start:stop] slicing only")
        start, stop, _ = cols.indices(self.shape[1])
        return self._read(start, stop)[rows]

    def __array__(self, dtype=None, copy=None):
        out = self._read(0, self.shape[1])
        return out if dtype is None else out.astype(dtype)
