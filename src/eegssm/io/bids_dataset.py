"""Write a recording and its events into a BIDS-EEG dataset (``eegssm detect --bids-root``).

Layout (BIDS 1.9, readable by ``mne_bids.read_raw_bids``)::

    ROOT/dataset_description.json
    ROOT/participants.tsv
    ROOT/sub-<S>/[ses-<E>/]eeg/sub-<S>[_ses-<E>]_task-<T>[_run-<R>]_eeg.edf   (link or copy)
                                                              ..._eeg.json
                                                              ..._channels.tsv
                                                              ..._events.tsv

The recording is a symbolic link to the original file (``copy=True``: a copy). ``_events.tsv``
is the SzCORE events file (``eegssm.io.annotations.bids``) with ``trial_type``; ``_channels.tsv``
lists every signal of the file in file order, as mne reads it (``mne_bids`` checks the names).

Entities (:func:`entities_for`) come from a BIDS-style file name (``sub-01_ses-02_task-rest
_run-1_eeg.edf``) or from the caller (``--subject``, ``--session``, ``--task``); otherwise the
subject is the file stem with everything but letters and digits removed, and the task
:data:`DEFAULT_TASK`. Recordings that would get the same name are told apart by run numbers
(:func:`assign_runs`).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any

from eegssm.io.types import Event

BIDS_VERSION = "1.9.0"
#: Task label when neither the file name nor the caller gives one (as SzCORE datasets name it).
DEFAULT_TASK = "szMonitoring"
_ENTITY = re.compile(r"^(sub|ses|task|run|acq)-([A-Za-z0-9]+)$")
_LABEL = re.compile(r"^[A-Za-z0-9]+$")


@dataclass(frozen=True)
class Entities:
    """BIDS entities of one recording (labels: letters and digits only)."""

    subject: str
    task: str = DEFAULT_TASK
    session: str | None = None
    run: int | str | None = None
    acquisition: str | None = None

    def basename(self) -> str:
        parts = [f"sub-{self.subject}"]
        if self.session:
            parts.append(f"ses-{self.session}")
        parts.append(f"task-{self.task}")
        if self.acquisition:
            parts.append(f"acq-{self.acquisition}")
        if self.run is not None:
            parts.append(f"run-{self.run}")
        return "_".join(parts)

    def folder(self, root: Path) -> Path:
        out = root / f"sub-{self.subject}"
        if self.session:
            out = out / f"ses-{self.session}"
        return out / "eeg"


def label(text: str, what: str) -> str:
    """A BIDS label: letters and digits of ``text``.

    Raises:
        ValueError: nothing left.
    """
    clean = re.sub(r"[^A-Za-z0-9]", "", str(text))
    if not clean:
        raise ValueError(f"{what} {text!r}: a BIDS label needs letters or digits")
    return clean


def parse_entities(stem: str) -> dict[str, str]:
    """The ``key-value`` entities of a BIDS-style name (``sub-01_task-rest_eeg`` →
    ``{"sub": "01", "task": "rest"}``); empty when the name has no ``sub-``."""
    found: dict[str, str] = {}
    for part in stem.split("_"):
        m = _ENTITY.match(part)
        if m:
            found[m.group(1)] = m.group(2)
    return found if "sub" in found else {}


def entities_for(
    path: str | PathLike,
    subject: str | None = None,
    session: str | None = None,
    task: str | None = None,
) -> Entities:
    """Entities of a recording file: given values first, then its BIDS-style name, then the
    defaults (module docstring)."""
    stem = Path(path).name.split(".")[0]
    found = parse_entities(stem)
    run = found.get("run")
    return Entities(
        subject=label(subject or found.get("sub") or stem, "subject"),
        task=label(task or found.get("task") or DEFAULT_TASK, "task"),
        session=label(session or found["ses"], "session")
        if (session or found.get("ses"))
        else None,
        run=int(run) if run is not None and run.isdigit() else run,
        acquisition=found.get("acq"),
    )


def assign_runs(entities: Sequence[Entities]) -> list[Entities]:
    """The same list with ``run`` 1, 2, ... (in order) for recordings that would otherwise
    share a name.

    Raises:
        ValueError: two recordings with the same entities, runs included.
    """
    groups: dict[str, list[int]] = {}
    for i, ent in enumerate(entities):
        groups.setdefault(replace(ent, run=None).basename(), []).append(i)
    out = list(entities)
    for indices in groups.values():
        if len(indices) > 1 and all(entities[i].run is None for i in indices):
            for k, i in enumerate(indices, start=1):
                out[i] = replace(entities[i], run=k)
    names = [e.basename() for e in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(
            f"BIDS: several recordings would be {twice[0]}; give --subject/--session/--task "
            "per file or use BIDS-style file names with run numbers"
        )
    return out


def channel_rows(path: str | PathLike) -> list[dict[str, str]]:
    """``_channels.tsv`` rows for every signal of an EDF/BDF file, as mne names them: ``name``,
    ``type`` (EEG, ECG, EOG, EMG, MISC, TRIG...), ``units``, ``status``."""
    import mne

    from eegssm.io.channels import is_non_eeg

    path = Path(path)
    reader = mne.io.read_raw_bdf if path.suffix.lower() == ".bdf" else mne.io.read_raw_edf
    raw = reader(path, preload=False, verbose="error")
    rows = []
    for name, kind in zip(raw.ch_names, raw.get_channel_types()):
        bids_type = _BIDS_TYPES.get(kind, "MISC")
        if bids_type == "EEG" and is_non_eeg(name):
            bids_type = _guess_type(name)
        units = "µV" if bids_type in ("EEG", "ECG", "EOG", "EMG") else "n/a"
        rows.append({"name": name, "type": bids_type, "units": units, "status": "good"})
    return rows


_BIDS_TYPES = {
    "eeg": "EEG",
    "ecg": "ECG",
    "eog": "EOG",
    "emg": "EMG",
    "misc": "MISC",
    "stim": "TRIG",
    "resp": "RESP",
    "seeg": "SEEG",
    "ecog": "ECOG",
}


def _guess_type(name: str) -> str:
    upper = name.upper()
    for token, kind in (("ECG", "ECG"), ("EKG", "ECG"), ("EOG", "EOG"), ("EMG", "EMG")):
        if token in upper:
            return kind
    return "MISC"


def write_dataset_description(root: Path, name: str = "eegssm seizure detections") -> Path:
    """``dataset_description.json`` (kept when it exists already)."""
    from eegssm import __version__, atomic

    path = root / "dataset_description.json"
    if not path.exists():
        doc = {
            "Name": name,
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "GeneratedBy": [
                {
                    "Name": "eegssm",
                    "Version": __version__,
                    "Description": "seizure events detected by eegssm detect",
                }
            ],
        }
        atomic.write_text(path, json.dumps(doc, indent=2) + "\n")
    return path


def _add_participant(root: Path, subject: str) -> None:
    from eegssm import atomic

    path = root / "participants.tsv"
    ids: list[str] = []
    if path.exists():
        with open(path, encoding="utf-8") as f:
            ids = [row["participant_id"] for row in csv.DictReader(f, delimiter="\t")]
    pid = f"sub-{subject}"
    if pid not in ids:
        ids.append(pid)
        atomic.write_text(path, "participant_id\n" + "".join(f"{i}\n" for i in sorted(ids)))


def write_recording(
    root: str | PathLike,
    source: str | PathLike,
    entities: Entities,
    events: Iterable[Event],
    duration_s: float,
    start_time: Any = None,
    sfreq: float | None = None,
    eeg_json: dict[str, Any] | None = None,
    copy: bool = False,
) -> dict[str, Path]:
    """Put one recording and its events into the BIDS dataset at ``root``.

    Args:
        root: the dataset folder (created).
        source: the EDF/BDF file (linked, or copied with ``copy=True``).
        entities: its BIDS entities.
        events: events to write (seconds from the first sample).
        duration_s: recording length (s).
        start_time: recording start (datetime or ISO text) for ``dateTime``, or None.
        sfreq: the file's sampling rate (Hz) for ``_eeg.json``.
        eeg_json: more ``_eeg.json`` fields (e.g. ``PowerLineFrequency``).
        copy: copy the recording instead of linking it.

    Returns:
        ``{"recording", "eeg_json", "channels", "events"}`` → the paths written.
    """
    from eegssm import atomic
    from eegssm.io.annotations import write_bids_events

    root = Path(root)
    source = Path(source).resolve()
    folder = entities.folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    write_dataset_description(root)
    _add_participant(root, entities.subject)
    base = folder / entities.basename()
    recording = base.with_name(base.name + "_eeg" + source.suffix.lower())
    tmp = atomic.temporary_path(recording)
    if copy:
        shutil.copyfile(source, tmp)
    else:
        os.symlink(source, tmp)
    os.replace(tmp, recording)

    rows = channel_rows(source)
    channels = base.with_name(base.name + "_channels.tsv")
    lines = ["name\ttype\tunits\tstatus"] + [
        f"{r['name']}\t{r['type']}\t{r['units']}\t{r['status']}" for r in rows
    ]
    atomic.write_text(channels, "\n".join(lines) + "\n")

    counts: dict[str, int] = {}
    for r in rows:
        counts[r["type"]] = counts.get(r["type"], 0) + 1
    sidecar: dict[str, Any] = {
        "TaskName": entities.task,
        "SamplingFrequency": sfreq if sfreq is not None else "n/a",
        "PowerLineFrequency": "n/a",
        "SoftwareFilters": "n/a",
        "EEGReference": "n/a",
        "RecordingDuration": round(float(duration_s), 6),
        "RecordingType": "continuous",
        "EEGChannelCount": counts.get("EEG", 0),
        "ECGChannelCount": counts.get("ECG", 0),
        "EOGChannelCount": counts.get("EOG", 0),
        "EMGChannelCount": counts.get("EMG", 0),
        "MiscChannelCount": counts.get("MISC", 0),
        "TriggerChannelCount": counts.get("TRIG", 0),
        **(eeg_json or {}),
    }
    eeg_path = base.with_name(base.name + "_eeg.json")
    atomic.write_text(eeg_path, json.dumps(sidecar, indent=2) + "\n")

    events_path = base.with_name(base.name + "_events.tsv")
    write_bids_events(events_path, events, duration_s, start_time)
    return {
        "recording": recording,
        "eeg_json": eeg_path,
        "channels": channels,
        "events": events_path,
    }
