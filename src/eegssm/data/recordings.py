"""Whole labelled recordings for evaluation.

:class:`EvalRecording` is one preprocessed recording with per-sample seizure labels, what
training's dev evaluation and ``eegssm evaluate`` score. It comes from the window cache
(:func:`recordings_from_cache`) or from an EDF file with its annotations
(:func:`reference_seizures`, then :func:`eegssm.preprocessing.windowing.sample_labels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


def recordings_from_cache(dataset, max_recordings: int | None = None) -> list[EvalRecording]:
    """Rebuild whole recordings from a :class:`~eegssm.data.WindowDataset`'s cached windows.

    Window ``i`` starts at ``i · stride``; the valid (masked) samples of each window are written
    back into a ``(C, T)`` array, ``T = round(duration_s · sfreq)``.
    """
    out = []
    for rec, entry in enumerate(dataset.entries[:max_recordings]):
        x, y, mask = dataset.arrays(rec)
        sfreq, stride = float(entry["sfreq"]), int(entry["stride_samples"])
        n_times = int(round(entry["duration_s"] * sfreq))
        data = np.zeros((x.shape[1], n_times), dtype=np.float32)
        labels = np.zeros(n_times, dtype=np.uint8)
        for i in range(x.shape[0]):
            a = i * stride
            n = min(int(mask[i].sum()), n_times - a)
            if n > 0:
                data[:, a : a + n] = x[i, :, :n]
                labels[a : a + n] = y[i, :n]
        out.append(EvalRecording(entry["relpath"], entry["subject"], data, labels, sfreq))
    return out


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
