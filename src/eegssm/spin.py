"""Shorter busy-waits for worker threads (PyTorch's OpenMP, numpy's OpenBLAS), for the command
line.

**OpenMP.** PyTorch's CPU operators run on OpenMP worker threads (GNU libgomp on Linux). After
each parallel operator a worker busy-waits for the next one: 300,000 spins by default (up to
about a millisecond) before it sleeps. The C kernels of :mod:`eegssm.nn.cpu_scan` (the SSM
recurrence, the causal conv + SiLU, the gated norm) run on threads of their own between PyTorch
operators, so on a 2-core machine a still-spinning worker takes a core from them: three runnable
threads on two cores, a layer at a time. With 10,000 spins the worker stays awake between
back-to-back PyTorch operators and goes to sleep soon after a C kernel starts: ``eegssm detect``
on an hour of EEG took 3.88 s instead of 4.30 s (medians of 10 fresh processes, run in turn with
the default; ``OMP_WAIT_POLICY=PASSIVE``, which never spins, 3.94 s).

**OpenBLAS.** numpy's (and scipy's) OpenBLAS starts its worker threads when it is loaded, and
each one busy-waits 2^28 CPU cycles (about 0.1 s) before it sleeps: at ``import numpy``, again
in every forked child (OpenBLAS restarts its threads after a fork), and after every BLAS call.
In ``eegssm detect`` that is about 0.25 s of a core spent spinning, mostly while the forked
child reads the file and the parent imports PyTorch, on the two cores both need. The command
line sets ``OPENBLAS_THREAD_TIMEOUT=20`` (2^20 cycles, under a millisecond): the workers still
serve back-to-back BLAS calls, then sleep.

Both libraries read their setting once, when they are loaded, so it must be in the environment
before ``import torch`` / ``import numpy``. Only the ``eegssm`` console entry point calls
:func:`shorten_spin`: a library should not change its host process's environment. A setting
the user made is kept.
"""

from __future__ import annotations

import os
import sys

#: Spins of an idle libgomp worker before it sleeps (libgomp's ``GOMP_SPINCOUNT``).
SPIN_COUNT = 10_000

#: An idle OpenBLAS worker sleeps after 2^this CPU cycles (``OPENBLAS_THREAD_TIMEOUT``;
#: OpenBLAS's default is 28).
OPENBLAS_TIMEOUT = 20


def shorten_openmp_spin() -> bool:
    """Set ``GOMP_SPINCOUNT`` to :data:`SPIN_COUNT` for this process (and what it starts);
    True when set. Nothing changes when the user set ``GOMP_SPINCOUNT`` or
    ``OMP_WAIT_POLICY``, or PyTorch is already imported (too late to take effect)."""
    if "torch" in sys.modules or "GOMP_SPINCOUNT" in os.environ or "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    return True


def shorten_openblas_spin() -> bool:
    """Set ``OPENBLAS_THREAD_TIMEOUT`` to :data:`OPENBLAS_TIMEOUT` for this process (and what
    it starts); True when set. Nothing changes when the user set it, or numpy is already
    imported (too late to take effect)."""
    if "numpy" in sys.modules or "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return False
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(OPENBLAS_TIMEOUT)
    return True


def shorten_spin() -> None:
    """:func:`shorten_openmp_spin` and :func:`shorten_openblas_spin`."""
    shorten_openmp_spin()
    shorten_openblas_spin()
