"""One piece of work in a forked child process, beside the parent (Linux only).

``eegssm detect`` reads and preprocesses its first recording in a child while the parent imports
PyTorch and loads the model: both are mostly the Python interpreter holding its lock (imports),
so on two threads they take as long as one after the other, while two processes run them on two
cores at once (measured in ``docs/benchmarks/detect_whole.md``).

The child is only an accelerator: :meth:`Child.result` returns None whenever it did not deliver
(no fork possible, any exception, a result that cannot be pickled, the child killed), and the
caller then does the work itself, in-process, where its errors are raised as they always are.
Warnings the child raised are replayed in the parent, under the parent's filters, with the
module that raised them. The child dies with its parent (``PR_SET_PDEATHSIG``) and
:meth:`Child.close` kills it.

The result comes back as a pickle through a pipe, its large buffers (numpy arrays) out of band
in an anonymous shared-memory file (``memfd``): the child copies them there while the parent is
still busy, and the parent maps the file, so the unpickled arrays use those pages with no copy
on the parent's side. (Through the pipe, the parent's reading of 66 MB for an hour of EEG took
~0.2 s, while holding the interpreter lock that its PyTorch import needed.)

A fork is only taken where it is safe and useful: on Linux, from a process with a single Python
thread (a fork copies no other thread; a lock another thread held would stay held in the child),
where shared-memory files can be made.
"""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import struct
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["Child", "available", "start"]

_LENGTH = struct.Struct("<Q")
#: Each out-of-band buffer starts at a multiple of this in the shared-memory file.
_ALIGN = mmap.PAGESIZE


def available() -> bool:
    """Whether :func:`start` can fork here (Linux with ``memfd_create``, one Python thread)."""
    return (
        sys.platform == "linux"
        and hasattr(os, "fork")
        and hasattr(os, "memfd_create")
        and threading.active_count() == 1
    )


def _read_exact(fd: int, n: int) -> bytearray:
    """``n`` bytes from ``fd`` (EOFError if it ends before)."""
    buf = bytearray(n)
    view, done = memoryview(buf), 0
    while done < n:
        k = os.readv(fd, [view[done:]])
        if k == 0:
            raise EOFError(f"pipe closed after {done} of {n} bytes")
        done += k
    return buf


def _write_all(fd: int, data, offset: int | None = None) -> None:
    """All of ``data`` to ``fd``: at its current position, or at ``offset`` (``pwrite``)."""
    view, done = memoryview(data).cast("B"), 0
    while done < len(view):
        if offset is None:
            done += os.write(fd, view[done:])
        else:
            done += os.pwrite(fd, view[done:], offset + done)


def _buffer_offsets(sizes: list[int]) -> list[int]:
    """Where buffers of ``sizes`` bytes start, laid out one after the other, each aligned."""
    offsets, end = [], 0
    for size in sizes:
        offsets.append(end)
        end += -(-size // _ALIGN) * _ALIGN
    return offsets


class Child:
    """A forked child computing ``fn(*args)``; :meth:`result` collects it once."""

    def __init__(self, pid: int, fd: int, shared: int) -> None:
        self.pid, self._fd, self._shared = pid, fd, shared

    def result(self) -> Any | None:
        """The child's value, or None when it failed or returned None (the caller then does the
        work itself). Blocks until the child has sent its result; the warnings it raised are
        re-issued here, in order, when it delivered. The value is handed over, not kept: a
        second call returns None."""
        if self._fd is None:
            return None
        try:
            header = _read_exact(self._fd, _LENGTH.unpack(_read_exact(self._fd, 8))[0])
            n_buffers = _LENGTH.unpack(_read_exact(self._fd, 8))[0]
            sizes = [_LENGTH.unpack(_read_exact(self._fd, 8))[0] for _ in range(n_buffers)]
            # the child wrote the buffers to the shared file: map it, copy nothing
            size = os.fstat(self._shared).st_size
            view = memoryview(mmap.mmap(self._shared, size) if size else b"")
            buffers = [view[o : o + n] for o, n in zip(_buffer_offsets(sizes), sizes)]
            value, caught = pickle.loads(header, buffers=buffers)
        except Exception:  # noqa: BLE001 - nothing or a damaged payload: the caller does the work
            value, caught = None, []
        self._end(kill=False)
        if value is None:  # nothing delivered: the caller does the work, and warns itself
            return None
        for message, category, filename, lineno, module in caught:
            where: dict[str, Any] = {}  # module and registry only when known (None ≠ omitted)
            if module:
                where["module"] = module
                if module in sys.modules:
                    where["registry"] = vars(sys.modules[module]).setdefault(
                        "__warningregistry__", {}
                    )
            warnings.warn_explicit(message, category, filename, lineno, **where)
        return value

    def close(self) -> None:
        """Stop the child if it is still working and discard its result."""
        self._end(kill=True)

    def _end(self, kill: bool) -> None:
        if self._fd is None:
            return
        os.close(self._fd)
        os.close(self._shared)  # mapped buffers keep their pages until they are freed
        self._fd = None
        try:
            if kill:
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ChildProcessError, ProcessLookupError):  # already reaped (SIGCHLD ignored)
            pass


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this (child) process when its parent ends (``PR_SET_PDEATHSIG``)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - without it, the child ends when its pipe write fails
        pass
    if os.getppid() != parent:  # the parent ended before the request took effect
        os._exit(1)


def _module_names() -> dict[str, str]:
    """Source file → module name of the loaded modules (how ``warnings.warn`` names them)."""
    return {
        getattr(m, "__file__", None): name
        for name, m in list(sys.modules.items())
        if getattr(m, "__file__", None)
    }


def start(fn: Callable[..., Any], *args: Any) -> Child | None:
    """Fork a child that computes ``fn(*args)`` and sends it back pickled; None when no child
    can be forked here (see :func:`available`; or the fork itself failed): the caller does the
    work itself."""
    if not available():
        return None
    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or absent streams
            pass
    parent = os.getpid()
    try:
        shared = os.memfd_create("eegssm-child", os.MFD_CLOEXEC)
    except OSError:  # no shared-memory files here (seccomp, old kernel)
        return None
    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        os.close(shared)
        return None
    try:
        pid = os.fork()
    except OSError:  # process limit, memory: the caller does the work
        for fd in (read_fd, write_fd, shared):
            os.close(fd)
        return None
    if pid:
        os.close(write_fd)
        return Child(pid, read_fd, shared)
    code = 1  # the child: never returns, never runs the parent's exit handlers
    try:
        os.close(read_fd)
        _die_with_parent(parent)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = fn(*args)
        names = _module_names()
        record = [
            (w.message, w.category, w.filename, w.lineno, names.get(w.filename)) for w in caught
        ]
        buffers: list[pickle.PickleBuffer] = []
        header = pickle.dumps((value, record), protocol=5, buffer_callback=buffers.append)
        raws = [buf.raw() for buf in buffers]
        offsets = _buffer_offsets([raw.nbytes for raw in raws])
        if raws:
            os.ftruncate(shared, offsets[-1] + raws[-1].nbytes)
        for raw, offset in zip(raws, offsets):
            _write_all(shared, raw, offset)
        _write_all(write_fd, _LENGTH.pack(len(header)))
        _write_all(write_fd, header)
        _write_all(write_fd, _LENGTH.pack(len(raws)))
        for raw in raws:
            _write_all(write_fd, _LENGTH.pack(raw.nbytes))
        code = 0
    except BaseException:  # noqa: BLE001 - any failure: the parent does the work itself
        pass
    finally:
        os._exit(code)
