"""The cache manifest: what a cache folder holds, per recording and per window.

Cache layout (all paths in the manifest are relative to the cache folder)::

    cache/
      manifest.json          assembled from the fragments below (written atomically)
      entries/<key>.json     one fragment per recording, committed by rename after its arrays
      arrays/<key>.x.npy     (N, C, W) float32 signal windows
      arrays/<key>.y.npy     (N, W) uint8 per-sample labels (1 = seizure)
      arrays/<key>.mask.npy  (N, W) bool, False on padding past the end of the recording

A fragment exists only once its arrays are complete, so the fragments are the truth and
``manifest.json`` is an index rebuilt from them (only the recordings found under the data folder
in the latest run are listed; fragments of removed files stay on disk, unlisted). Windows overlap
(60 s at a 10 s stride for the seizure preset), so the cache holds each sample about six times:
about 270 MB per hour of 19-channel EEG at 256 Hz. An ``ok`` entry holds::

    key, status="ok", source (absolute path), relpath (to the corpus folder), source_size (bytes),
    source_mtime_ns, preset_hash, subject, split (train/dev/eval or null), session,
    duration_s, sfreq (Hz, after preprocessing), n_channels, ch_names, n_windows,
    window_samples, stride_samples, seizure_s, n_seizure_events, annotation_sources,
    classes (one of "none"/"partial"/"full" per window), class_counts, files {x, y, mask},
    file_sizes {x, y, mask}, warnings, notes

and a ``failed`` entry: ``key, status="failed", source, relpath, source_size, source_mtime_ns,
preset_hash, subject, split, reason, retryable``.
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
#: Bumped whenever the array layout or labelling changes (invalidates every entry).
FORMAT_VERSION = 1
#: Window class names, indexed by :class:`eegssm.preprocessing.WindowClass` value.
CLASS_NAMES = ("none", "partial", "full")


def preset_hash(config: Any) -> str:
    """16 hex digits identifying a preprocessing config (a pydantic model or a dict)."""
    cfg = config.model_dump() if hasattr(config, "model_dump") else dict(config)
    text = json.dumps({"format": FORMAT_VERSION, "config": cfg}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fragment_path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / ENTRIES_DIR / f"{key}.json"


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
            ``data_dir``, ``created``).
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
            FileNotFoundError: no manifest (the cache was never built, or a build was killed
                before its first manifest write: re-run ``eegssm build-cache``).
        """
        root = Path(cache_dir)
        path = root / MANIFEST_NAME
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no cache manifest; build the cache with "
                f"`eegssm build-cache --data-dir DATA --cache-dir {root}`"
            )
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return cls(
            root,
            {k: v for k, v in data.items() if k not in ("recordings", "failed")},
            list(data.get("recordings", [])),
            list(data.get("failed", [])),
        )

    def to_json(self) -> dict[str, Any]:
        return {**self.header, "recordings": self.recordings, "failed": self.failed}

    def save(self) -> None:
        """Write ``manifest.json`` atomically."""
        atomic.write_json(self.root / MANIFEST_NAME, self.to_json())

    @property
    def subjects(self) -> list[str]:
        """Sorted subject ids of the ``ok`` recordings."""
        return sorted({r["subject"] for r in self.recordings})

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


def entry_window_classes(entry: dict[str, Any]) -> np.ndarray:
    """``(n_windows,)`` int8 :class:`~eegssm.preprocessing.WindowClass` values stored in one
    entry (computed at build time by :func:`eegssm.preprocessing.window_classes`)."""
    lookup = {name: i for i, name in enumerate(CLASS_NAMES)}
    return np.array([lookup[c] for c in entry["classes"]], dtype=np.int8)


def summarize(manifest: Manifest) -> dict[str, Any]:
    """Totals for ``cache-info``: counts, hours, seizure ratio, windows per class, subjects,
    failures (seconds and hours as floats; ratio = seizure seconds / total seconds)."""
    recs = manifest.recordings
    total_s = float(sum(r["duration_s"] for r in recs))
    seizure_s = float(sum(r["seizure_s"] for r in recs))
    windows = {name: 0 for name in CLASS_NAMES}
    for r in recs:
        for name in CLASS_NAMES:
            windows[name] += int(r["class_counts"].get(name, 0))
    splits: dict[str, dict[str, Any]] = {}
    for r in recs:
        s = splits.setdefault(
            r.get("split") or "-", {"recordings": 0, "hours": 0.0, "subjects": set()}
        )
        s["recordings"] += 1
        s["hours"] += r["duration_s"] / 3600
        s["subjects"].add(r["subject"])
    return {
        "cache_dir": str(manifest.root),
        "preset": manifest.header.get("preset"),
        "preset_hash": manifest.header.get("preset_hash"),
        "sfreq": recs[0]["sfreq"] if recs else None,
        "window_samples": recs[0]["window_samples"] if recs else None,
        "recordings": len(recs),
        "failed": len(manifest.failed),
        "hours": total_s / 3600,
        "seizure_hours": seizure_s / 3600,
        "seizure_ratio": seizure_s / total_s if total_s else 0.0,
        "windows": sum(windows.values()),
        "windows_per_class": windows,
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
