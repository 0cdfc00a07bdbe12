"""Build the cache of a corpus: each recording preprocessed once and stored as a continuous array
(see :mod:`eegssm.data.manifest` for the layout).

Per recording, a worker reads the EDF and its annotations, preprocesses it exactly as
``eegssm detect`` would (whole in memory when its raw samples fit
:data:`~eegssm.preprocessing.blockwise.IN_MEMORY_BYTES`, else block by block with
:class:`~eegssm.preprocessing.blockwise.BlockwisePreprocessor`, so memory stays bounded by one
block per worker), writes the signal and its per-sample labels with plain file writes into
temporary files, renames them, and only then commits the recording's JSON fragment (again by
rename). ``manifest.json`` is assembled from the fragments. Hence:

- **atomic**: killing the build at any point leaves either a complete entry or none (a fragment
  being replaced is deleted before its arrays are overwritten); stray ``*.tmp`` files are removed
  by the next run;
- **resumable**: a recording whose fragment exists, whose arrays have their recorded sizes and
  whose source size, mtime and preset hash match is skipped;
- **robust**: a recording that cannot be read or preprocessed (``EEGReadError``, missing
  channels, bad annotation file, no read permission, ...) becomes a ``failed`` entry with its
  reason and the run goes on; a *write* error (disk full, no permission on the cache) stops the
  run with :class:`CacheWriteError` naming the file, leaving none of that recording's files;
- **sharded**: ``shard=(K, N)`` builds the recordings whose relpath hashes to part ``K`` of ``N``
  (disjoint, stable when files are added), so N jobs (a Slurm array) build one corpus into the
  same folder; each writes ``shards/K-of-N.json`` and :func:`merge_shards` (run by the last shard
  to finish, or ``eegssm build-cache --merge``) writes ``manifest.json``.

A full build locks the cache folder (an advisory ``flock`` on ``.lock``); a shard takes that
lock shared and its own ``.lock-K-of-N`` exclusively, so shards run side by side but not beside
a full build or a second copy of themselves.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
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

import numpy as np

from eegssm import atomic
from eegssm.data import manifest as mf
from eegssm.data.discovery import find_recordings, identify, recording_key

log = logging.getLogger(__name__)

#: Seconds between two manifest writes during a build (and one at the end).
MANIFEST_EVERY_S = 30.0
#: At most this many distinct read/preprocess warnings are kept per entry.
MAX_WARNINGS = 20
#: float16 holds magnitudes up to this; a recording beyond it fails (build it in float32).
FLOAT16_MAX = 65504.0


class CacheWriteError(OSError):
    """A cache file could not be written (disk full, no permission, read-only disk): the build
    stops. ``str()`` is ``"<file>: cannot write (<cause>)"``."""

    def __str__(self) -> str:
        return f"{self.filename}: cannot write ({self.strerror or 'error'})"


def _write_error(path: str | Path, err: OSError) -> CacheWriteError:
    if isinstance(err, CacheWriteError):
        return err
    return CacheWriteError(err.errno, err.strerror or str(err), str(path))


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
    dtype: str = "float32"
    block_s: float | None = None


@dataclass
class BuildReport:
    """What a :func:`build_cache` run did.

    Attributes:
        cache_dir: the cache folder.
        n_found: recordings found under the data folder (in this shard).
        built: relpaths cached in this run.
        skipped: relpaths already cached (and current).
        failed: failed entries of this run (``relpath``, ``reason``).
        seconds: wall time of the run.
        hours_built: hours of EEG cached in this run.
        workers: worker processes used.
        shard: ``(K, N)`` or None.
        merged: whether ``manifest.json`` now covers the whole corpus (always for a full build;
            for a shard, when it was the last one to finish).
    """

    cache_dir: Path
    n_found: int = 0
    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    hours_built: float = 0.0
    workers: int = 1
    shard: tuple[int, int] | None = None
    merged: bool = False

    @property
    def realtime_factor(self) -> float:
        """Seconds of EEG cached per wall second in this run."""
        return self.hours_built * 3600 / self.seconds if self.seconds > 0 else 0.0

    @property
    def hours_per_minute_per_worker(self) -> float:
        """Build rate: hours of EEG cached per wall minute per worker process."""
        minutes = self.seconds / 60
        return self.hours_built / minutes / max(self.workers, 1) if minutes > 0 else 0.0

    def summary(self) -> str:
        part = f"shard {self.shard[0]}/{self.shard[1]}: " if self.shard else ""
        return (
            f"{part}{self.n_found} recordings: {len(self.built)} cached, {len(self.skipped)} "
            f"already cached, {len(self.failed)} failed; {self.hours_built:.2f} h of EEG in "
            f"{self.seconds:.1f} s ({self.hours_per_minute_per_worker:.2f} h of EEG per minute "
            f"per worker, {self.workers} worker(s))"
        )


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` → ``(K, N)`` with ``1 <= K <= N``.

    Raises:
        ValueError: anything else (the message says what is expected).
    """
    try:
        k, n = (int(p) for p in str(text).split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected K/N, e.g. 3/16") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text!r}: need 1 <= K <= N (shards are numbered from 1)")
    return k, n


def in_shard(relpath: str, shard: tuple[int, int] | None) -> bool:
    """Whether a recording belongs to shard ``(K, N)``: sha1 of its relpath modulo N is K - 1
    (disjoint, covering, and independent of which other files exist)."""
    if shard is None:
        return True
    k, n = shard
    return int(hashlib.sha1(relpath.encode()).hexdigest()[:8], 16) % n == k - 1


def build_cache(
    data_dir: str | Path,
    cache_dir: str | Path,
    preset: str | Any = "seizure",
    overrides: dict[str, Any] | None = None,
    workers: int = 1,
    retry_failed: bool = False,
    progress: bool = True,
    on_entry: Callable[[dict[str, Any]], None] | None = None,
    shard: tuple[int, int] | str | None = None,
    dtype: str = "float32",
    pattern: str | None = None,
    limit: int | None = None,
    block_s: float | None = None,
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
        shard: ``(K, N)`` or ``"K/N"``: build only part K of N (see :func:`in_shard`).
        dtype: ``"float32"`` (default) or ``"float16"`` (half the size; ~5e-4 relative
            precision, values beyond ±65504 µV fail the recording).
        pattern: only files whose name matches this glob (e.g. ``"*_2.edf"``).
        limit: only the first ``limit`` recordings (sorted by relative path; before sharding).
        block_s: preprocess every recording block by block with blocks of this many seconds
            (default: whole when it fits in memory, as ``eegssm detect`` does).

    Returns:
        A :class:`BuildReport`; the manifest is at ``cache_dir/manifest.json`` (for a shard:
        ``cache_dir/shards/K-of-N.json``, and ``manifest.json`` once every shard finished).

    Raises:
        RuntimeError: another build holds the cache folder's (or this shard's) lock.
        FileNotFoundError: ``data_dir`` does not exist.
        ValueError: unknown preset, montage or dtype, invalid override or shard, ``cache_dir``
            cannot be created.
        CacheWriteError: an ``OSError``: a cache file could not be written (disk full...).
    """
    from eegssm.preprocessing.montages import get_montage
    from eegssm.preprocessing.pipeline import PreprocessConfig, get_preset

    t0 = time.perf_counter()
    root = Path(data_dir).resolve()
    cache = Path(cache_dir).resolve()
    if isinstance(shard, str):
        shard = parse_shard(shard)
    if shard is not None and not 1 <= shard[0] <= shard[1]:
        raise ValueError(f"shard {shard}: need 1 <= K <= N")
    if dtype not in mf.DTYPES:
        raise ValueError(f"dtype must be one of {mf.DTYPES}, got {dtype!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data folder not found")
    cfg = get_preset(preset) if isinstance(preset, str) else preset
    if not isinstance(cfg, PreprocessConfig):
        raise TypeError(f"preset must be a name or a PreprocessConfig, got {type(preset)}")
    if overrides:
        cfg = PreprocessConfig(**{**cfg.model_dump(), **overrides})  # validated
    get_montage(cfg.montage)  # an unknown montage fails here, not once per recording
    phash = mf.preset_hash(cfg, dtype)
    try:
        for sub in (mf.ENTRIES_DIR, mf.ARRAYS_DIR) + ((mf.SHARDS_DIR,) if shard else ()):
            (cache / sub).mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file in the way, no permission, read-only disk
        raise ValueError(f"{cache}: cannot create the cache folder ({err.strerror})") from err
    report = BuildReport(cache, workers=max(1, workers), shard=shard)
    with _BuildLock(cache, shard):
        sources = find_recordings(root, exclude=cache)
        if pattern:
            sources = [p for p in sources if fnmatch.fnmatch(p.name, pattern)]
        if limit:
            sources = sources[:limit]
        rels = [p.relative_to(root).as_posix() for p in sources]
        keep = [in_shard(rel, shard) for rel in rels]
        sources = [p for p, k in zip(sources, keep) if k]
        rels = [r for r, k in zip(rels, keep) if k]
        keys = [recording_key(rel) for rel in rels]
        _remove_temporaries(cache, None if shard is None else keys)
        report.n_found = len(sources)
        header = {
            "format_version": mf.FORMAT_VERSION,
            "preset": preset if isinstance(preset, str) else "custom",
            "preset_hash": phash,
            "config": cfg.model_dump(),
            "dtype": dtype,
            "data_dir": str(root),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        entries: dict[str, dict[str, Any]] = {}
        jobs = []
        for path, rel, key in zip(sources, rels, keys):
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
                    dtype,
                    block_s,
                )  # fmt: skip
            )
        target = mf.shard_path(cache, shard) if shard else cache / mf.MANIFEST_NAME
        writer = _ManifestWriter(cache, target, keys, {**header, "shard": shard}, entries)
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
        except BaseException:
            writer.write(complete=False, quiet=True)  # best effort: the fragments are the truth
            raise
        writer.write(complete=True)
    if shard is None:
        report.merged = True
    else:
        report.merged = _merge_if_complete(cache, shard[1])
    report.seconds = time.perf_counter() - t0
    return report


def merge_shards(cache_dir: str | Path) -> mf.Manifest:
    """Write ``manifest.json`` from the shard manifests ``shards/K-of-N.json`` of a sharded build.

    Raises:
        FileNotFoundError: no shard manifest in the folder.
        ValueError: shards missing or unfinished (named), or built with different settings.
        CacheWriteError: the manifest could not be written.
    """
    import json

    cache = Path(cache_dir)
    found = sorted((cache / mf.SHARDS_DIR).glob("*-of-*.json"))
    if not found:
        raise FileNotFoundError(f"{cache}: no shards/K-of-N.json to merge (build with --shard)")
    parts = {}
    for path in found:
        with open(path, encoding="utf-8") as f:
            parts[path.name] = json.load(f)
    counts = {p["shard"][1] for p in parts.values()}
    if len(counts) != 1:
        raise ValueError(f"{cache}: shards of different N ({sorted(counts)}); rebuild with one N")
    n = counts.pop()
    names = [mf.shard_path(cache, (k, n)).name for k in range(1, n + 1)]
    missing = [name for name in names if not parts.get(name, {}).get("complete")]
    if missing:
        raise ValueError(
            f"{cache}: shards not finished: {', '.join(m.removesuffix('.json') for m in missing)}"
            " (re-run them: they resume where they stopped)"
        )
    hashes = {parts[name]["preset_hash"] for name in names}
    if len(hashes) != 1:
        raise ValueError(f"{cache}: shards built with different settings (preset hashes {hashes})")
    first = parts[names[0]]
    header = {k: v for k, v in first.items() if k not in ("recordings", "failed", "shard")}
    header["complete"] = True
    header["shards"] = n
    entries = [e for name in names for e in parts[name]["recordings"] + parts[name]["failed"]]
    manifest = mf.assemble(cache, [], header, extra=entries)
    try:
        manifest.save()
    except OSError as err:
        raise _write_error(cache / mf.MANIFEST_NAME, err) from err
    return manifest


def _merge_if_complete(cache: Path, n: int) -> bool:
    """Merge when every shard of ``n`` has finished (the last one to finish does it)."""
    try:
        merge_shards(cache)
    except ValueError:
        return False
    log.info("all %d shards finished: wrote %s", n, cache / mf.MANIFEST_NAME)
    return True


def _remove_temporaries(cache: Path, keys: list[str] | None) -> None:
    """Delete ``*.tmp`` files killed runs left (all of them, or only those of ``keys``: other
    shards may be writing theirs)."""
    own = None
    if keys is not None:
        own = {f"{k}.json" for k in keys} | {f"{k}.{a}.npy" for k in keys for a in _ARRAYS}
    for folder in (cache, cache / mf.ENTRIES_DIR, cache / mf.ARRAYS_DIR, cache / mf.SHARDS_DIR):
        for tmp in folder.glob(f"*{atomic.TMP_SUFFIX}"):
            final = tmp.name.rsplit(".", 2)[0]  # <final name>.<pid>.tmp
            if own is not None and final not in own:
                continue
            tmp.unlink(missing_ok=True)
            log.info("removed %s left by an interrupted build", tmp.name)


class _ManifestWriter:
    """Writes the manifest (or a shard's) from the entries known so far, at most every
    :data:`MANIFEST_EVERY_S` seconds (and when asked)."""

    def __init__(self, cache: Path, path: Path, keys: list[str], header: dict, entries: dict):
        self.cache, self.path, self.keys = cache, path, keys
        self.header, self.entries = header, entries
        self.last = time.monotonic()

    def write(self, complete: bool = False, quiet: bool = False) -> None:
        found = [self.entries[k] for k in self.keys if k in self.entries]
        header = {**self.header, "complete": complete}
        if header.get("shard") is None:
            header.pop("shard", None)
        manifest = mf.assemble(self.cache, [], header, extra=found)
        try:
            manifest.save(self.path)
        except OSError as err:
            if not quiet:
                raise _write_error(self.path, err) from err
        self.last = time.monotonic()

    def maybe_write(self) -> None:
        if time.monotonic() - self.last >= MANIFEST_EVERY_S:
            self.write()


def _run(jobs: list[Job], workers: int, progress: bool):
    """Yield each job's entry as it completes (in this process or in a pool)."""
    from tqdm.auto import tqdm

    hours = 0.0
    bar = tqdm(total=len(jobs), unit="rec", desc="build-cache", disable=not progress or not jobs)
    try:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                bar.set_postfix_str(Path(job.relpath).name, refresh=False)
                entry = cache_recording(job)
                hours += entry.get("duration_s", 0.0) / 3600
                bar.set_postfix_str(f"{hours:.1f} h of EEG", refresh=False)
                bar.update()
                yield entry
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
                            "worker process died (killed, or out of memory); retried on the "
                            "next run",
                            retryable=True,
                        )
                        _write_fragment(job, entry)
                    hours += entry.get("duration_s", 0.0) / 3600
                    bar.set_postfix_str(f"{hours:.1f} h of EEG", refresh=False)
                    bar.update()
                    yield entry
            except BaseException:  # a write error (disk full) stops the build: start no more
                pool.shutdown(wait=True, cancel_futures=True)
                _remove_temporaries(Path(jobs[0].cache_dir), [j.key for j in jobs])
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


def _write_fragment(job: Job, entry: dict[str, Any]) -> None:
    path = mf.fragment_path(job.cache_dir, job.key)
    try:
        atomic.write_json(path, entry)
    except OSError as err:
        raise _write_error(path, err) from err


_ARRAYS = ("signal", "labels")


def cache_recording(job: Job) -> dict[str, Any]:
    """Read, preprocess and write one recording; commit and return its entry.

    Any ``Exception`` while reading or preprocessing (unreadable file, missing channels, bad
    annotations) gives a ``failed`` entry with the reason. A write error raises
    :class:`CacheWriteError` after removing every file of this recording; ``BaseException``
    (interrupt, exit) propagates and leaves no fragment.
    """
    from eegssm.preprocessing.pipeline import PreprocessConfig

    fragment = mf.fragment_path(job.cache_dir, job.key)
    old = mf.read_fragment(job.cache_dir, job.key)
    try:  # the old entry must not point at arrays being replaced
        fragment.unlink(missing_ok=True)
    except OSError as err:
        raise _write_error(fragment, err) from err
    if old and old.get("files"):
        ours = {f"{mf.ARRAYS_DIR}/{job.key}.{a}.npy" for a in _ARRAYS}
        for rel in set(old["files"].values()) - ours:  # an older layout's arrays
            (Path(job.cache_dir) / rel).unlink(missing_ok=True)
    cfg = PreprocessConfig(**job.config)
    arrays = Path(job.cache_dir) / mf.ARRAYS_DIR
    writers: list[atomic.NpyWriter] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            entry = _preprocess_and_write(job, cfg, arrays, writers)
        except CacheWriteError:
            for w in writers:
                w.discard()
            raise
        except Exception as exc:  # noqa: BLE001 - every read failure is reported, none aborts
            for w in writers:
                w.discard()
            entry = _failed_entry(job, f"{type(exc).__name__}: {exc}")
            _write_fragment(job, entry)
            return entry
        except BaseException:
            for w in writers:
                w.discard()
            raise
    entry["warnings"] = list(dict.fromkeys(str(w.message) for w in caught))[:MAX_WARNINGS]
    try:
        _write_fragment(job, entry)
    except BaseException:
        for w in writers:
            w.discard()
        raise
    return entry


class _Arrays:
    """The two array writers of one recording; a write error becomes :class:`CacheWriteError`."""

    def __init__(self, folder: Path, key: str, n_channels: int, n_times: int, dtype: str,
                 writers: list) -> None:  # fmt: skip
        self.paths = {a: folder / f"{key}.{a}.npy" for a in _ARRAYS}
        self.signal = self._open("signal", (n_channels, n_times), dtype, writers)
        self.labels = self._open("labels", (n_times,), np.uint8, writers)

    def _open(self, name: str, shape: tuple, dtype: Any, writers: list) -> atomic.NpyWriter:
        try:
            w = atomic.NpyWriter(self.paths[name], shape, dtype)
        except OSError as err:
            raise _write_error(self.paths[name], err) from err
        writers.append(w)
        return w

    def write(self, writer: atomic.NpyWriter, start: int, block: np.ndarray) -> None:
        try:
            writer.write(start, block)
        except OSError as err:
            raise _write_error(writer.path, err) from err

    def commit(self) -> dict[str, int]:
        sizes = {}
        for name, w in (("signal", self.signal), ("labels", self.labels)):
            try:
                sizes[name] = w.finish()
            except OSError as err:
                raise _write_error(w.path, err) from err
        for w in (self.signal, self.labels):
            try:
                w.commit()
            except OSError as err:
                raise _write_error(w.path, err) from err
        return sizes


def _preprocess_and_write(job: Job, cfg: Any, folder: Path, writers: list) -> dict[str, Any]:
    """Preprocess ``job``'s recording as ``eegssm detect`` would, write its arrays (committed)
    and return its ``ok`` entry (without ``warnings``)."""
    from eegssm.data.discovery import sidecar_annotations
    from eegssm.io import open_recording
    from eegssm.io.annotations.labels import is_seizure
    from eegssm.preprocessing.blockwise import BlockwisePreprocessor, fits_in_memory
    from eegssm.preprocessing.filters import Normalization
    from eegssm.preprocessing.pipeline import preprocess
    from eegssm.preprocessing.windowing import sample_labels

    source_path = Path(job.source)
    digest = _sha256(source_path)
    source = open_recording(source_path)
    ann = sidecar_annotations(source_path)
    ann_sources = (["edf+"] if source.events else []) + ann.sources
    events = sorted([*source.events, *ann.events], key=lambda e: (e.start, e.stop))
    duration = source.duration
    blockwise = job.block_s is not None or not fits_in_memory(source)
    if not blockwise:
        rec = preprocess(source.load().copy_with(events=events), cfg, normalize=False)
        sfreq, n_times, ch_names, meta = rec.sfreq, rec.n_times, rec.ch_names, rec.meta
        norm_dict = meta["normalization"]
    else:
        pre = BlockwisePreprocessor(source, cfg, job.block_s)
        pre.scan()
        sfreq, n_times, ch_names = pre.sfreq, pre.n_times, pre.ch_names
        meta = {**source.meta, **pre.montage_meta, "flat_inputs": list(pre.flat_inputs), "flat": [
            n for n, f in zip(pre.ch_names, pre.flat) if f
        ]}  # fmt: skip
        norm_dict = None if pre.normalization is None else pre.normalization.to_dict()
    norm = None if norm_dict is None else Normalization.from_dict(norm_dict)
    c = len(ch_names)
    if job.dtype == "float16":  # half-precision numbers must be centred (= center for z-score)
        offset = _channel_means(None if blockwise else rec.data, pre if blockwise else None)
    else:  # float32: normalising a stored window is one multiplication, bit for bit
        offset = np.zeros(c, dtype=np.float32) if norm is None else norm.center
    stored = _Arrays(folder, job.key, c, n_times, job.dtype, writers)

    def put(start: int, block: np.ndarray) -> None:
        centred = np.asarray(block, dtype=np.float32) - offset[:, None]
        if job.dtype == "float16" and np.abs(centred).max(initial=0.0) > FLOAT16_MAX:
            raise ValueError(
                f"{job.source}: values beyond ±{FLOAT16_MAX:g} µV do not fit float16; build "
                "this cache with --dtype float32"
            )
        stored.write(stored.signal, start, centred)

    if not blockwise:
        put(0, rec.data)
    else:
        start = 0
        for block in pre.blocks(normalize=False):
            put(start, block)
            start += block.shape[1]
    labels = sample_labels(events, n_times, sfreq)
    stored.write(stored.labels, 0, labels)
    sizes = stored.commit()
    return {
        **_base_entry(job),
        "status": "ok",
        "source_sha256": digest,
        "duration_s": duration,
        "n_times": int(n_times),
        "sfreq": float(sfreq),
        "n_channels": c,
        "ch_names": list(ch_names),
        "montage": cfg.montage,
        "interpolated": list(meta.get("interpolated", [])),
        "zeroed": list(meta.get("zeroed", [])),
        "flat": list(meta.get("flat", [])),
        "flat_inputs": list(meta.get("flat_inputs", [])),
        "dropped": list(meta.get("dropped", [])),
        "gaps": [list(g) for g in meta.get("gaps", [])],
        "dtype": job.dtype,
        "offset": [float(v) for v in offset],
        "normalization": norm_dict,
        "events": [
            {"start": e.start, "stop": e.stop, "label": e.label, "channel": e.channel}
            for e in events
        ],
        "seizure_s": float(labels.sum()) / sfreq,
        "n_seizure_events": sum(1 for e in events if is_seizure(e.label)),
        "seizure_runs": mf.label_runs(labels),
        "annotation_sources": ann_sources,
        "blockwise": blockwise,
        "files": {a: f"{mf.ARRAYS_DIR}/{job.key}.{a}.npy" for a in _ARRAYS},
        "file_sizes": sizes,
        "notes": ann.notes,
    }


def _channel_means(data: np.ndarray | None, pre: Any | None) -> np.ndarray:
    """``(C,)`` float32 channel means of the filtered signal (whole, or from the block scan)."""
    if data is not None:
        return data.mean(axis=-1, dtype=np.float64).astype(np.float32)
    return np.asarray(pre.mean, dtype=np.float64).ravel().astype(np.float32)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _BuildLock:
    """Advisory locks on the cache folder (released when the process ends, even if killed): a
    full build holds ``.lock`` exclusively; a shard holds it shared plus ``.lock-K-of-N``
    exclusively. A no-op where ``fcntl`` is unavailable."""

    def __init__(self, cache: Path, shard: tuple[int, int] | None = None) -> None:
        self.cache, self.shard = cache, shard
        self.fds: list[int] = []

    def _take(self, name: str, exclusive: bool, what: str) -> None:
        import fcntl

        fd = os.open(self.cache / name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self.__exit__()
            raise RuntimeError(f"{self.cache}: {what} is using this cache folder") from None
        self.fds.append(fd)

    def __enter__(self) -> _BuildLock:
        try:
            import fcntl  # noqa: F401
        except ImportError:  # pragma: no cover - Windows
            return self
        if self.shard is None:
            self._take(".lock", True, "another build-cache run")
        else:
            k, n = self.shard
            self._take(".lock", False, "a full (unsharded) build-cache run")
            self._take(f".lock-{k}-of-{n}", True, f"another build of shard {k}/{n}")
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []
