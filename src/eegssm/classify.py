"""Classify whole recordings with a fine-tuned classifier checkpoint (``eegssm classify``).

Each recording is read, preprocessed with the checkpoint's own settings (montage, rate,
normalisation), cut into non-overlapping windows of the checkpoint's length (a trailing piece
shorter than a window is left out; a recording shorter than one window is classified as one
shorter window), and every window gets calibrated class probabilities (``softmax(logits / T)``,
the temperature fitted on the validation split at fine-tuning time). A recording's decision is
the arg-max of the mean of its windows' probabilities.

Outputs (written atomically, in the folder ``out``)::

    windows.csv      recording,start_s,stop_s,p_<class>...      one row per window
    recordings.csv   recording,n_windows,p_<class>...,predicted  one row per recording
    classify.json    eegssm version, checkpoint sha256, classes, window, channels, aggregation,
                     calibration, failures

``p_<class>`` columns follow the class index order of the checkpoint.

Example::

    from eegssm.classify import classify
    result = classify("runs/finetune/best", ["recordings/", raw, recording], out="predictions")
    result.recordings        # one dict per recording: name, n_windows, proba, predicted
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eegssm.io.types import Recording

#: How a recording's decision is made from its windows (recorded in classify.json).
AGGREGATION = "mean of the windows' calibrated probabilities; predicted = arg-max of the mean"


@dataclass
class RecordingResult:
    """One classified recording.

    Attributes:
        name: the recording's name in the outputs (path relative to the folder given, or the
            file name, or ``recording<i>`` for an in-memory recording without a source).
        starts, stops: ``(N,)`` window bounds in seconds from the start of the recording.
        proba: ``(N, K)`` calibrated class probabilities per window (rows sum to 1).
        short: the recording was shorter than one window and was classified whole.
    """

    name: str
    starts: np.ndarray
    stops: np.ndarray
    proba: np.ndarray
    short: bool = False

    @property
    def mean_proba(self) -> np.ndarray:
        """``(K,)`` the recording's aggregated probabilities."""
        return self.proba.mean(axis=0)

    @property
    def predicted(self) -> int:
        """Class index of the recording's decision."""
        return int(np.argmax(self.mean_proba))


@dataclass
class ClassifyResult:
    """Everything ``classify`` produced: per-recording results, failures, the JSON summary."""

    classes: list[str]
    recordings: list[RecordingResult] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def windows_csv(self) -> str:
        """``recording,start_s,stop_s,p_<class>...``, one row per window."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["recording", "start_s", "stop_s"] + [f"p_{c}" for c in self.classes])
        for r in self.recordings:
            for start, stop, p in zip(r.starts, r.stops, r.proba):
                w.writerow([r.name, f"{start:.3f}", f"{stop:.3f}"] + [f"{v:.6f}" for v in p])
        return buf.getvalue()

    def recordings_csv(self) -> str:
        """``recording,n_windows,p_<class>...,predicted``, one row per recording (no total)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["recording", "n_windows"] + [f"p_{c}" for c in self.classes] + ["predicted"])
        for r in self.recordings:
            w.writerow(
                [r.name, len(r.starts)]
                + [f"{v:.6f}" for v in r.mean_proba]
                + [self.classes[r.predicted]]
            )
        return buf.getvalue()

    def write(self, out: str | Path) -> Path:
        """Write ``windows.csv``, ``recordings.csv`` and ``classify.json`` into ``out``."""
        from eegssm import atomic

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic.write_text(out / "windows.csv", self.windows_csv())
        atomic.write_text(out / "recordings.csv", self.recordings_csv())
        atomic.write_json(out / "classify.json", self.info)
        return out


class Classifier:
    """A fine-tuned classifier checkpoint with its preprocessing, ready for recordings.

    Args:
        checkpoint: a checkpoint folder (or a run folder with ``best/`` or ``last/``).
        device: torch device for the model.
        batch_size: windows per forward pass.

    Raises:
        ValueError: the checkpoint has no classification head (e.g. a pretraining checkpoint).
        FileNotFoundError: no checkpoint at ``checkpoint``.
    """

    def __init__(self, checkpoint: str | Path, device: str = "cpu", batch_size: int = 16):
        from eegssm.models.eegm2_checkpoint import checkpoint_folder, load_classifier
        from eegssm.preprocessing.pipeline import PreprocessConfig

        self.folder = checkpoint_folder(checkpoint)
        model, meta = load_classifier(self.folder)
        missing = [k for k in ("classes", "preprocess", "window_s", "channels") if not meta.get(k)]
        if missing:
            raise ValueError(
                f"{self.folder}: the checkpoint lacks {', '.join(missing)} (written by an older "
                "eegssm); fine-tune again to classify recordings with it"
            )
        self.model = model.to(device)
        self.meta = meta
        self.device = device
        self.batch_size = batch_size
        self.classes: list[str] = list(meta["classes"])
        self.channels: list[str] = list(meta["channels"])
        self.sfreq = float(meta["sfreq"])
        self.window_s = float(meta["window_s"])
        self.temperature = float(meta.get("calibration", {}).get("temperature", 1.0))
        self.preprocess_config = PreprocessConfig(**meta["preprocess"])

    def sha256(self) -> dict[str, str]:
        """SHA-256 of the checkpoint's weights and configuration files."""
        return {
            name: hashlib.sha256((self.folder / name).read_bytes()).hexdigest()
            for name in ("model.safetensors", "config.json")
        }

    def windows(self, rec: Recording) -> tuple[np.ndarray, np.ndarray, bool]:
        """Preprocess ``rec`` and cut it into windows.

        Returns:
            ``(x (N, C, W) float32, starts (N,) samples, short)``; ``short``: the recording was
            shorter than one window and is one window of its own length.
        """
        from eegssm.preprocessing.pipeline import preprocess

        source = rec.meta.get("source") or "recording"
        pre = preprocess(rec, self.preprocess_config)
        if list(pre.ch_names) != self.channels:
            raise ValueError(
                f"{source}: channels after preprocessing {pre.ch_names} differ from the "
                f"checkpoint's {self.channels}"
            )
        w = int(round(self.window_s * pre.sfreq))
        n = pre.data.shape[1]
        if n == 0:
            raise ValueError(f"{source}: no samples to classify")
        if n < w:
            return pre.data[None].astype(np.float32), np.zeros(1, dtype=np.int64), True
        starts = np.arange(0, n - w + 1, w, dtype=np.int64)
        view = np.lib.stride_tricks.sliding_window_view(pre.data, w, axis=1)[:, ::w]
        return np.ascontiguousarray(view.transpose(1, 0, 2), dtype=np.float32), starts, False

    def classify_recording(self, rec: Recording, name: str) -> RecordingResult:
        """Calibrated window probabilities of one recording."""
        from eegssm.models.eegm2_checkpoint import predict_proba

        x, starts, short = self.windows(rec)
        proba = predict_proba(self.model, x, self.batch_size, self.temperature)
        starts_s = starts / self.sfreq
        stops_s = starts_s + x.shape[-1] / self.sfreq
        return RecordingResult(name, starts_s, stops_s, proba, short)

    def info(self) -> dict[str, Any]:
        """The checkpoint part of ``classify.json``."""
        from eegssm import __version__

        return {
            "eegssm_version": __version__,
            "checkpoint": str(self.folder),
            "checkpoint_sha256": self.sha256()["model.safetensors"],
            "config_sha256": self.sha256()["config.json"],
            "head": self.meta["head"],
            "band_power": self.meta.get("band_power", False),
            "classes": self.classes,
            "window": {
                "length_s": self.window_s,
                "stride_s": self.window_s,
                "rule": "non-overlapping from the start; a trailing piece shorter than a window "
                "is left out; a recording shorter than one window is one window of its length",
            },
            "channels": self.channels,
            "sfreq": self.sfreq,
            "preprocess": self.meta["preprocess"],
            "calibration": self.meta.get("calibration", {"method": "none", "temperature": 1.0}),
            "aggregation": AGGREGATION,
        }


Input = Any  # str | Path | Recording | mne.io.BaseRaw


def resolve_inputs(inputs: Input | Sequence[Input]) -> list[tuple[str, Any]]:
    """``(name, item)`` pairs: files as given, folders expanded to their EDF/BDF files
    (recursive, sorted; other files skipped), ``Recording`` and MNE ``Raw`` objects as they are.

    Names are unique: the path relative to the folder given (the folder's name first when
    several folders are given), the file name for a file, else ``recording<i>``.

    Raises:
        FileNotFoundError: a path that does not exist, or a folder without EDF/BDF files.
    """
    from eegssm.data.discovery import find_recordings

    if isinstance(inputs, (str, Path, Recording)) or not isinstance(inputs, Iterable):
        inputs = [inputs]
    items = list(inputs)
    n_dirs = sum(isinstance(i, (str, Path)) and Path(i).is_dir() for i in items)
    out: list[tuple[str, Any]] = []
    for i, item in enumerate(items):
        if isinstance(item, (str, Path)):
            path = Path(item)
            if path.is_dir():
                found = find_recordings(path)
                if not found:
                    raise FileNotFoundError(f"{path}: no .edf or .bdf files in this folder")
                prefix = Path(path.resolve().name) if n_dirs > 1 else Path()
                out += [((prefix / f.relative_to(path)).as_posix(), f) for f in found]
            elif path.is_file():
                out.append((path.name, path))
            else:
                raise FileNotFoundError(f"{path}: no such file or folder")
        elif isinstance(item, Recording):
            source = item.meta.get("source")
            out.append((Path(source).name if source else f"recording{i}", item))
        elif hasattr(item, "get_data") and hasattr(item, "info"):  # mne Raw
            files = getattr(item, "filenames", None) or [None]
            out.append((Path(files[0]).name if files[0] else f"recording{i}", item))
        else:
            raise TypeError(f"cannot classify a {type(item).__name__}: give a path, a Recording "
                            "or an mne Raw")  # fmt: skip
    names = [n for n, _ in out]
    if len(set(names)) != len(names):  # same names in different places: use the given paths
        seen: dict[str, int] = {}
        unique = []
        for name, item in out:
            seen[name] = seen.get(name, 0) + 1
            unique.append((name if names.count(name) == 1 else _long_name(item, name, seen), item))
        out = unique
    return out


def _long_name(item: Any, name: str, seen: dict[str, int]) -> str:
    if isinstance(item, Path):
        return item.as_posix()
    return f"{name}#{seen[name]}"


def _load(item: Any) -> Recording:
    from eegssm.io import as_recording

    return as_recording(item)  # a Recording, an mne Raw or a path


def classify(
    checkpoint: str | Path | Classifier,
    inputs: Input | Sequence[Input],
    out: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 16,
    progress: bool = False,
    on_error: str = "skip",
) -> ClassifyResult:
    """Classify recordings with a fine-tuned checkpoint (module docstring).

    Args:
        checkpoint: checkpoint folder (or run folder with ``best/``), or a loaded
            :class:`Classifier`.
        inputs: EDF/BDF files, folders (searched recursively), ``Recording`` s, MNE ``Raw``
            objects, or a list of them.
        out: folder for ``windows.csv``, ``recordings.csv`` and ``classify.json``; None writes
            nothing.
        device, batch_size: model device and windows per forward pass.
        progress: a tqdm bar over the recordings.
        on_error: ``"skip"``: a recording that cannot be read or preprocessed is listed in
            ``result.failures`` (file and message) and the others go on; ``"raise"``: raise.

    Returns:
        A :class:`ClassifyResult`. Outputs are written only if at least one recording was
        classified.
    """
    from tqdm.auto import tqdm

    from eegssm.io import EEGReadError

    clf = checkpoint if isinstance(checkpoint, Classifier) else Classifier(
        checkpoint, device, batch_size
    )  # fmt: skip
    items = resolve_inputs(inputs)
    result = ClassifyResult(clf.classes)
    for name, item in tqdm(items, desc="classifying", unit="rec", disable=not progress):
        try:
            result.recordings.append(clf.classify_recording(_load(item), name))
        except (EEGReadError, ValueError, OSError) as err:
            if on_error == "raise":
                raise
            result.failures.append({"recording": name, "error": str(err)})
    result.info = {
        **clf.info(),
        "recordings": len(result.recordings),
        "short_recordings": [r.name for r in result.recordings if r.short],
        "failures": result.failures,
    }
    if out is not None and result.recordings:
        result.write(out)
    return result
