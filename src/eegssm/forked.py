"""One piece of work in a forked child process, beside the parent (Linux only).

``eegssm detect`` reads and preprocesses its first recording in a child while the parent imports
PyTorch and loads the model: both are mostly the Python interpreter holding its lock (imports),
so on two threads they take as long as one after the other, while two processes run them on two
cores at once (measured in ``docs/benchmarks/detect_whole.md``).

The child is only an accelerator: :meth:`Child.result` returns None whenever it did not deliver
(any exception, a result that cannot be pickled, the child killed), and the caller then does the
work itself, in-process, where its errors are raised as they always are. Warnings the child
raised are replayed in the parent (through the parent's warning filters).

A fork is only taken where it is safe and useful: on Linux, from a process with a single Python
thread (a fork copies no other thread; a lock another thread held would stay held in the child).
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["Child", "available", "start"]


def available() -> bool:
    """Whether :func:`start` can fork here (Linux, one Python thread)."""
    return sys.platform == "linux" and hasattr(os, "fork") and threading.active_count() == 1


class Child:
    """A forked child computing ``fn(*args)``; :meth:`result` collects it once."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self._fd = pid, fd
        self._done, self._value = False, None

    def result(self) -> Any | None:
        """The child's value, or None when it failed or returned None (the caller then does the
        work itself). Blocks until the child has sent its result and exited; the warnings it
        raised are re-issued here, in order, when it delivered."""
        if self._done:
            return self._value
        self._done = True
        with os.fdopen(self._fd, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0 or not payload:
            return None
        try:
            value, caught = pickle.loads(payload)
        except Exception:  # noqa: BLE001 - a damaged payload: the caller does the work
            return None
        if value is None:  # nothing delivered: the caller does the work, and warns itself
            return None
        for message, category, filename, lineno in caught:
            warnings.warn_explicit(message, category, filename, lineno)
        self._value = value
        return value

    def close(self) -> None:
        """Stop waiting for the child: discard its result (it exits on its own)."""
        if not self._done:
            self._done = True
            os.close(self._fd)  # the child's write fails, and it exits
            os.waitpid(self.pid, 0)


def start(fn: Callable[..., Any], *args: Any) -> Child | None:
    """Fork a child that computes ``fn(*args)`` and sends it back pickled; None when forking is
    not :func:`available` here (the caller does the work itself)."""
    if not available():
        return None
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        return Child(pid, read_fd)
    code = 1  # the child: never returns, never runs the parent's exit handlers
    try:
        os.close(read_fd)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = fn(*args)
        record = [(w.message, w.category, w.filename, w.lineno) for w in caught]
        payload = pickle.dumps((value, record), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(payload)
        code = 0
    except BaseException:  # noqa: BLE001 - any failure: the parent does the work itself
        pass
    finally:
        os._exit(code)
