"""glibc's allocator settings for the command line (eegssm.heap)."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

from eegssm import heap


def _glibc() -> bool:
    try:
        return sys.platform.startswith("linux") and hasattr(
            ctypes.CDLL(None), "gnu_get_libc_version"
        )
    except OSError:
        return False


# In a fresh interpreter: is a 24 MB buffer mapped on its own (mallinfo2's hblkhd grows), and
# is it kept in the heap once freed (fordblks)?
PROBE = """
import ctypes, sys
from eegssm import heap
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split())]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "retain":
    assert heap.retain_freed_memory()
before = libc.mallinfo2().hblkhd
p = libc.malloc(24 << 20)
mapped = libc.mallinfo2().hblkhd > before
libc.free(p)
print(mapped, libc.mallinfo2().fordblks >= 24 << 20)
"""


@pytest.mark.skipif(not _glibc(), reason="glibc only")
def test_retain_freed_memory_keeps_buffers_in_the_heap():
    def probe(mode: str) -> str:
        run = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return run.stdout.split()

    assert probe("default") == ["True", "False"]  # glibc maps it and unmaps it when freed
    assert probe("retain") == ["False", "True"]  # from the heap, and kept there for reuse


def test_retain_freed_memory_elsewhere_does_nothing(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert heap.retain_freed_memory() is False
