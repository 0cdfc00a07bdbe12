"""What the review page shows, prepared in Python: display montages, the display signal, which
stretches of it are stored, and their compact encoding.

The page (:mod:`eegssm.report.html`) draws the EEG in the browser from data embedded in the file:

- **channels** (:func:`plan_channels`): the electrodes and stored derivations that the clinical
  montages need: the longitudinal bipolar double banana (:data:`DOUBLE_BANANA`) and the
  referential montage in the standard order (:data:`REFERENTIAL_ORDER`), plus an average
  reference. Derivations are computed in the browser from the stored channels (a referential
  recording stores 19 signals for all three montages); a recording stored bipolar (CHB-MIT)
  stores the derivations it has, and offers no referential montage. A recording with neither
  is shown as recorded (at most :data:`MAX_AS_RECORDED` channels).
- **signal** (:func:`render_span`): resampled to :data:`DISPLAY_SFREQ` (the native rate if lower;
  ~1 sample per screen pixel of a 10 s page), then the display filters (zero-phase: high-pass
  :data:`LFF_HZ`, low-pass :data:`HFF_HZ`, notches at :data:`NOTCH_HZ`). Stretches are computed
  with :data:`PAD_S` of real signal either side, so pages join without seams: the result equals
  processing the whole record at once (tested).
- **quantisation and encoding** (:func:`encode_int16`): int16 steps of :data:`LSB_UV` µV, per
  channel first differences (wrapping), zlib, base64; one string per :data:`BLOCK_S` block. The
  browser inflates a block when a page needs it (``DecompressionStream``). Measured size:
  ``docs/benchmarks/report_size.md``.
- **cap** (:func:`choose_blocks`): at most ``max_eeg_hours`` of EEG (for 19 channels; scaled by
  19 / channels) are stored; a longer record keeps the blocks within :data:`CONTEXT_S` of events
  first, then the earliest ones, and says so on the page.
- **probability** (:func:`max_pool`): max-pooled to :data:`PROB_RATE` bins so that short peaks
  stay visible, stored as uint8.
"""

from __future__ import annotations

import base64
import math
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from eegssm.preprocessing import filters
from eegssm.preprocessing.channels import normalize_channel_names, normalize_name

#: Display rate (Hz): about one sample per screen pixel on a 10 s page.
DISPLAY_SFREQ = 128.0
#: Quantisation step of µV signals: 0.1 mm at the most sensitive setting (5 µV/mm).
LSB_UV = 0.5
#: Quantisation step of normalised (z-scored) signals, in standard deviations.
LSB_Z = 0.002
#: Display high-pass (low-frequency filter, LFF), Hz.
LFF_HZ = 0.5
#: Display low-pass (high-frequency filter, HFF), Hz; at most 0.4 x the display rate.
HFF_HZ = 50.0
#: Display notches (both mains frequencies; those above Nyquist are skipped), Hz.
NOTCH_HZ = (50.0, 60.0)
#: Stored block length (s); a page needs one or two blocks.
BLOCK_S = 60.0
#: Real signal either side of a computed stretch (s): the filters settle well within it.
PAD_S = 10.0
#: Blocks computed per read of the source (memory: 10 min of the source's channels).
CHUNK_BLOCKS = 10
#: Default cap on the stored EEG, hours of 19 channels.
MAX_EEG_HOURS = 4.0
#: Blocks within this many seconds of an event are stored first when the cap applies.
CONTEXT_S = 60.0
#: Probability bins per second (max-pooled).
PROB_RATE = 10.0
#: Most channels shown "as recorded" when no clinical montage can be built.
MAX_AS_RECORDED = 32

#: Longitudinal bipolar montage ("double banana"), standard order: left temporal, right temporal,
#: left parasagittal, right parasagittal chains, then the midline.
DOUBLE_BANANA: tuple[tuple[str, str], ...] = (
    ("Fp1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1"),
    ("Fp2", "F8"), ("F8", "T4"), ("T4", "T6"), ("T6", "O2"),
    ("Fp1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1"),
    ("Fp2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2"),
    ("Fz", "Cz"), ("Cz", "Pz"),
)  # fmt: skip
#: Chain of each double-banana row (a gap is drawn between chains).
DOUBLE_BANANA_GROUPS: tuple[int, ...] = (0,) * 4 + (1,) * 4 + (2,) * 4 + (3,) * 4 + (4,) * 2
#: Referential montage, standard order (front to back, left to right).
REFERENTIAL_ORDER: tuple[str, ...] = (
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz", "C4", "T4",
    "T5", "P3", "Pz", "P4", "T6", "O1", "O2",
)  # fmt: skip
#: Row of each referential electrode (a gap is drawn between rows of the head).
REFERENTIAL_GROUPS: tuple[int, ...] = (0,) * 2 + (1,) * 5 + (2,) * 5 + (3,) * 5 + (4,) * 2


@dataclass
class ChannelPlan:
    """Which source channels are stored and how the montages combine them.

    Attributes:
        picks: indices of the stored channels in the source.
        names: their display names.
        montages: ``{"key", "name", "title", "rows": [{"label", "terms": [[stored index,
            weight], ...], "group"}], "missing": [labels]}`` per montage offered, default first.
    """

    picks: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    montages: list[dict] = field(default_factory=list)

    def _slot(self, source_index: int, name: str) -> int:
        if source_index not in self.picks:
            self.picks.append(source_index)
            self.names.append(name)
        return self.picks.index(source_index)


def plan_channels(ch_names: Sequence[str]) -> ChannelPlan:
    """The display montages that the recording's channels allow (see the module docstring).

    Channel labels are matched after normalisation (``EEG FP1-REF`` is Fp1, T7 is T3); labels
    keep the recording's spelling of the temporal electrodes (T7 stays T7).
    """
    with warnings.catch_warnings():  # duplicates (CHB-MIT's two T8-P8) are fine here
        warnings.simplefilter("ignore", UserWarning)
        canonical = normalize_channel_names(ch_names).names
    index = {n: i for i, n in enumerate(canonical)}
    # the recording's own spelling of each electrode (T7 rather than T3 where it says T7)
    spelling = {}
    for raw, name in zip(ch_names, canonical):
        own = normalize_name(raw, aliases=False)
        spelling[name] = own if own.count("-") == name.count("-") else name
    plan = ChannelPlan()

    ref_rows = []
    for e, group in zip(REFERENTIAL_ORDER, REFERENTIAL_GROUPS):
        if e in index:
            slot = plan._slot(index[e], spelling[e])
            ref_rows.append({"label": spelling[e], "terms": [[slot, 1.0]], "group": group})
    ref_missing = [e for e in REFERENTIAL_ORDER if e not in index]

    db_rows, db_missing = [], []
    for (a, c), group in zip(DOUBLE_BANANA, DOUBLE_BANANA_GROUPS):
        if a in index and c in index:
            terms = [
                [plan._slot(index[a], spelling[a]), 1.0],
                [plan._slot(index[c], spelling[c]), -1.0],
            ]
            label = f"{spelling[a]}-{spelling[c]}"
        elif f"{a}-{c}" in index:
            name = f"{a}-{c}"
            terms = [[plan._slot(index[name], spelling[name]), 1.0]]
            label = spelling[name]
        elif f"{c}-{a}" in index:
            name = f"{c}-{a}"
            terms = [[plan._slot(index[name], spelling[name]), -1.0]]
            own_c, own_a = spelling[name].split("-")
            label = f"{own_a}-{own_c}"
        else:
            db_missing.append(f"{a}-{c}")
            continue
        db_rows.append({"label": label, "terms": terms, "group": group})

    if db_rows:
        plan.montages.append(
            {"key": "db", "name": "Double banana", "rows": db_rows,
             "title": "longitudinal bipolar (double banana), 18 derivations in standard order",
             "missing": db_missing}
        )  # fmt: skip
    if ref_rows:
        plan.montages.append(
            {"key": "ref", "name": "Referential", "rows": ref_rows,
             "title": "each electrode against the recording's own reference, standard order",
             "missing": ref_missing}
        )  # fmt: skip
    if len(ref_rows) >= 3:
        n = len(ref_rows)
        slots = [row["terms"][0][0] for row in ref_rows]
        avg_rows = [
            {
                "label": f"{row['label']}-Avg",
                "terms": [[s, (1.0 if s == own else 0.0) - 1.0 / n] for s in slots],
                "group": row["group"],
            }
            for row, own in zip(ref_rows, slots)
        ]
        plan.montages.append(
            {"key": "avg", "name": "Average reference", "rows": avg_rows,
             "title": f"each electrode minus the mean of the {n} electrodes shown",
             "missing": ref_missing}
        )  # fmt: skip
    if not plan.montages:
        rows = []
        for i, raw in enumerate(list(ch_names)[:MAX_AS_RECORDED]):
            label = normalize_name(raw, aliases=False)
            rows.append({"label": label, "terms": [[plan._slot(i, label), 1.0]], "group": 0})
        plan.montages.append(
            {"key": "raw", "name": "As recorded", "rows": rows,
             "title": "the recording's channels in file order (no 10-20 montage possible)",
             "missing": [str(n) for n in list(ch_names)[MAX_AS_RECORDED:]]}
        )  # fmt: skip
    return plan


@dataclass(frozen=True)
class DisplayRate:
    """The display rate reached from a source rate: ``sfreq_in * up / down`` Hz."""

    sfreq_in: float
    up: int
    down: int

    @property
    def sfreq(self) -> float:
        return self.sfreq_in * self.up / self.down

    def n_out(self, n_in: int) -> int:
        """Display samples of ``n_in`` source samples (as ``resample_poly`` returns)."""
        return -(-n_in * self.up // self.down)


def display_rate(sfreq: float) -> DisplayRate:
    """:data:`DISPLAY_SFREQ` (or the source rate when lower) as a rational resampling."""
    if sfreq <= DISPLAY_SFREQ:
        return DisplayRate(float(sfreq), 1, 1)
    factor = filters.resample_factors(sfreq, DISPLAY_SFREQ)
    return DisplayRate(float(sfreq), factor.numerator, factor.denominator)


def display_sos(sfreq: float) -> np.ndarray:
    """The display filters at the display rate: band-pass then notches (``(S, 6)``)."""
    hff = min(HFF_HZ, 0.4 * sfreq)
    parts = [filters.bandpass_sos(sfreq, LFF_HZ, hff)]
    parts += [filters.notch_sos(sfreq, f) for f in NOTCH_HZ]
    return np.vstack([p for p in parts if len(p)])


def filter_description(sfreq: float) -> str:
    """The display filters in words, for the page."""
    notches = [f for f in NOTCH_HZ if filters.notch_frequencies(sfreq, f)]
    notch = " + ".join(f"{f:g}" for f in notches)
    return (
        f"high-pass {LFF_HZ:g} Hz, low-pass {min(HFF_HZ, 0.4 * sfreq):g} Hz"
        + (f", notch {notch} Hz" if notch else "")
        + " (zero-phase Butterworth)"
    )


def _filter(y: np.ndarray, sos: np.ndarray) -> np.ndarray:
    n = y.shape[-1]
    if n < 2 or not len(sos):
        return y
    padlen = min(3 * (2 * len(sos) + 1), n - 1)
    return signal.sosfiltfilt(sos, y, axis=-1, padlen=padlen).astype(np.float32)


def render_span(
    read: Callable[[int, int], np.ndarray],
    n_times: int,
    rate: DisplayRate,
    j0: int,
    j1: int,
    sos: np.ndarray | None = None,
) -> np.ndarray:
    """Display samples ``[j0, j1)`` of a source, computed from a padded stretch of it.

    Args:
        read: ``read(a, b)`` gives source samples ``[a, b)`` as ``(C, b - a)`` (µV).
        n_times: source samples per channel.
        rate: from :func:`display_rate`.
        j0, j1: display sample range, ``0 <= j0 < j1 <= rate.n_out(n_times)``.
        sos: the display filters (default :func:`display_sos` at ``rate.sfreq``).

    Returns:
        float32 ``(C, j1 - j0)``: equal (to float round-off) to resampling and filtering the whole
        record and slicing; the stretch read starts at a multiple of ``rate.down`` so that the
        resampled grid is the whole record's.
    """
    sos = display_sos(rate.sfreq) if sos is None else sos
    pad = int(math.ceil(PAD_S * rate.sfreq_in))
    first = j0 * rate.down // rate.up  # source sample at or before display sample j0
    n0 = max(0, (first - pad) // rate.down * rate.down)
    n1 = min(n_times, -(-j1 * rate.down // rate.up) + pad + rate.down)
    x = np.asarray(read(n0, n1), dtype=np.float32)
    y = x if rate.up == rate.down else signal.resample_poly(x, rate.up, rate.down, axis=-1)
    y = _filter(np.asarray(y, dtype=np.float32), sos)
    o0 = n0 * rate.up // rate.down
    return y[:, j0 - o0 : j1 - o0]


def quantise(x: np.ndarray, lsb: float) -> np.ndarray:
    """``round(x / lsb)`` as int16, saturating at the int16 range (NaN → 0)."""
    q = np.round(np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0) / lsb)
    return np.clip(q, -32768, 32767).astype(np.int16)


def encode_int16(q: np.ndarray) -> str:
    """``(C, n)`` int16 → base64 of zlib of the per-row first differences (wrapping, little-endian).

    The browser inverts it: inflate, then a running sum per row in 16-bit arithmetic.
    """
    q = np.ascontiguousarray(q, dtype=np.int16)
    d = np.diff(q, axis=-1, prepend=np.zeros((q.shape[0], 1), np.int16))  # wraps in int16
    return base64.b64encode(zlib.compress(d.astype("<i2").tobytes(), 6)).decode("ascii")


def decode_int16(text: str, n_channels: int) -> np.ndarray:
    """Inverse of :func:`encode_int16` (what the page's JavaScript does), ``(C, n)`` int16."""
    d = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype="<i2")
    return np.cumsum(d.reshape(n_channels, -1), axis=-1, dtype=np.int16)


def encode_bytes(values: np.ndarray) -> str:
    """uint8 array → base64 of zlib."""
    return base64.b64encode(zlib.compress(np.asarray(values, np.uint8).tobytes(), 9)).decode()


def max_pool(x: np.ndarray, sfreq: float, rate: float = PROB_RATE) -> tuple[np.ndarray, float]:
    """Maximum of ``x`` (``(T,)`` at ``sfreq`` Hz) per bin of ``1 / rate`` s.

    Returns ``(peaks, rate)``: bin ``k`` covers ``[k / rate, (k + 1) / rate)`` s (samples
    ``floor(k * sfreq / rate)`` onwards); ``rate`` is lowered to ``sfreq`` when that is lower.
    NaN counts as 0.
    """
    x = np.nan_to_num(np.asarray(x, dtype=np.float32).ravel(), nan=0.0)
    rate = min(float(rate), float(sfreq))
    if x.size == 0:
        return x, rate
    n_bins = int(math.ceil(x.size * rate / sfreq - 1e-9))
    starts = np.floor(np.arange(n_bins) * sfreq / rate + 1e-9).astype(np.int64)
    starts = starts[starts < x.size]
    return np.maximum.reduceat(x, starts), rate


def choose_blocks(
    duration_s: float,
    n_channels: int,
    events: Sequence[tuple[float, float]],
    max_eeg_hours: float = MAX_EEG_HOURS,
    block_s: float = BLOCK_S,
) -> list[int]:
    """Indices of the :data:`BLOCK_S` blocks to store, ascending.

    Every block when the record fits in ``max_eeg_hours`` (hours of 19 channels: the budget is
    scaled by ``19 / n_channels``); otherwise blocks within :data:`CONTEXT_S` of each event, in
    the order given (so pass the most important first), onset block first, then the earliest
    blocks, until the budget is spent.
    """
    n_blocks = max(1, int(math.ceil(duration_s / block_s - 1e-9)))
    budget = int(max_eeg_hours * 3600.0 * 19.0 / max(n_channels, 1) / block_s)
    if n_blocks <= budget:
        return list(range(n_blocks))
    chosen: dict[int, None] = {}
    for start, stop in events:
        onset = int(min(max(start, 0.0), duration_s) // block_s)
        lo = max(0, int((start - CONTEXT_S) // block_s))
        hi = min(n_blocks - 1, int((stop + CONTEXT_S) // block_s))
        for k in sorted(range(lo, hi + 1), key=lambda k: (abs(k - onset), k)):
            if len(chosen) >= budget:
                break
            chosen.setdefault(k)
    for k in range(n_blocks):
        if len(chosen) >= budget:
            break
        chosen.setdefault(k)
    return sorted(chosen)


def stored_spans(blocks: Sequence[int], duration_s: float, block_s: float = BLOCK_S) -> list:
    """Contiguous stored stretches ``[[start_s, stop_s], ...]`` of sorted block indices."""
    spans: list[list[float]] = []
    for k in blocks:
        a, b = k * block_s, min((k + 1) * block_s, duration_s)
        if spans and abs(spans[-1][1] - a) < 1e-9:
            spans[-1][1] = b
        else:
            spans.append([a, b])
    return spans


def runs(blocks: Sequence[int], longest: int = CHUNK_BLOCKS) -> list[tuple[int, int]]:
    """Sorted block indices as ``[first, last + 1)`` runs of at most ``longest`` blocks."""
    out: list[tuple[int, int]] = []
    for k in blocks:
        if out and out[-1][1] == k and out[-1][1] - out[-1][0] < longest:
            out[-1] = (out[-1][0], k + 1)
        else:
            out.append((k, k + 1))
    return out
