"""The cache manifest: what a cache folder holds, per recording.

Cache layout (all paths in the manifest are relative to the cache folder)::

    cache/
      manifest.json             assembled from the fragments below (written atomically)
      entries/<key>.json        one fragment per recording, committed by rename after its arrays
      arrays/<key>.signal.npy   (C, T) float32 (or float16) preprocessed signal minus ``offset``
      arrays/<key>.labels.npy   (T,) uint8 per-sample labels (1 = seizure)
      shards/<K>-of-<N>.json    the part a ``--shard K/N`` build made (merged into manifest.json)

Each recording is stored once, as a continuous array after montage, resampling and filtering;
windows of any length and stride are cut when read (:class:`eegssm.data.dataset.WindowDataset`).
For 19 channels the labels add 1/76 to the float32 signal: the cache takes about 1.01× the
float32 size of the preprocessed signal (0.51× with float16 storage).

**Normalisation** is stored as per-channel statistics, not applied: the signal array holds
``x − offset`` (µV) and the entry's ``normalization`` (``center``, ``scale``, ``clip``) gives the
model's input ``clip((x − center) · scale)``, exactly what ``eegssm detect`` computes from the
same file (the whole-recording z-score of the seizure preset; p95 scaling for EEGM2).
``offset`` is ``center`` (so normalising a stored float32 window is one multiplication, bit for
bit what :func:`eegssm.preprocessing.preprocess` returns), or, for float16 storage, the channel
mean (half-precision numbers stay centred). :class:`eegssm.data.recordings.CachedRecording` reads
both forms.

A fragment exists only once its arrays are complete, so the fragments are the truth and
``manifest.json`` is an index rebuilt from them (only the recordings found under the data folder
in the latest run are listed; fragments of removed files stay on disk, unlisted). An ``ok`` entry
holds::

    key, status="ok", source (absolute path), relpath (to the corpus folder), source_size (bytes),
    source_mtime_ns, source_sha256, preset_hash, subject, split (train/dev/eval or null),
    session, duration_s (source), n_times (samples after preprocessing), sfreq (Hz, after
    preprocessing), n_channels, ch_names, montage, interpolated, zeroed, flat (output
    channels constant after the montage), flat_inputs (input channels left out as flat),
    dropped (montage channels left out, ``missing='drop'``), dtype,
    offset (C floats), normalization {center, scale, clip} or null, events [{start, stop,
    label, channel}] (seconds), seizure_s, n_seizure_events, seizure_runs [[a, b], ...]
    (samples where the labels are 1), gaps [[start_s, stop_s], ...] (zero-filled pauses,
    masked in windows), annotation_sources, blockwise (preprocessed block by block),
    files {signal, labels}, file_sizes {signal, labels}, warnings, notes

and a ``failed`` entry: ``key, status="failed", source, relpath, source_size, source_mtime_ns,
preset_hash, subject, split, session, reason, retryable``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eegssm import atomic

MANIFEST_NAME = "manifest.json"
ENTRIES_DIR = "entries"
ARRAYS_DIR = "arrays"
SHARDS_DIR = "shards"
#: Bumped whenever the array layout or labelling changes (invalidates every entry).
FORMAT_VERSION = 2
#: Window class names, indexed by :class:`eegssm.preprocessing.WindowClass` value.
CLASS_NAMES = ("none", "partial", "full")
#: Storage dtypes of the signal array.
DTYPES = ("float32", "float16")
#: Config fields that do not change the stored arrays (windows are cut when read).
READ_TIME_FIELDS = ("window_s", "stride_s")


def preset_hash(config: Any, dtype: str = "float32") -> str:
    """16 hex digits identifying what a preprocessing config and storage dtype write (a pydantic
    model or a dict; the window length and stride are left out: they do not change the
    arrays)."""
    cfg = config.model_dump() if hasattr(config, "model_dump") else dict(config)
    cfg = {k: v for k, v in cfg.items() if k not in READ_TIME_FIELDS}
    text = json.dumps({"format": FORMAT_VERSION, "config": cfg, "dtype": dtype}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fragment_path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / ENTRIES_DIR / f"{key}.json"


def shard_path(cache_dir: str | Path, shard: tuple[int, int]) -> Path:
    """``shards/<K>-of-<N>.json`` of shard ``(K, N)``."""
    return Path(cache_dir) / SHARDS_DIR / f"{shard[0]}-of-{shard[1]}.json"


def read_fragment(cache_dir: str | Path, key: str) -> dict | None:
    """The committed fragment of ``key``, or None if there is none (or it is unreadable)."""
    try:
        with open(fragment_path(cache_dir, key), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fragment_is_current(
    cache_dir: str | Path, entry: dict | None, source: Path, phash: str, retry_failed: bool
) -> bool:
    """Whether ``entry`` can be kept as is: same source size and mtime, same preset hash, and
    (for ``ok`` entries) every array file present with its recorded size.

    Failed entries are current unless ``retry_failed`` or the failure was ``retryable`` (a worker
    that died rather than a file that could not be read).
    """
    if entry is None or entry.get("preset_hash") != phash:
        return False
    try:
        st = source.stat()
    except OSError:
        return False
    if entry.get("source_size") != st.st_size or entry.get("source_mtime_ns") != st.st_mtime_ns:
        return False
    if entry.get("status") == "failed":
        return not (retry_failed or entry.get("retryable", False))
    root = Path(cache_dir)
    for name, rel in entry.get("files", {}).items():
        f = root / rel
        if not f.is_file() or f.stat().st_size != entry["file_sizes"][name]:
            return False
    return entry.get("status") == "ok"


@dataclass
class Manifest:
    """A loaded ``manifest.json``.

    Attributes:
        root: the cache folder.
        header: run-level fields (``format_version``, ``preset``, ``preset_hash``, ``config``,
            ``dtype``, ``data_dir``, ``created``, ``shards``).
        recordings: ``ok`` entries, sorted by ``relpath``.
        failed: failed entries, sorted by ``relpath``.
    """

    root: Path
    header: dict[str, Any]
    recordings: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, cache_dir: str | Path) -> Manifest:
        """Read ``<cache_dir>/manifest.json``.

        Raises:
            FileNotFoundError: no manifest (the cache was never built, a build was killed before
                its first manifest write, or it was built in shards not merged yet).
            ValueError: a cache of an older layout (rebuild it).
        """
        root = Path(cache_dir)
        path = root / MANIFEST_NAME
        if not path.is_file():
            hint = f"`eegssm build-cache --data-dir DATA --cache-dir {root}`"
            if (root / SHARDS_DIR).is_dir():
                hint = f"`eegssm build-cache --merge --cache-dir {root}` (it holds shards)"
            raise FileNotFoundError(f"{path}: no cache manifest; build the cache with {hint}")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{path}: cache format {version}, this eegssm reads format {FORMAT_VERSION}; "
                f"rebuild it with `eegssm build-cache --data-dir DATA --cache-dir {root}` (old "
                "arrays are replaced in place)"
            )
        return cls(
            root,
            {k: v for k, v in data.items() if k not in ("recordings", "failed")},
            list(data.get("recordings", [])),
            list(data.get("failed", [])),
        )

    def to_json(self) -> dict[str, Any]:
        return {**self.header, "recordings": self.recordings, "failed": self.failed}

    def save(self, path: str | Path | None = None) -> None:
        """Write ``manifest.json`` (or ``path``) atomically."""
        atomic.write_json(path or self.root / MANIFEST_NAME, self.to_json())

    @property
    def subjects(self) -> list[str]:
        """Sorted subject ids of the ``ok`` recordings."""
        return sorted({r["subject"] for r in self.recordings})

    def find(self, name: str) -> dict[str, Any]:
        """The ``ok`` entry of a recording by ``key``, ``relpath`` or file name / stem (when
        unique).

        Raises:
            KeyError: no such recording, or a name several recordings share (the message
                lists them), or one that failed to cache (with the reason).
        """
        name = str(name)
        for field_ in ("key", "relpath"):
            hits = [e for e in self.recordings if e[field_] == name]
            if hits:
                return hits[0]
        hits = [
            e
            for e in self.recordings
            if Path(e["relpath"]).name == name or Path(e["relpath"]).stem == name
        ]
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise KeyError(
                f"{self.root}: {name!r} names {len(hits)} recordings; use the relpath: "
                + ", ".join(e["relpath"] for e in hits[:5])
            )
        failed = [e for e in self.failed if name in (e["key"], e["relpath"])]
        if failed:
            raise KeyError(f"{self.root}: {name!r} failed to cache: {failed[0]['reason']}")
        raise KeyError(f"{self.root}: no recording {name!r} (see `eegssm cache-info {self.root}`)")

    def select(
        self, split: str | None = None, subjects: list[str] | set[str] | None = None
    ) -> list[dict[str, Any]]:
        """``ok`` entries of one TUSZ split and/or a set of subjects (None: no filter).

        Raises:
            ValueError: ``split`` given but no recording has a split (use
                :func:`split_by_subject` and ``subjects=``).
        """
        entries = self.recordings
        if split is not None:
            if not any(r.get("split") for r in entries):
                raise ValueError(
                    f"{self.root}: no recording has a split (not a TUSZ layout); choose subjects "
                    "with eegssm.data.split_by_subject(manifest, fractions, seed) and subjects="
                )
            entries = [r for r in entries if r.get("split") == split]
        if subjects is not None:
            wanted = {str(s) for s in subjects}
            entries = [r for r in entries if r["subject"] in wanted]
        return entries

    def nbytes(self) -> int:
        """Bytes of the ``ok`` recordings' arrays."""
        return int(sum(sum(r["file_sizes"].values()) for r in self.recordings))


def assemble(
    cache_dir: str | Path, keys: list[str], header: dict[str, Any], extra: list[dict] = ()
) -> Manifest:
    """Build a :class:`Manifest` from the committed fragments of ``keys`` (missing ones skipped)
    plus ``extra`` entries (e.g. failures not stored as fragments); does not write it."""
    entries = [e for e in (read_fragment(cache_dir, k) for k in keys) if e is not None]
    entries += list(extra)
    entries.sort(key=lambda e: e["relpath"])
    return Manifest(
        Path(cache_dir),
        dict(header),
        [e for e in entries if e.get("status") == "ok"],
        [e for e in entries if e.get("status") == "failed"],
    )


# -- windows, from the manifest alone ---------------------------------------------------------
def window_starts(n_times: int, window: int, stride: int, pad_end: bool = True) -> np.ndarray:
    """``(N,)`` int64 first samples of the windows of a recording of ``n_times`` samples.

    ``pad_end``: windows start at ``0, S, 2S, ...`` and the last one reaches the end (padded past
    it; at least one window), as :func:`eegssm.preprocessing.windowing.make_windows`. Otherwise
    only complete windows (none for a recording shorter than one window).
    """
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive samples, got {window}, {stride}")
    if pad_end:
        n = 1 + -(-max(n_times - window, 0) // stride)
    else:
        n = 0 if n_times < window else 1 + (n_times - window) // stride
    return np.arange(n, dtype=np.int64) * stride


def gap_samples(entry: dict[str, Any]) -> np.ndarray:
    """``(G, 2)`` int64 sample intervals of the entry's zero-filled gaps (EDF+D pauses)."""
    sfreq = float(entry["sfreq"])
    gaps = [
        (max(0, int(round(a * sfreq))), max(0, int(round(b * sfreq))))
        for a, b in entry.get("gaps") or ()
    ]
    return np.array([g for g in gaps if g[1] > g[0]], dtype=np.int64).reshape(-1, 2)


def entry_window_classes(
    entry: dict[str, Any], window: int, stride: int, pad_end: bool = True
) -> np.ndarray:
    """``(N,)`` int8 :class:`~eegssm.preprocessing.WindowClass` of each window of an entry
    (:func:`window_starts`), from its ``seizure_runs`` and gaps (no array is read).

    The same as :func:`eegssm.preprocessing.window_classes` on the windows' labels and masks:
    NONE without a valid seizure sample, FULL when every valid sample is seizure (padding past
    the end and gaps are not valid), PARTIAL otherwise.
    """
    n_times = int(entry["n_times"])
    starts = window_starts(n_times, window, stride, pad_end)
    out = np.zeros(len(starts), dtype=np.int8)
    runs = np.array(entry.get("seizure_runs") or [], dtype=np.int64).reshape(-1, 2)
    if not len(runs) or not len(starts):
        return out
    gaps = gap_samples(entry)
    valid = _subtract(np.array([[0, n_times]], dtype=np.int64), gaps)
    seizure = _subtract(runs, gaps)
    stops = starts + window
    n_valid = _covered(valid, stops) - _covered(valid, starts)
    n_seizure = _covered(seizure, stops) - _covered(seizure, starts)
    out[n_seizure > 0] = 1
    out[(n_seizure > 0) & (n_seizure == n_valid)] = 2
    return out


def _covered(intervals: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Samples of the disjoint ``intervals (K, 2)`` before each sample index in ``t``."""
    if not len(intervals):
        return np.zeros(len(t), dtype=np.int64)
    a, b = intervals[:, 0], intervals[:, 1]
    return np.clip(t[:, None] - a[None, :], 0, (b - a)[None, :]).sum(axis=1)


def _subtract(intervals: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Disjoint sorted ``intervals (K, 2)`` minus the ``holes (G, 2)`` (half-open samples)."""
    out = []
    for a, b in intervals.tolist():
        for h0, h1 in sorted(holes.tolist()):
            if h1 <= a or h0 >= b:
                continue
            if h0 > a:
                out.append((a, h0))
            a = max(a, h1)
            if a >= b:
                break
        if a < b:
            out.append((a, b))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def label_runs(labels: np.ndarray) -> list[list[int]]:
    """``[[a, b], ...]``: the sample intervals where ``labels (T,)`` is nonzero."""
    on = np.flatnonzero(np.diff(np.concatenate([[0], (labels != 0).astype(np.int8), [0]])))
    return on.reshape(-1, 2).tolist()


def summarize(
    manifest: Manifest, window_s: float | None = None, stride_s: float | None = None
) -> dict[str, Any]:
    """Totals for ``cache-info``: counts, hours, seizure ratio, windows per class (of the
    preset's window and stride unless given), subjects, bytes, failures (seconds and hours as
    floats; ratio = seizure seconds / total seconds)."""
    recs = manifest.recordings
    config = manifest.header.get("config", {})
    window_s = float(window_s or config.get("window_s", 60.0))
    stride_s = float(stride_s or config.get("stride_s", window_s))
    total_s = float(sum(r["duration_s"] for r in recs))
    seizure_s = float(sum(r["seizure_s"] for r in recs))
    windows = {name: 0 for name in CLASS_NAMES}
    signal_bytes = 0
    for r in recs:
        sfreq = float(r["sfreq"])
        classes = entry_window_classes(r, round(window_s * sfreq), round(stride_s * sfreq))
        for i, name in enumerate(CLASS_NAMES):
            windows[name] += int((classes == i).sum())
        signal_bytes += 4 * int(r["n_channels"]) * int(r["n_times"])
    splits: dict[str, dict[str, Any]] = {}
    for r in recs:
        s = splits.setdefault(
            r.get("split") or "-", {"recordings": 0, "hours": 0.0, "subjects": set()}
        )
        s["recordings"] += 1
        s["hours"] += r["duration_s"] / 3600
        s["subjects"].add(r["subject"])
    nbytes = manifest.nbytes()
    return {
        "cache_dir": str(manifest.root),
        "preset": manifest.header.get("preset"),
        "preset_hash": manifest.header.get("preset_hash"),
        "dtype": manifest.header.get("dtype"),
        "sfreq": recs[0]["sfreq"] if recs else None,
        "n_channels": recs[0]["n_channels"] if recs else None,
        "window_s": window_s,
        "stride_s": stride_s,
        "recordings": len(recs),
        "failed": len(manifest.failed),
        "hours": total_s / 3600,
        "seizure_hours": seizure_s / 3600,
        "seizure_ratio": seizure_s / total_s if total_s else 0.0,
        "windows": sum(windows.values()),
        "windows_per_class": windows,
        "bytes": nbytes,
        "bytes_vs_float32": nbytes / signal_bytes if signal_bytes else 0.0,
        "n_subjects": len(manifest.subjects),
        "subjects": manifest.subjects,
        "splits": {k: {**v, "subjects": len(v["subjects"])} for k, v in sorted(splits.items())},
        "failures": [{"source": f["relpath"], "reason": f["reason"]} for f in manifest.failed],
    }


def split_by_subject(
    manifest: Manifest | list[dict[str, Any]],
    fractions: dict[str, float] | None = None,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Assign whole subjects to splits (never windows or recordings), for corpora without one.

    Subjects are shuffled with ``seed`` and cut by count in the order of ``fractions``; each
    split with a positive fraction gets at least one subject when there are enough subjects.
    Counts are rounded so that they sum to the number of subjects.

    Args:
        manifest: a :class:`Manifest` or a list of entries (each with a ``subject``).
        fractions: split name → share, e.g. ``{"train": 0.7, "dev": 0.15, "eval": 0.15}``
            (the default); normalised to sum to 1.
        seed: shuffling seed; the same subjects and seed give the same assignment.

    Returns:
        split name → sorted subject ids (disjoint, covering every subject).
    """
    fractions = fractions or {"train": 0.7, "dev": 0.15, "eval": 0.15}
    if any(v < 0 for v in fractions.values()) or sum(fractions.values()) <= 0:
        raise ValueError(f"fractions must be non-negative with a positive sum, got {fractions}")
    entries = manifest.recordings if isinstance(manifest, Manifest) else manifest
    subjects = sorted({str(e["subject"]) for e in entries})
    order = [subjects[i] for i in np.random.default_rng(seed).permutation(len(subjects))]
    names = list(fractions)
    share = np.array([fractions[n] for n in names], dtype=float)
    share /= share.sum()
    counts = _apportion(len(subjects), share)
    out, start = {}, 0
    for name, n in zip(names, counts):
        out[name] = sorted(order[start : start + n])
        start += n
    return out


def _apportion(n: int, share: np.ndarray) -> list[int]:
    """Integer counts summing to ``n`` near ``n * share`` (largest remainder), each positive
    share getting at least one while ``n`` allows."""
    raw = n * share
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    for i in np.flatnonzero((share > 0) & (counts == 0)):
        donor = int(np.argmax(counts))
        if counts[donor] > 1:
            counts[donor] -= 1
            counts[i] += 1
    return counts.tolist()
