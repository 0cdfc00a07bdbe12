"""Build the memory-mapped window cache of a corpus (see :mod:`eegssm.data.manifest` for the
layout).

Per recording, a worker reads the EDF and its annotations, preprocesses and windows it with a
preset, writes ``x``/``y``/``mask`` ``.npy`` files (temporary file, then ``os.replace``) and only
then commits the recording's JSON fragment (again by rename). ``manifest.json`` is assembled from
the fragments. Hence:

- **atomic**: killing the build at any point leaves either a complete entry or none (a fragment
  being replaced is deleted before its arrays are overwritten); stray ``*.tmp`` files are removed
  by the next run;
- **resumable**: a recording whose fragment exists, whose arrays have their recorded sizes and
  whose source size, mtime and preset hash match is skipped;
- **robust**: a recording that cannot be read or preprocessed (``EEGReadError``, missing
  channels, bad annotation file, no read permission, ...) becomes a ``failed`` entry with its
  reason; the run goes on. A *write* error (disk full, no permission on the cache) stops the run
  with :class:`~eegssm.atomic.WriteError` naming the file; the recording being written leaves no
  file behind (its arrays and temporaries are removed) and finished recordings stay cached.

Only one build may run on a cache folder at a time (an advisory ``flock`` on ``.lock``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eegssm import atomic
from eegssm.data import manifest as mf
from eegssm.data.discovery import find_recordings, identify, recording_key

log = logging.getLogger(__name__)

#: Seconds between two manifest writes during a build (and one at the end).
MANIFEST_EVERY_S = 30.0
#: At most this many distinct read/preprocess warnings are kept per entry.
MAX_WARNINGS = 20


@dataclass(frozen=True)
class Job:
    """One recording to cache (plain fields: it is pickled to a worker process)."""

    source: str
    relpath: str
    key: str
    cache_dir: str
    config: dict[str, Any]
    preset_hash: str
    subject: str
    split: str | None
    session: str | None


@dataclass
class BuildReport:
    """What a :func:`build_cache` run did.

    Attributes:
        cache_dir: the cache folder.
        n_found: recordings found under the data folder.
        built: relpaths cached in this run.
        skipped: relpaths already cached (and current).
        failed: failed entries of this run (``relpath``, ``reason``).
        seconds: wall time of the run.
        hours_built: hours of EEG cached in this run.
    """

    cache_dir: Path
    n_found: int = 0
    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    hours_built: float = 0.0

    @property
    def realtime_factor(self) -> float:
        """Seconds of EEG cached per wall second in this run."""
        return self.hours_built * 3600 / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (
            f"{self.n_found} recordings: {len(self.built)} cached, {len(self.skipped)} already "
            f"cached, {len(self.failed)} failed; {self.hours_built:.2f} h of EEG in "
            f"{self.seconds:.1f} s ({self.realtime_factor:.0f}x real time)"
        )


def build_cache(
    data_dir: str | Path,
    cache_dir: str | Path,
    preset: str | Any = "seizure",
    overrides: dict[str, Any] | None = None,
    workers: int = 1,
    retry_failed: bool = False,
    progress: bool = True,
    on_entry: Callable[[dict[str, Any]], None] | None = None,
) -> BuildReport:
    """Cache every EDF/BDF under ``data_dir`` into ``cache_dir`` (resumable, atomic, parallel).

    Args:
        data_dir: corpus folder (searched recursively; see :mod:`eegssm.data.discovery`).
        cache_dir: output folder (created); may lie inside ``data_dir`` (it is not searched).
        preset: preset name (``"seizure"``, ``"eegm2"``) or a
            :class:`~eegssm.preprocessing.PreprocessConfig`.
        overrides: config fields replacing the preset's (e.g. ``{"montage": "chbmit18"}``);
            recorded in the manifest's ``config``.
        workers: worker processes (``<= 1``: run in this process).
        retry_failed: also redo recordings that failed in an earlier run.
        progress: show a tqdm progress bar on stderr.
        on_entry: called in this process with each new entry (ok or failed) as it completes.

    Returns:
        A :class:`BuildReport`; the manifest is at ``cache_dir/manifest.json``.

    Raises:
        RuntimeError: another build holds the cache folder's lock.
        FileNotFoundError: ``data_dir`` does not exist.
        ValueError: unknown preset or montage, invalid override, ``cache_dir`` cannot be created.
        WriteError: an ``OSError``: a file of the cache could not be written (disk full...).
    """
    from eegssm.preprocessing.montages import get_montage
    from eegssm.preprocessing.pipeline import PreprocessConfig, get_preset

    t0 = time.perf_counter()
    root = Path(data_dir).resolve()
    cache = Path(cache_dir).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data folder not found")
    cfg = get_preset(preset) if isinstance(preset, str) else preset
    if overrides:
        cfg = PreprocessConfig(**{**cfg.model_dump(), **overrides})  # validated
    get_montage(cfg.montage)  # an unknown montage fails here, not once per recording
    if not isinstance(cfg, PreprocessConfig):
        raise TypeError(f"preset must be a name or a PreprocessConfig, got {type(preset)}")
    phash = mf.preset_hash(cfg)
    try:
        for sub in (mf.ENTRIES_DIR, mf.ARRAYS_DIR):
            (cache / sub).mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file in the way, no permission, read-only disk
        raise ValueError(f"{cache}: cannot create the cache folder ({err.strerror})") from err
    report = BuildReport(cache)
    with _BuildLock(cache):
        for folder in (cache, cache / mf.ENTRIES_DIR, cache / mf.ARRAYS_DIR):
            for tmp in atomic.remove_stale_temporaries(folder):
                log.info("removed %s left by an interrupted build", tmp.name)
        sources = find_recordings(root, exclude=cache)
        report.n_found = len(sources)
        header = {
            "format_version": mf.FORMAT_VERSION,
            "preset": preset if isinstance(preset, str) else "custom",
            "preset_hash": phash,
            "config": cfg.model_dump(),
            "data_dir": str(root),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        entries: dict[str, dict[str, Any]] = {}
        jobs = []
        for path in sources:
            rel = path.relative_to(root).as_posix()
            key = recording_key(rel)
            old = mf.read_fragment(cache, key)
            if mf.fragment_is_current(cache, old, path, phash, retry_failed):
                entries[key] = old
                report.skipped.append(rel)
                log.info("skip %s (cached)", rel)
                continue
            ident = identify(path, root)
            jobs.append(
                Job(
                    str(path),
                    rel,
                    key,
                    str(cache),
                    cfg.model_dump(),
                    phash,
                    ident.subject,
                    ident.split,
                    ident.session,
                )  # fmt: skip
            )
        keys = [recording_key(p.relative_to(root).as_posix()) for p in sources]
        writer = _ManifestWriter(cache, keys, header, entries)
        try:
            for entry in _run(jobs, workers, progress):
                entries[entry["key"]] = entry
                if entry["status"] == "ok":
                    report.built.append(entry["relpath"])
                    report.hours_built += entry["duration_s"] / 3600
                else:
                    report.failed.append({"relpath": entry["relpath"], "reason": entry["reason"]})
                    log.warning("failed %s: %s", entry["relpath"], entry["reason"])
                if on_entry is not None:
                    on_entry(entry)
                writer.maybe_write()
        finally:
            writer.write()
    report.seconds = time.perf_counter() - t0
    return report


class _ManifestWriter:
    """Writes ``manifest.json`` from the entries known so far, at most every
    :data:`MANIFEST_EVERY_S` seconds (and when asked)."""

    def __init__(self, cache: Path, keys: list[str], header: dict, entries: dict) -> None:
        self.cache, self.keys, self.header, self.entries = cache, keys, header, entries
        self.last = time.monotonic()

    def write(self) -> None:
        found = [self.entries[k] for k in self.keys if k in self.entries]
        manifest = mf.assemble(self.cache, [], self.header, extra=found)
        manifest.save()
        self.last = time.monotonic()

    def maybe_write(self) -> None:
        if time.monotonic() - self.last >= MANIFEST_EVERY_S:
            self.write()


def _run(jobs: list[Job], workers: int, progress: bool):
    """Yield each job's entry as it completes (in this process or in a pool)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), unit="rec", desc="build-cache", disable=not progress or not jobs)
    try:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                bar.set_postfix_str(Path(job.relpath).name, refresh=False)
                yield cache_recording(job)
                bar.update()
            return
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            futures: dict[Future, Job] = {pool.submit(cache_recording, j): j for j in jobs}
            try:
                for fut in as_completed(futures):
                    job = futures[fut]
                    try:
                        entry = fut.result()
                    except BrokenProcessPool:
                        entry = _failed_entry(
                            job,
                            "worker process died (killed, or out of memory); retried on the next "
                            "run",
                            retryable=True,
                        )
                        atomic.write_json(mf.fragment_path(job.cache_dir, job.key), entry)
                    bar.update()
                    yield entry
            except BaseException:  # a write error (disk full) stops the build: start no more
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        bar.close()


def _base_entry(job: Job) -> dict[str, Any]:
    try:
        st = os.stat(job.source)
        size, mtime = st.st_size, st.st_mtime_ns
    except OSError:
        size, mtime = None, None
    return {
        "key": job.key,
        "source": job.source,
        "relpath": job.relpath,
        "source_size": size,
        "source_mtime_ns": mtime,
        "preset_hash": job.preset_hash,
        "subject": job.subject,
        "split": job.split,
        "session": job.session,
    }


def _failed_entry(job: Job, reason: str, retryable: bool = False) -> dict[str, Any]:
    return {**_base_entry(job), "status": "failed", "reason": reason, "retryable": retryable}


def cache_recording(job: Job) -> dict[str, Any]:
    """Read, preprocess, window and write one recording; commit and return its entry.

    Any ``Exception`` (unreadable file, missing channels, bad annotations) gives a ``failed``
    entry with the reason; ``BaseException`` (interrupt, exit) propagates and leaves no fragment.
    """
    from eegssm.preprocessing.pipeline import PreprocessConfig

    fragment = mf.fragment_path(job.cache_dir, job.key)
    fragment.unlink(missing_ok=True)  # the old entry must not point at arrays being replaced
    base = _base_entry(job)
    cfg = PreprocessConfig(**job.config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            windows, stats = _windows(Path(job.source), cfg)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none aborts
            entry = _failed_entry(job, f"{type(exc).__name__}: {exc}")
            atomic.write_json(fragment, entry)
            return entry
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    arrays = Path(job.cache_dir) / mf.ARRAYS_DIR
    files, sizes = {}, {}
    try:
        for name, array in (("x", windows.x), ("y", windows.y), ("mask", windows.mask)):
            files[name] = f"{mf.ARRAYS_DIR}/{job.key}.{name}.npy"
            sizes[name] = atomic.write_npy(arrays / f"{job.key}.{name}.npy", array)
    except OSError:  # disk full, no permission: none of this recording's arrays stays behind
        for rel in files.values():
            (Path(job.cache_dir) / rel).unlink(missing_ok=True)
        raise
    classes = windows.classes
    entry = {
        **base,
        "status": "ok",
        **stats,
        "sfreq": windows.sfreq,
        "n_channels": len(windows.ch_names),
        "ch_names": windows.ch_names,
        "n_windows": len(windows),
        "window_samples": int(windows.x.shape[-1]),
        "stride_samples": int(windows.starts[1] - windows.starts[0]) if len(windows) > 1 else 0,
        "classes": [mf.CLASS_NAMES[c] for c in classes],
        "class_counts": {n: int((classes == i).sum()) for i, n in enumerate(mf.CLASS_NAMES)},
        "files": files,
        "file_sizes": sizes,
        "warnings": messages[:MAX_WARNINGS],
    }
    atomic.write_json(fragment, entry)
    return entry


def _windows(source: Path, cfg: Any) -> tuple[Any, dict[str, Any]]:
    """Windows of one recording (strided views) and its statistics for the manifest."""
    from eegssm.data.discovery import sidecar_annotations
    from eegssm.io import read_recording
    from eegssm.io.annotations.labels import is_seizure
    from eegssm.preprocessing.pipeline import preprocess
    from eegssm.preprocessing.windowing import make_windows, sample_labels

    rec = read_recording(source)
    ann = sidecar_annotations(source)
    sources = (["edf+"] if rec.events else []) + ann.sources
    events = sorted([*rec.events, *ann.events], key=lambda e: (e.start, e.stop))
    duration = rec.duration
    rec = preprocess(rec.copy_with(events=events), cfg)
    windows = make_windows(rec, cfg.window_s, cfg.stride_s, copy=False)
    labels = sample_labels(rec.events, rec.n_times, rec.sfreq)
    stats = {
        "duration_s": duration,
        "seizure_s": float(labels.sum()) / rec.sfreq,
        "n_seizure_events": sum(1 for e in rec.events if is_seizure(e.label)),
        "annotation_sources": sources,
        "interpolated": list(rec.meta.get("interpolated", [])),
        "zeroed": list(rec.meta.get("zeroed", [])),
        "gaps": list(rec.meta.get("gaps", [])),  # EDF+D pauses (s), masked in the windows
        "notes": ann.notes,
    }
    return windows, stats


class _BuildLock:
    """Exclusive advisory lock on ``<cache>/.lock`` (released when the process ends, even if
    killed). A no-op where ``fcntl`` is unavailable."""

    def __init__(self, cache: Path) -> None:
        self.path = cache / ".lock"
        self.fd: int | None = None

    def __enter__(self) -> _BuildLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            raise RuntimeError(
                f"{self.path.parent}: another build-cache run is using this cache folder"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
