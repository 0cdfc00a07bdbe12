"""Shorter busy-waits for PyTorch's OpenMP workers, for the command line.

PyTorch's CPU operators run on OpenMP worker threads (GNU libgomp on Linux). After each parallel
operator a worker busy-waits for the next one: 300,000 spins by default (up to about a
millisecond) before it sleeps. The C kernels of :mod:`eegssm.nn.cpu_scan` (the SSM recurrence,
the causal conv + SiLU, the gated norm) run on threads of their own between PyTorch operators,
so on a 2-core machine a still-spinning worker takes a core from them: three runnable threads on
two cores, a layer at a time. With 10,000 spins the worker stays awake between back-to-back
PyTorch operators and goes to sleep soon after a C kernel starts: ``eegssm detect`` on an hour
of EEG took 3.88 s instead of 4.30 s (medians of 10 fresh processes, run in turn with the
default; ``OMP_WAIT_POLICY=PASSIVE``, which never spins, 3.94 s).

libgomp reads the setting once, when it is loaded (with PyTorch), so it must be in the
environment before ``import torch``. Only the ``eegssm`` console entry point calls
:func:`shorten_openmp_spin`: a library should not change its host process's environment. A
spin count or wait policy the user set is kept.
"""

from __future__ import annotations

import os
import sys

#: Spins of an idle libgomp worker before it sleeps (libgomp's ``GOMP_SPINCOUNT``).
SPIN_COUNT = 10_000


def shorten_openmp_spin() -> bool:
    """Set ``GOMP_SPINCOUNT`` to :data:`SPIN_COUNT` for this process (and what it starts);
    True when set. Nothing changes when the user set ``GOMP_SPINCOUNT`` or
    ``OMP_WAIT_POLICY``, or PyTorch is already imported (too late to take effect)."""
    if "torch" in sys.modules or "GOMP_SPINCOUNT" in os.environ or "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
    return True
