"""Crash-safe file writes: write a temporary file in the same folder, then ``os.replace`` it.

A reader (or a later run) sees either the old file or the complete new one, never a partial
file. Temporary names end in ``.tmp`` and contain the writer's process id, so that a later run
can remove what a killed run left behind (:func:`remove_stale_temporaries`). Files are flushed
to disk (``fsync``) before the rename, and the folder after it.

Every writer in eegssm goes through this module: the cache (``.npy`` arrays, manifest
fragments), checkpoints (safetensors, JSON, optimizer state), detection outputs and reports.

Failures: a write that fails (disk full, no permission, read-only disk) removes its temporary
file and raises :class:`WriteError`, an ``OSError`` whose message names the file and the cause.
Data is written with plain ``write`` calls, never through a memory map: on a full disk a write
through a map of a sparse file kills the process with ``SIGBUS`` instead of raising ``ENOSPC``.

Groups: files written inside ``with together():`` appear together or not at all: each is written
and flushed to its temporary file, and all are renamed when the block ends; if anything in the
block fails, every temporary is removed and no file of the group appears.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

TMP_SUFFIX = ".tmp"

#: The files of the active :func:`together` block: ``[(temporary, final)]``, or None.
_GROUP: ContextVar[list[tuple[Path, Path]] | None] = ContextVar("eegssm_atomic", default=None)


class WriteError(OSError):
    """A file could not be written; ``str()`` is ``"<file>: cannot write (<cause>)"``."""

    def __str__(self) -> str:
        return f"{self.filename}: cannot write ({self.strerror or 'error'})"


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


def _write_error(path: Path, err: OSError) -> WriteError:
    if isinstance(err, WriteError):
        return err
    return WriteError(err.errno, err.strerror or str(err), str(path))


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Write ``path`` by calling ``write(tmp_path)``, fsync the result, then rename it.

    The temporary file is removed if ``write`` fails; the previous ``path`` is untouched.
    Inside :func:`together` the rename waits for the end of the block.

    Raises:
        WriteError: the file or its folder could not be written (disk full, permission...).
    """
    path = Path(path)
    tmp = temporary_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        group = _GROUP.get()
        if group is None:
            commit(tmp, path)
        elif (tmp, path) not in group:
            group.append((tmp, path))
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _write_error(path, err) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write bytes atomically."""
    return write_atomic(path, lambda p: p.write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    """Write a UTF-8 text file atomically (``\\n`` line ends)."""
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8", newline="\n"))


def write_json(path: str | Path, obj: Any, indent: int = 1, sort_keys: bool = False) -> Path:
    """Write ``obj`` as JSON (UTF-8, indented) to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\n")


def write_npy(path: str | Path, array: np.ndarray, chunk_bytes: int = 64 << 20) -> int:
    """Write ``array`` to a ``.npy`` file atomically, copying at most ``chunk_bytes`` at a time.

    ``array`` may be a strided view (e.g. overlapping windows): it is copied along its first
    axis in chunks with plain file writes, so a view of a 1 h recording never becomes a full
    in-memory copy, and a full disk raises :class:`WriteError` (never ``SIGBUS``).

    Returns:
        The size of the written file in bytes.
    """
    path = Path(path)

    def write(tmp: Path) -> None:
        header = np.lib.format.header_data_from_array_1_0(array)
        header["fortran_order"] = False  # written in C order below, whatever the strides
        with open(tmp, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
            if array.ndim and array.shape[0] and array.size:
                row = max(1, array[0].nbytes)
                step = max(1, chunk_bytes // row)
                for i in range(0, array.shape[0], step):
                    f.write(np.ascontiguousarray(array[i : i + step]).data)
            elif array.size:
                f.write(np.ascontiguousarray(array).data)

    write_atomic(path, write)
    return (temporary_path(path) if _GROUP.get() is not None else path).stat().st_size


@contextlib.contextmanager
def together() -> Iterator[None]:
    """Files written through this module inside the block appear together or not at all.

    Each file is written and flushed to its temporary name; when the block ends without an
    error, all are renamed in the order they were written. On any error in the block (or in a
    rename) the temporaries are removed, and files of the group already renamed are deleted.
    Nested blocks join the outermost one. Do not write a checkpoint folder inside a block
    (its files must be in place before the folder is renamed).
    """
    if _GROUP.get() is not None:
        yield
        return
    pending: list[tuple[Path, Path]] = []
    token = _GROUP.set(pending)
    try:
        yield
    except BaseException:
        _discard(pending, [])
        raise
    finally:
        _GROUP.reset(token)
    done: list[Path] = []
    try:
        for tmp, path in pending:
            os.replace(tmp, path)
            done.append(path)
        for folder in dict.fromkeys(path.parent for _, path in pending):
            fsync_dir(folder)
    except OSError as err:
        _discard(pending, done)
        raise _write_error(pending[len(done)][1], err) from err
    except BaseException:
        _discard(pending, done)
        raise


def _discard(pending: list[tuple[Path, Path]], done: list[Path]) -> None:
    for tmp, _ in pending:
        tmp.unlink(missing_ok=True)
    for path in done:
        path.unlink(missing_ok=True)


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


class NpyWriter:
    """A ``.npy`` file written piece by piece with plain ``pwrite`` calls into a temporary file,
    then renamed onto its name (:meth:`commit`).

    Fills a ``(T,)`` or ``(C, T)`` array along its last axis (blocks of a recording, in any
    order): :meth:`write` ``(start, block)`` puts ``block (C, n)`` at samples ``start:start+n``
    of every row. No memory map is used, so a full disk raises ``OSError`` (``ENOSPC``) at the
    write that does not fit instead of killing the process with ``SIGBUS``.

    Life cycle: ``write`` ... → :meth:`finish` (checks every sample was written, fsync) →
    :meth:`commit` (rename). :meth:`discard` removes the temporary file and, after a commit, the
    file itself: call it when anything else of the same unit of work fails.
    """

    def __init__(self, path: str | Path, shape: tuple[int, ...], dtype: Any) -> None:
        self.path = Path(path)
        self.tmp = temporary_path(self.path)
        self.shape = tuple(int(n) for n in shape)
        if len(self.shape) not in (1, 2):
            raise ValueError(f"NpyWriter writes (T,) or (C, T) arrays, got shape {self.shape}")
        self.dtype = np.dtype(dtype)
        self.committed = False
        self._filled = 0
        import io

        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header,
            {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
             "shape": self.shape},
        )  # fmt: skip
        self._offset = len(header.getvalue())
        self._fd: int | None = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            self._pwrite(header.getvalue(), 0)
        except BaseException:
            self.discard()
            raise

    @property
    def n_times(self) -> int:
        return self.shape[-1]

    def _pwrite(self, data: bytes | memoryview, offset: int) -> None:
        view = memoryview(data).cast("B")
        while len(view):
            n = os.pwrite(self._fd, view, offset)
            view, offset = view[n:], offset + n

    def write(self, start: int, block: np.ndarray) -> None:
        """Put ``block`` (``(n,)`` or ``(C, n)``, cast to the file's dtype) at samples
        ``[start, start + n)``."""
        block = np.asarray(block)
        if (
            block.shape[:-1] != self.shape[:-1]
            or start < 0
            or start + block.shape[-1] > self.n_times
        ):
            raise ValueError(
                f"{self.path.name}: block {block.shape} at {start} does not fit {self.shape}"
            )
        n, size = block.shape[-1], self.dtype.itemsize
        rows = block.reshape(-1, n)
        for r, row in enumerate(rows):
            at = self._offset + (r * self.n_times + start) * size
            self._pwrite(np.ascontiguousarray(row, dtype=self.dtype).data, at)
        self._filled += n

    def finish(self) -> int:
        """Flush the temporary file to disk; returns its size in bytes.

        Raises:
            ValueError: fewer samples written than the array holds.
        """
        if self._filled != self.n_times:
            raise ValueError(f"{self.path.name}: {self._filled} of {self.n_times} samples written")
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        return self._offset + int(np.prod(self.shape)) * self.dtype.itemsize

    def commit(self) -> None:
        """Rename the finished temporary file onto ``path``."""
        commit(self.tmp, self.path)
        self.committed = True

    def discard(self) -> None:
        """Remove the temporary file (and ``path`` if this writer committed it); never raises."""
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        for path in (self.tmp, self.path if self.committed else None):
            if path is not None:
                try:
                    path.unlink(missing_ok=True)
                except OSError:
                    pass
