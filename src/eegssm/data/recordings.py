"""Whole recordings: one cached recording's arrays by name, and labelled recordings for evaluation.

:class:`CachedRecording` is one recording of a cache built by :func:`eegssm.data.build_cache`:
its manifest entry plus its continuous signal and per-sample labels, memory-mapped on first use
(once per process: DataLoader workers open their own maps). Read any stretch normalised (what
the model sees, bit for bit what ``eegssm detect`` feeds it) or in µV::

    rec = cached_recording("cache/tusz", "aaaaaajy_s001_t000")   # key, relpath or file stem
    x = rec.read(0, 256 * 60)                # (C, 15360) float32, normalised
    uv = rec.signal(normalized=False)        # (C, T) float32 µV, whole recording
    y = rec.labels                           # (T,) uint8 memory map, 1 = seizure

:class:`EvalRecording` is one preprocessed recording with per-sample seizure labels, what
training's dev evaluation and ``eegssm evaluate`` score. It comes from the cache
(:func:`recordings_from_cache`) or from an EDF file with its annotations
(:func:`reference_seizures`, then :func:`eegssm.preprocessing.windowing.sample_labels`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eegssm.data.manifest import Manifest, gap_samples
from eegssm.io.types import Event


@dataclass
class EvalRecording:
    """One whole preprocessed recording: ``data (C, T)``, ``labels (T,)`` uint8, at ``sfreq``."""

    name: str
    subject: str
    data: np.ndarray
    labels: np.ndarray
    sfreq: float

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.labels.shape[0] / self.sfreq


class CachedRecording:
    """One recording of a cache (module docstring): ``entry`` fields plus its arrays.

    Args:
        root: the cache folder.
        entry: the recording's ``ok`` manifest entry.

    Attributes:
        entry: the manifest entry (see :mod:`eegssm.data.manifest`).
        name: the relative path in the corpus; ``key``, ``subject``, ``sfreq`` (Hz),
            ``ch_names``, ``n_times`` (samples at ``sfreq``) as in the entry.
        normalization: :class:`~eegssm.preprocessing.filters.Normalization` or None.
        offset: ``(C,)`` float32 subtracted from the µV signal before storage.
    """

    def __init__(self, root: str | Path, entry: dict[str, Any]) -> None:
        from eegssm.preprocessing.filters import Normalization

        self.root = Path(root)
        self.entry = entry
        self.name: str = entry["relpath"]
        self.key: str = entry["key"]
        self.subject: str = entry["subject"]
        self.sfreq = float(entry["sfreq"])
        self.ch_names: list[str] = list(entry["ch_names"])
        self.n_times = int(entry["n_times"])
        norm = entry.get("normalization")
        self.normalization = None if norm is None else Normalization.from_dict(norm)
        self.offset = np.asarray(entry["offset"], dtype=np.float32)
        self._centred = self.normalization is not None and np.array_equal(
            self.offset, self.normalization.center
        )
        self._gaps = gap_samples(entry)
        self._maps: tuple[np.ndarray, np.ndarray] | None = None
        self._pid = os.getpid()

    @property
    def n_channels(self) -> int:
        return len(self.ch_names)

    @property
    def duration(self) -> float:
        """Length in seconds (of the preprocessed signal)."""
        return self.n_times / self.sfreq

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pid != os.getpid():  # forked into a worker: do not share the parent's maps
            self._maps, self._pid = None, os.getpid()
        if self._maps is None:
            files = self.entry["files"]
            self._maps = (
                np.load(self.root / files["signal"], mmap_mode="r"),
                np.load(self.root / files["labels"], mmap_mode="r"),
            )
        return self._maps

    @property
    def stored(self) -> np.ndarray:
        """``(C, T)`` read-only memory map of the stored signal (``x − offset``, storage dtype)."""
        return self._arrays()[0]

    @property
    def labels(self) -> np.ndarray:
        """``(T,)`` uint8 read-only memory map: 1 where a seizure event covers the sample."""
        return self._arrays()[1]

    def read(self, start: int = 0, stop: int | None = None, normalized: bool = True) -> np.ndarray:
        """Samples ``[start, stop)`` (clipped to the recording) as a new ``(C, n)`` float32 array:
        normalised (the model's input) or, with ``normalized=False``, in µV (exact for float32
        storage up to one rounding of the offset)."""
        stop = self.n_times if stop is None else min(int(stop), self.n_times)
        start = max(0, min(int(start), stop))
        x = self.stored[:, start:stop]
        if normalized and self.normalization is not None:
            if self._centred:
                return self.normalization.apply(x, centered=True)
            return self.normalization.apply(np.asarray(x, np.float32) + self.offset[:, None])
        out = np.array(x, dtype=np.float32)
        out += self.offset[:, None]
        return out

    def signal(self, normalized: bool = True) -> np.ndarray:
        """The whole recording, ``(C, T)`` float32 in memory (see :meth:`read`)."""
        return self.read(0, self.n_times, normalized)

    def valid(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """``(n,)`` bool for samples ``[start, stop)``: False inside zero-filled gaps."""
        stop = self.n_times if stop is None else min(int(stop), self.n_times)
        start = max(0, min(int(start), stop))
        out = np.ones(stop - start, dtype=bool)
        for a, b in self._gaps.tolist():
            out[max(a - start, 0) : max(min(b, stop) - start, 0)] = False
        return out

    @property
    def events(self) -> list[Event]:
        """Every annotated event (seconds), as stored in the manifest."""
        return [
            Event(e["start"], e["stop"], e["label"], e["channel"]) for e in self.entry["events"]
        ]

    def eval_recording(self, normalized: bool = True) -> EvalRecording:
        """The whole recording and its labels in memory, for scoring."""
        return EvalRecording(
            self.name, self.subject, self.signal(normalized), np.array(self.labels), self.sfreq
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_maps"] = None  # memory maps are reopened in the receiving process
        return state

    def __repr__(self) -> str:
        return (
            f"CachedRecording({self.name!r}, subject={self.subject!r}, "
            f"{self.n_channels} ch, {self.duration:.1f} s at {self.sfreq:g} Hz)"
        )


def cached_recording(cache_dir: str | Path | Manifest, name: str) -> CachedRecording:
    """One recording of a cache by ``key``, ``relpath`` or (unique) file name or stem.

    Raises:
        FileNotFoundError: no cache manifest in ``cache_dir``.
        KeyError: no such recording (or an ambiguous name, or one that failed to cache).
    """
    manifest = cache_dir if isinstance(cache_dir, Manifest) else Manifest.load(cache_dir)
    return CachedRecording(manifest.root, manifest.find(name))


def cached_recordings(
    cache_dir: str | Path | Manifest,
    split: str | None = None,
    subjects: Sequence[str] | set[str] | None = None,
) -> list[CachedRecording]:
    """The recordings of a cache, of one split and/or set of subjects (sorted by relpath)."""
    manifest = cache_dir if isinstance(cache_dir, Manifest) else Manifest.load(cache_dir)
    return [CachedRecording(manifest.root, e) for e in manifest.select(split, subjects)]


def recordings_from_cache(
    source: Any, max_recordings: int | None = None, normalized: bool = True
) -> list[EvalRecording]:
    """Whole labelled recordings in memory, from a list of :class:`CachedRecording` or a
    dataset holding them (``.recordings``, e.g. :class:`~eegssm.data.WindowDataset`)."""
    recordings = getattr(source, "recordings", source)
    return [r.eval_recording(normalized) for r in list(recordings)[:max_recordings]]


def reference_seizures(
    path: str | Path, recording, label_map: dict[str, str] | None = None
) -> list[Event] | None:
    """Seizure annotations of an EEG file: beside it (csv_bi, events.tsv, CHB-MIT / Siena lists)
    or in the EDF+ itself (``recording.events``); None when there are none at all. Unknown labels
    in csv_bi / events.tsv are errors naming the file and line unless ``label_map`` maps them."""
    from eegssm.data.discovery import sidecar_annotations
    from eegssm.io.annotations import is_seizure

    found = sidecar_annotations(Path(path), label_map)
    events = list(found.events) + list(recording.events)
    if not found.sources and not recording.events:
        return None
    return [e for e in events if is_seizure(e.label)]
