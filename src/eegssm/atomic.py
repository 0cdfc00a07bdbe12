"""Crash-safe file writes: write a temporary file in the same folder, then ``os.replace`` it.

A reader (or a later run) sees either the old file or the complete new one, never a partial
file. Temporary names end in ``.tmp`` and contain the writer's process id, so that a later run
can remove what a killed run left behind (:func:`remove_stale_temporaries`). Files are flushed
to disk (``fsync``) before the rename, and the folder after it.

Every writer in eegssm goes through this module: the cache (``.npy`` arrays, manifest
fragments), checkpoints (safetensors, JSON, optimizer state), detection outputs and reports.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

TMP_SUFFIX = ".tmp"


def temporary_path(path: Path) -> Path:
    """``<name>.<pid>.tmp`` beside ``path``."""
    return path.with_name(f"{path.name}.{os.getpid()}{TMP_SUFFIX}")


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename inside it) to disk, where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory file descriptors
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: Path, path: Path) -> None:
    """Atomically move a finished temporary file onto its final name."""
    os.replace(tmp, path)
    fsync_dir(Path(path).parent)


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Write ``path`` by calling ``write(tmp_path)``, fsync the result, then rename it.

    The temporary file is removed if ``write`` fails; the previous ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write a UTF-8 text file atomically."""
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, obj: Any, indent: int = 1) -> Path:
    """Write ``obj`` as JSON (UTF-8, indented) to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=indent) + "\n")


def write_npy(path: str | Path, array: np.ndarray, chunk_bytes: int = 64 << 20) -> int:
    """Write ``array`` to a ``.npy`` file atomically, copying at most ``chunk_bytes`` at a time.

    ``array`` may be a strided view (e.g. overlapping windows): it is copied into the
    memory-mapped output along its first axis in chunks, so a view of a 1 h recording never
    becomes a full in-memory copy.

    Returns:
        The size of the written file in bytes.
    """
    path = Path(path)
    tmp = temporary_path(path)
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=array.dtype, shape=array.shape)
    try:
        if array.ndim and array.shape[0]:
            row = max(1, array[0].nbytes)
            step = max(1, chunk_bytes // row)
            for i in range(0, array.shape[0], step):
                out[i : i + step] = array[i : i + step]
        elif array.size:
            out[...] = array
        out.flush()
    finally:
        del out
    commit(tmp, path)
    return path.stat().st_size


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete ``*.tmp`` files left in ``folder`` by killed writers; returns what was removed.

    Call only while holding the folder's build lock (no writer is running).
    """
    removed = []
    for tmp in Path(folder).glob(f"*{TMP_SUFFIX}"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except FileNotFoundError:
            pass
    return removed
