"""NEDC OVERLAP (any-overlap) scoring of the seizure class.

A reference seizure is a hit when some hypothesis seizure overlaps it strictly
(``h.stop > r.start and h.start < r.stop``; touching does not count, and NEDC v6.0.0 applies no
guard width). A hypothesis seizure that overlaps no reference seizure is one false alarm.
"""

from __future__ import annotations

import numpy as np

from eegssm.scoring.counting import Counts
from eegssm.scoring.segments import SeizureTrack, check_limits

METHOD = "OVERLAP"


def overlap_flags(a_starts, a_stops, b_starts, b_stops) -> np.ndarray:
    """For each interval of ``a``, whether any interval of ``b`` overlaps it strictly.

    Both sets are sorted and disjoint, so the ``b`` intervals with ``stop > a.start`` and
    ``start < a.stop`` form a contiguous index range: two binary searches per interval.

    Args:
        a_starts, a_stops: ``(N,)`` seconds.
        b_starts, b_stops: ``(M,)`` seconds, sorted and disjoint.

    Returns:
        bool ``(N,)``.
    """
    first = np.searchsorted(b_stops, a_starts, side="right")  # first b with stop > a.start
    end = np.searchsorted(b_starts, a_stops, side="left")  # b with start < a.stop
    return end > first


def score(ref: SeizureTrack, hyp: SeizureTrack) -> Counts:
    """OVERLAP counts of one file (durations are assumed to agree)."""
    check_limits(ref, hyp)
    hit = overlap_flags(ref.starts, ref.stops, hyp.starts, hyp.stops)
    matched = overlap_flags(hyp.starts, hyp.stops, ref.starts, ref.stops)
    n_hit = int(hit.sum())
    return Counts(
        targets=len(ref),
        hits=n_hit,
        misses=len(ref) - n_hit,
        false_alarms=int((~matched).sum()),
        duration_s=ref.duration,
    )
