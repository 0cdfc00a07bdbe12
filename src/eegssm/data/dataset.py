"""torch Datasets of windows: the one way both products read training and evaluation windows.

:class:`WindowDataset` cuts windows from a cache built by :func:`eegssm.data.cache.build_cache`
when they are read, so any window length and stride works without rebuilding. An index of
``(recording, first sample)`` pairs maps a global index to a window; each item is read from the
recording's memory-mapped continuous signal (opened lazily, once per process: DataLoader
workers open their own maps, nothing is opened in ``__init__``) and normalised on the fly, bit
for bit what ``eegssm detect`` feeds the model. Two kinds of target:

- ``target="samples"`` (seizure detection): items ``(x, y, mask)`` with per-sample labels and a
  validity mask; ``classes`` (none / partial / full seizure per window, computed from the
  manifest's seizure runs without reading any array) feeds
  :class:`eegssm.data.sampling.BalancedSampler`;
- ``target="recording"`` (EEGM2 classification, pretraining): items ``(x, label)`` with one class
  per recording (a file-name suffix rule, a function of the manifest entry, or the entry's
  ``label``; ``-1`` when unlabelled); ``targets`` holds them per window.

:class:`ArrayWindows` holds windows already in memory (segments that are not EDF recordings, e.g.
the Bonn set, or tests) behind the same interface (``targets``, ``subject``, ``take``,
``of_subjects``, ``n_channels``, ``window_samples``, ``sfreq``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from eegssm.data.manifest import Manifest, entry_window_classes, window_starts
from eegssm.data.recordings import CachedRecording

RecordingLabel = dict[str, int] | Callable[[dict[str, Any]], int | None]


class _WindowsMixin:
    """Selection helpers shared by the two datasets (``targets``, ``subject`` per window)."""

    targets: np.ndarray

    def take(self, keep: np.ndarray | Sequence[int]):
        """The windows where the boolean ``keep (N,)`` is True (or at the given indices), as a
        dataset of the same kind (arrays are shared, the index is copied)."""
        raise NotImplementedError

    @property
    def subject(self) -> np.ndarray:
        raise NotImplementedError

    def of_subjects(self, subjects: Sequence[str] | set[str], exclude: bool = False):
        """Windows whose subject is (or, with ``exclude``, is not) in ``subjects``."""
        inside = np.isin(self.subject, np.asarray(list(subjects), dtype=object))
        return self.take(~inside if exclude else inside)

    def labelled(self):
        """Windows with a class (``targets >= 0``)."""
        return self.take(self.targets >= 0)


class WindowDataset(_WindowsMixin, Dataset):
    """Windows of the cached recordings of one split and/or set of subjects.

    Args:
        cache_dir: a cache folder (with ``manifest.json``).
        window_s, stride_s: window length and stride in seconds (default: the preset's, in the
            manifest's ``config``; the stride defaults to the preset's for the preset's window,
            else to the window: no overlap).
        split: TUSZ split (``"train"``, ``"dev"``, ``"eval"``) or None for all.
        subjects: subject ids to keep (e.g. from :func:`eegssm.data.split_by_subject`), or None.
        target: ``"samples"`` or ``"recording"`` (module docstring).
        labels: the class of a recording for ``target="recording"``: a dict of file-stem suffix
            → class (longest matching suffix wins, e.g. ``{"_1": 0, "_2": 1}`` for eegmat), or a
            function of the manifest entry returning a class or None; default: the entry's
            ``label`` field. Recordings without a class get ``-1``.
        subject_regex: take subject ids from the file stem with this regular expression (first
            group) instead of the manifest's (used by ``subjects=`` too).
        pad_end: True: the last window of a recording reaches its end, zero-padded with a False
            mask (a recording shorter than a window gives one padded window); False: complete
            windows only.
        normalized: items normalised (the model's input); False gives µV.

    Items: ``x`` ``(C, W)`` float32 tensor and, for ``"samples"``, ``y`` ``(W,)`` float32 labels
    in {0, 1} and ``mask`` ``(W,)`` bool (False on padding and in gaps); for ``"recording"``, a
    0-d int64 class.

    Attributes:
        manifest: the loaded :class:`Manifest`.
        recordings: the selected :class:`CachedRecording` objects, in index order.
        window_samples, stride_samples: ``W`` and the stride in samples at ``sfreq`` Hz.
        rec: ``(N,)`` int64 position in ``recordings`` of each window; ``starts``: ``(N,)`` int64
            first sample of each window.
        classes: ``(N,)`` int8 window classes (0 none, 1 partial, 2 full), for
            :class:`eegssm.data.sampling.BalancedSampler`.
        targets: ``(N,)`` int64 recording class of each window (``-1`` when none).
    """

    def __init__(
        self,
        cache_dir: str | Path,
        window_s: float | None = None,
        stride_s: float | None = None,
        *,
        split: str | None = None,
        subjects: Sequence[str] | set[str] | None = None,
        target: Literal["samples", "recording"] = "samples",
        labels: RecordingLabel | None = None,
        subject_regex: str | None = None,
        pad_end: bool = True,
        normalized: bool = True,
    ) -> None:
        from eegssm.data.discovery import label_of, subject_of

        if target not in ("samples", "recording"):
            raise ValueError(f"target must be 'samples' or 'recording', got {target!r}")
        self.manifest = Manifest.load(cache_dir)
        self.root = self.manifest.root
        self.target, self.pad_end, self.normalized = target, pad_end, normalized
        entries = self.manifest.select(split=split)
        if subject_regex is not None:
            entries = [
                {**e, "subject": subject_of(Path(e["relpath"]).stem, subject_regex)}
                for e in entries
            ]
        if subjects is not None:
            wanted = {str(s) for s in subjects}
            entries = [e for e in entries if e["subject"] in wanted]
        self.recordings = [CachedRecording(self.root, e) for e in entries]

        config = self.manifest.header.get("config", {})
        rates = {r.sfreq for r in self.recordings}
        if len(rates) > 1:
            raise ValueError(f"{self.root}: recordings at different rates {sorted(rates)} Hz")
        layouts = {tuple(r.entry["ch_names"]) for r in self.recordings}
        if len(layouts) > 1:  # e.g. missing="drop" left different channels out
            first, other = sorted(layouts)[:2]
            raise ValueError(
                f"{self.root}: recordings with different channels ({len(first)}: "
                f"{', '.join(first)} vs {len(other)}: {', '.join(other)}); windows need one "
                "layout: build the cache with missing='interpolate' or select those recordings"
            )
        self.sfreq = rates.pop() if rates else float(config.get("sfreq") or 0.0)
        window_s = float(window_s if window_s is not None else config["window_s"])
        if stride_s is None:  # the preset's stride goes with the preset's window
            preset_window = window_s == config.get("window_s")
            stride_s = config.get("stride_s", window_s) if preset_window else window_s
        self.window_s, self.stride_s = window_s, float(stride_s)
        self.window_samples = int(round(window_s * self.sfreq)) if self.sfreq else 0
        self.stride_samples = int(round(self.stride_s * self.sfreq)) if self.sfreq else 0

        if callable(labels):
            label_fn = labels
        elif labels is not None:
            mapping = dict(labels)
            label_fn = lambda e: label_of(Path(e["relpath"]).stem, mapping)  # noqa: E731
        else:
            label_fn = lambda e: e.get("label")  # noqa: E731
        recs, starts, classes, targets = [], [], [], []
        for i, r in enumerate(self.recordings):
            s = window_starts(r.n_times, self.window_samples, self.stride_samples, pad_end)
            recs.append(np.full(len(s), i, dtype=np.int64))
            starts.append(s)
            classes.append(
                entry_window_classes(r.entry, self.window_samples, self.stride_samples, pad_end)
            )
            label = label_fn(r.entry) if target == "recording" else None
            targets.append(np.full(len(s), -1 if label is None else int(label), dtype=np.int64))
        self.rec = _concat(recs, np.int64)
        self.starts = _concat(starts, np.int64)
        self.classes = _concat(classes, np.int8)
        self.targets = _concat(targets, np.int64)

    # -- size and shape ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rec)

    @property
    def entries(self) -> list[dict[str, Any]]:
        """The manifest entries of ``recordings``."""
        return [r.entry for r in self.recordings]

    @property
    def n_channels(self) -> int:
        return self.recordings[0].n_channels if self.recordings else 0

    @property
    def subject(self) -> np.ndarray:
        """``(N,)`` subject id of each window."""
        names = np.array([r.subject for r in self.recordings] or [""], dtype=object)
        return names[self.rec]

    # -- reading -----------------------------------------------------------------------------
    def locate(self, index: int) -> tuple[int, int]:
        """``(position in self.recordings, first sample)`` of window ``index``."""
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {n} windows")
        return int(self.rec[index]), int(self.starts[index])

    def window(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Window ``index`` as numpy arrays: ``x (C, W)`` float32, ``y (W,)`` uint8 labels,
        ``mask (W,)`` bool (zero / False past the end and in gaps)."""
        rec, start = self.locate(int(index))
        r = self.recordings[rec]
        stop = start + self.window_samples
        x = r.read(start, stop, self.normalized)
        n = x.shape[1]
        y, mask = np.zeros(self.window_samples, np.uint8), np.zeros(self.window_samples, bool)
        y[:n] = r.labels[start : start + n]
        mask[:n] = r.valid(start, start + n)
        if n < self.window_samples:
            x = np.concatenate([x, np.zeros((x.shape[0], self.window_samples - n), x.dtype)], 1)
        return x, y, mask

    def __getitem__(self, index: int):
        if self.target == "recording":
            rec, start = self.locate(int(index))
            x = self.recordings[rec].read(start, start + self.window_samples, self.normalized)
            if x.shape[1] < self.window_samples:  # pad_end: the last window
                pad = np.zeros((x.shape[0], self.window_samples - x.shape[1]), np.float32)
                x = np.concatenate([x, pad], axis=1)
            return torch.from_numpy(x), torch.tensor(int(self.targets[index]))
        x, y, mask = self.window(index)
        return torch.from_numpy(x), torch.from_numpy(y.astype(np.float32)), torch.from_numpy(mask)

    def window_info(self, index: int) -> dict[str, Any]:
        """Where window ``index`` comes from: ``source``, ``relpath``, ``subject``, ``window``
        (position in its recording), ``start_s`` (onset in seconds) and ``class`` name."""
        rec, start = self.locate(int(index))
        r = self.recordings[rec]
        return {
            "source": r.entry["source"],
            "relpath": r.name,
            "subject": r.subject,
            "window": start // self.stride_samples,
            "start_s": start / self.sfreq,
            "class": ("none", "partial", "full")[int(self.classes[index])],
        }

    def take(self, keep: np.ndarray | Sequence[int]) -> WindowDataset:
        out = copy.copy(self)
        for name in ("rec", "starts", "classes", "targets"):
            setattr(out, name, getattr(self, name)[np.asarray(keep)])
        return out


class ArrayWindows(_WindowsMixin, Dataset):
    """Windows already in memory, behind the interface of :class:`WindowDataset` with
    ``target="recording"`` (items ``(x, label)``).

    Args:
        x: ``(N, C, W)`` windows (any float dtype; kept as given).
        y: ``(N,)`` int class per window, ``-1`` when unlabelled.
        subject: ``(N,)`` group id per window (subject, segment, ...).
        sfreq: Hz.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, subject: np.ndarray, sfreq: float):
        self.x = np.asarray(x)
        self.targets = np.asarray(y, dtype=np.int64)
        self._subject = np.asarray(subject, dtype=object)
        self.sfreq = float(sfreq)
        if not len(self.x) == len(self.targets) == len(self._subject):
            raise ValueError(
                f"x, y and subject differ in length: {len(self.x)}, {len(self.targets)}, "
                f"{len(self._subject)}"
            )

    @classmethod
    def from_dataset(cls, dataset: WindowDataset) -> ArrayWindows:
        """Every window of a (small) :class:`WindowDataset` with ``target="recording"`` read
        into memory."""
        n, shape = len(dataset), (dataset.n_channels, dataset.window_samples)
        x = np.zeros((n, *shape), dtype=np.float32)
        for i in range(n):
            x[i] = dataset[i][0].numpy()
        return cls(x, dataset.targets.copy(), dataset.subject, dataset.sfreq)

    @property
    def y(self) -> np.ndarray:
        return self.targets

    @property
    def subject(self) -> np.ndarray:
        return self._subject

    @property
    def n_channels(self) -> int:
        return int(self.x.shape[1])

    @property
    def window_samples(self) -> int:
        return int(self.x.shape[2])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int):
        return torch.from_numpy(self.x[index]), torch.as_tensor(self.targets[index])

    def take(self, keep: np.ndarray | Sequence[int]) -> ArrayWindows:
        keep = np.asarray(keep)
        return ArrayWindows(self.x[keep], self.targets[keep], self._subject[keep], self.sfreq)


def _concat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)
