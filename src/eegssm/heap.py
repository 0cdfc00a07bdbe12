"""Keep freed memory in the process for reuse (glibc's ``mallopt``), for the command line.

A model run over a long recording allocates and frees the same few sizes of activation buffers
chunk after chunk (a few MB to tens of MB). With glibc's defaults each such buffer is mapped
fresh from the kernel (above the dynamic ``mmap`` threshold) or the heap's freed top is given
back (above the trim threshold), so the next chunk's buffers fault in new zeroed pages: about
150,000 extra page faults and 0.5-1.5 s of kernel time in ``eegssm detect`` on an hour of EEG
on a 2-core VM (measured with ``/usr/bin/time``; ``docs/benchmarks/detect_whole.md``).

:func:`retain_freed_memory` serves buffers up to :data:`MMAP_THRESHOLD` from the heap and never
trims it, so freed buffers are reused in place. Larger buffers are still mapped and unmapped
(the peak memory of a 24-hour run stays bounded). Only the ``eegssm`` console entry point calls
it: a library should not change its host process's allocator.
"""

from __future__ import annotations

import sys

#: Allocations up to this size come from the heap (glibc allows at most 32 MB on 64-bit).
MMAP_THRESHOLD = 32 << 20
#: Free memory at the top of the heap kept rather than given back to the kernel.
TRIM_THRESHOLD = 1 << 30

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def retain_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring); True when both were
    accepted, False where this is not glibc (macOS, Windows, musl) or it refused them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):  # not glibc (musl has no such mallopt)
            return False
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
