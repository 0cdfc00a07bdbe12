"""Training examples for the seizure detector from a small set of real recordings.

The real data available for development is small: about 2 h of seizure-free EEG of many subjects
(eegmat, eegmmidb) and a handful of 10-s clips of one patient's seizures and of the 10 s before
them (CHB-MIT chb01). :class:`ExampleSampler` turns it into an endless, seeded stream of
training batches:

- every recording is preprocessed once, without normalisation (montage, resampling, band-pass and
  notch: :class:`Segment`, :func:`load_segments`);
- an example is a crop of ``L`` seconds (one ``L`` per batch) from one of
  - a seizure-free recording, with (probability ``p_synthetic``) a synthetic seizure superimposed
    (:func:`eegssm.data.ictal.add_seizure`), and sometimes a muscle burst or a short rhythmic
    run that is *not* a seizure;
  - a composition of one patient's clips joined with 0.5 s cross-fades (the pre-ictal clips,
    possibly with a synthetic seizure, or with one of the patient's ictal clips): the only
    negatives from the same recordings as the real seizures, so that the model cannot learn the
    dataset instead of the seizure; at ``L`` = 10 s an ictal clip is used alone, as a 10-s file
    would be read;
- the example is normalised exactly as :func:`eegssm.preprocessing.pipeline.preprocess` would:
  with ``scale_uv`` (``normalize="fixed"``) divided by it after a random gain (amplitude
  augmentation, ``gain``); else z-scored per channel with the statistics of the whole (modified)
  recording or, with probability ``p_own_stats``, of the crop alone (a short file is normalised
  on itself); clipped to ±``clip``;
- with probability ``p_drop`` up to ``max_drop`` channels are removed (missing or flat
  derivations: the detector's weights do not depend on the channel count).

Labels are per sample (1 inside a seizure). Batches depend only on ``(seed, epoch, index)``, so a
resumed run sees the same data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from eegssm.config.data import ExamplesConfig
from eegssm.data import ictal
from eegssm.io.types import Recording
from eegssm.preprocessing.filters import fixed_scale

#: Cross-fade between joined clips (s).
JOIN_S = 0.5


@dataclass
class Segment:
    """One preprocessed (not normalised) recording.

    Attributes:
        name: recording name; ``subject``: who; ``dataset``: ``"eegmat"``, ``"chbmit"``, ...
        data: ``(C, T)`` float32 µV after montage, resampling and filtering.
        labels: ``(T,)`` uint8, 1 inside a seizure.
        kind: ``"recording"`` (seizure-free, long), ``"ictal"`` or ``"preictal"`` (clips).
        group: clips of one patient share it (compositions only join clips of one group).
    """

    name: str
    subject: str
    dataset: str
    data: np.ndarray
    labels: np.ndarray
    sfreq: float
    ch_names: list[str]
    kind: str = "recording"
    group: str = ""

    @property
    def duration(self) -> float:
        return self.data.shape[1] / self.sfreq


def load_segments(recordings: Sequence[Recording], config, dataset: str) -> list[Segment]:
    """Preprocess ``recordings`` with ``config`` (a ``PreprocessConfig``) minus normalisation.

    ``meta["kind"]`` (``ictal`` / ``preictal``, CHB-MIT clips) and ``meta["subject"]`` are kept.
    """
    from eegssm.preprocessing.pipeline import preprocess

    raw_cfg = config.model_copy(update={"normalize": None, "clip": None})
    out = []
    for rec in recordings:
        clean = preprocess(rec, raw_cfg)
        labels = np.zeros(clean.n_times, dtype=np.uint8)
        for e in rec.events:
            labels[int(round(e.start * clean.sfreq)) : int(round(e.stop * clean.sfreq))] = 1
        kind = rec.meta.get("kind", "recording")
        out.append(
            Segment(
                name=str(rec.meta.get("seizure", rec.meta.get("name", "")) or rec.meta["source"]),
                subject=str(rec.meta.get("subject") or ""),
                dataset=dataset,
                data=np.ascontiguousarray(clean.data, dtype=np.float32),
                labels=labels,
                sfreq=float(clean.sfreq),
                ch_names=list(clean.ch_names),
                kind=kind,
                group=str(rec.meta.get("subject") or "") if kind != "recording" else "",
            )
        )
    return out


def zscore_like_preprocess(
    data: np.ndarray, stats_from: np.ndarray, clip: float | None = 10.0
) -> np.ndarray:
    """``data`` z-scored per channel with the statistics of ``stats_from`` (both ``(C, ·)``),
    as :func:`eegssm.preprocessing.filters.zscore` does for a whole recording."""
    from eegssm.preprocessing.filters import standardize

    mean = stats_from.mean(axis=-1, keepdims=True, dtype=np.float64)
    std = stats_from.std(axis=-1, keepdims=True, dtype=np.float64)
    return standardize(data, mean, std, clip)


@dataclass
class Example:
    """One example before batching: ``x (C, L)`` normalised, ``y (L,)`` float32 labels."""

    x: np.ndarray
    y: np.ndarray
    info: dict = field(default_factory=dict)


class ExampleSampler:
    """Seeded training batches from :class:`Segment` s (see the module docstring).

    Args:
        segments: training segments (all with the same channels and rate).
        sos: the preprocessing filter, applied to synthetic signals (see ``ictal.add_seizure``).
        bonn: Bonn set S segments at the segments' rate (``ictal.bonn_at``), or None.
        config: an :class:`~eegssm.config.data.ExamplesConfig` (defaults when None).
        batch_size, steps_per_epoch, seed: batches per epoch and their seeding.
        scale_uv: normalise as ``PreprocessConfig(normalize="fixed", scale_uv=...)`` does
            (``x / scale_uv``, each example scaled by a random gain from ``config.gain``); None:
            z-score as ``normalize="zscore"`` does.
    """

    def __init__(
        self,
        segments: Sequence[Segment],
        sos: np.ndarray | None,
        bonn: np.ndarray | None = None,
        config: ExamplesConfig | None = None,
        batch_size: int = 12,
        steps_per_epoch: int = 100,
        seed: int = 0,
        scale_uv: float | None = None,
    ) -> None:
        self.cfg = config or ExamplesConfig()
        self.scale_uv = scale_uv
        self.recordings = [s for s in segments if s.kind == "recording"]
        self.ictal = [s for s in segments if s.kind == "ictal"]
        self.preictal = [s for s in segments if s.kind == "preictal"]
        if not self.recordings:
            raise ValueError("no seizure-free recordings to sample from")
        first = segments[0]
        self.sfreq, self.ch_names = first.sfreq, list(first.ch_names)
        for s in segments:
            if s.ch_names != self.ch_names or s.sfreq != self.sfreq:
                raise ValueError(
                    f"{s.name}: channels/rate {s.ch_names}@{s.sfreq} differ from "
                    f"{self.ch_names}@{self.sfreq}"
                )
        self.sos, self.bonn = sos, bonn
        self.batch_size, self.steps_per_epoch, self.seed = batch_size, steps_per_epoch, seed
        self.epoch = 0
        self.batch_sampler = self  # the Trainer calls batch_sampler.set_epoch each epoch

    # -- the Trainer's view: an epoch of batches ---------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.steps_per_epoch

    def __iter__(self) -> Iterator[tuple]:
        for i in range(self.steps_per_epoch):
            yield self.batch(np.random.default_rng([self.seed, self.epoch, i]))

    # -- batches -----------------------------------------------------------------------------
    def batch(self, rng: np.random.Generator):
        """``(x (B, C', L) float32, y (B, L) float32, mask (B, L) bool)`` torch tensors."""
        import torch

        cfg = self.cfg
        weights = np.asarray(cfg.length_weights, dtype=float)
        length_s = float(rng.choice(cfg.lengths_s, p=weights / weights.sum()))
        n = int(round(length_s * self.sfreq))
        examples = [self.example(rng, n) for _ in range(self.batch_size)]
        x = np.stack([e.x for e in examples])
        y = np.stack([e.y for e in examples])
        if rng.random() < cfg.p_drop and cfg.max_drop > 0 and x.shape[1] > cfg.max_drop + 2:
            k = int(rng.integers(1, cfg.max_drop + 1))
            keep = np.stack([np.sort(rng.permutation(x.shape[1])[k:]) for _ in examples])
            x = np.take_along_axis(x, keep[:, :, None], axis=1)
        mask = np.ones(y.shape, dtype=bool)
        return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask)

    def example(self, rng: np.random.Generator, n: int) -> Example:
        """One example of ``n`` samples (the mixture of ``ExamplesConfig``)."""
        cfg = self.cfg
        u = rng.random()
        if self.ictal and u < cfg.p_real_ictal:
            return self._clip_example(rng, n, ictal_clip=True)
        if self.preictal and u < cfg.p_real_ictal + cfg.p_clip_background:
            return self._clip_example(rng, n, ictal_clip=False)
        return self._recording_example(rng, n)

    def _recording_example(self, rng: np.random.Generator, n: int) -> Example:
        cfg = self.cfg
        fits = [s for s in self.recordings if s.data.shape[1] >= n]
        seg = fits[rng.integers(len(fits))] if fits else max(self.recordings, key=len_of)
        data = seg.data.copy()
        labels = seg.labels.astype(np.float32)
        total = data.shape[1]
        info: dict = {"source": seg.name}
        start = int(rng.integers(0, max(1, total - n + 1)))
        self._background(rng, data)
        if rng.random() < cfg.p_synthetic:
            dur = int(rng.uniform(*cfg.seizure_s) * self.sfreq)
            dur = min(dur, total - int(1.0 * self.sfreq))
            onset = int(rng.integers(0, max(1, total - dur)))
            info.update(ictal.add_seizure(
                rng, data, self.ch_names, self.sfreq, onset, dur, self.sos, self.bonn, cfg.snr,
            ))  # fmt: skip
            labels[onset : onset + dur] = 1.0
            start = self._crop_start(rng, n, total, onset, dur)
        self._artefacts(rng, data)
        return self._finish(rng, data, labels, start, n, info)

    def _clip_example(self, rng: np.random.Generator, n: int, ictal_clip: bool) -> Example:
        """A composition of one patient's clips (``n`` samples)."""
        cfg = self.cfg
        if ictal_clip:
            target = self.ictal[rng.integers(len(self.ictal))]
            pool = [s for s in self.preictal if s.group == target.group] or self.preictal
        else:
            pool = self.preictal
            target = None
        pieces: list[Segment] = []
        ictal_at = 0
        if target is not None and n <= target.data.shape[1]:
            pieces = [target]
        else:
            length, k_ictal = 0, -1
            want = n + (target.data.shape[1] if target is not None else 0)
            while length < want:
                pieces.append(pool[rng.integers(len(pool))])
                length += pieces[-1].data.shape[1]
            if target is not None:
                k_ictal = int(rng.integers(0, len(pieces) + 1))
                pieces.insert(k_ictal, target)
            ictal_at = k_ictal
        data, labels, starts = join(pieces, int(JOIN_S * self.sfreq))
        info = {"source": "+".join(p.name for p in pieces)}
        if target is None:
            self._background(rng, data)
        total = data.shape[1]
        if target is not None:
            a = starts[ictal_at]
            start = self._crop_start(rng, n, total, a, target.data.shape[1])
        else:
            start = int(rng.integers(0, max(1, total - n + 1)))
            if rng.random() < 0.5:
                dur = min(int(rng.uniform(*cfg.seizure_s) * self.sfreq), total)
                onset = int(rng.integers(0, max(1, total - dur + 1)))
                info.update(ictal.add_seizure(
                    rng, data, self.ch_names, self.sfreq, onset, dur, self.sos, self.bonn,
                    cfg.snr,
                ))  # fmt: skip
                labels[onset : onset + dur] = 1.0
                start = self._crop_start(rng, n, total, onset, dur)
        self._artefacts(rng, data)
        # a composition is a recording of its own: normalised on what the crop holds
        data, labels = data[:, start : start + n], labels[start : start + n]
        return self._finish(rng, data, labels, 0, n, info, own_stats=True)

    def _crop_start(self, rng: np.random.Generator, n: int, total: int, onset: int, dur: int):
        """Crop start holding the seizure ``[onset, onset + dur)``: near the onset with
        probability ``p_onset``, else anywhere overlapping at least 2 s of it."""
        cfg = self.cfg
        if rng.random() < cfg.p_onset:
            lead = int(rng.uniform(-1.0, cfg.onset_s) * self.sfreq)
            start = onset - max(lead, 0) if lead >= 0 else onset + min(-lead, max(dur - 1, 0))
        else:
            overlap = min(int(2.0 * self.sfreq), dur, n)
            lo, hi = onset + overlap - n, onset + dur - overlap
            start = int(rng.integers(min(lo, hi), max(lo, hi) + 1))
        return int(np.clip(start, 0, max(0, total - n)))

    def _background(self, rng: np.random.Generator, data: np.ndarray) -> None:
        """A steady rhythm through the whole recording, sometimes (not a seizure)."""
        if rng.random() < self.cfg.p_background_rhythm:
            ictal.background_rhythm(rng, data, self.ch_names, self.sfreq, self.sos)

    def _artefacts(self, rng: np.random.Generator, data: np.ndarray) -> None:
        cfg, total = self.cfg, data.shape[1]
        if rng.random() < cfg.p_muscle_artifact:
            ictal.muscle_burst(rng, data, self.ch_names, self.sfreq, int(rng.integers(total)))
        if rng.random() < cfg.p_rhythmic_run:
            ictal.rhythmic_burst(
                rng, data, self.ch_names, self.sfreq, int(rng.integers(total)), self.sos
            )

    def _finish(
        self,
        rng: np.random.Generator,
        data: np.ndarray,
        labels: np.ndarray,
        start: int,
        n: int,
        info: dict,
        own_stats: bool = False,
    ) -> Example:
        own = own_stats or rng.random() < self.cfg.p_own_stats
        crop = data[:, start : start + n]
        if self.scale_uv is not None:
            lo, hi = np.log(self.cfg.gain)
            gain = float(np.exp(rng.uniform(lo, hi)))
            x = fixed_scale(crop, self.scale_uv / gain, self.cfg.clip)
        else:
            x = zscore_like_preprocess(crop, crop if own else data, self.cfg.clip)
        y = labels[start : start + n].astype(np.float32)
        if x.shape[1] < n:  # a recording shorter than the crop: zero padding, label 0
            x = np.pad(x, ((0, 0), (0, n - x.shape[1])))
            y = np.pad(y, (0, n - y.shape[0]))
        return Example(np.ascontiguousarray(x, dtype=np.float32), y, info)


def len_of(segment: Segment) -> int:
    return segment.data.shape[1]


def join(pieces: Sequence[Segment], fade: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Concatenate segments with linear cross-fades of ``fade`` samples.

    Returns ``(data (C, T), labels (T,) float32, starts)``; ``starts[i]`` is where piece ``i``'s
    own samples begin (after the fade into it). Labels of a fade are those of the later piece.
    """
    data = pieces[0].data.astype(np.float32, copy=True)
    labels = pieces[0].labels.astype(np.float32)
    starts = [0]
    for p in pieces[1:]:
        f = min(fade, data.shape[1], p.data.shape[1])
        ramp = np.linspace(0.0, 1.0, f, dtype=np.float32)
        mixed = data[:, data.shape[1] - f :] * (1 - ramp) + p.data[:, :f] * ramp
        starts.append(data.shape[1] - f)
        data = np.concatenate([data[:, : data.shape[1] - f], mixed, p.data[:, f:]], axis=1)
        labels = np.concatenate([labels[: labels.shape[0] - f], p.labels.astype(np.float32)])
    return data, labels, starts
