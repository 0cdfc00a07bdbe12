"""NEDC TAES (time-aligned event scoring) of the seizure class.

Follows the NEDC v6.0.0 algorithm (``nedc_eeg_eval_taes``), including its quirks, because
published TUSZ numbers come from it:

* A reference seizure is examined only if some hypothesis seizure overlaps it strictly. Then every
  still-unused hypothesis seizure that shares an *integer second* with it (``int(start) …
  int(stop)`` ranges intersect) is scored against it, in time order.
* Hypothesis ending at or after the reference end: hit fraction = overlap / ref duration, false
  alarm = the hypothesis part outside the reference / ref duration (capped at 1), miss = 1 − hit;
  every later reference sharing an integer second with that hypothesis is a whole miss (only the
  first reference under a long hypothesis is credited).
* Reference ending after the hypothesis: the same fractions, and every later hypothesis sharing an
  integer second with the reference adds its own hit and false-alarm fractions.
* The integer-second test can pull in a hypothesis that does not overlap at all: one ending in the
  same second as the reference starts adds a negative hit fraction and a partial false alarm.
* Unused references count one miss each, unused hypotheses one false alarm each.
"""

from __future__ import annotations

import numpy as np

from eegssm.scoring.counting import Counts
from eegssm.scoring.segments import SeizureTrack, check_limits

METHOD = "TAES"


def _second_overlap(r0: float, r1: float, h0: float, h1: float) -> bool:
    """NEDC ``anyovlp``: the integer-second ranges ``int(start)…int(stop)`` intersect."""
    return int(r0) <= int(h1) and int(h0) <= int(r1)


def hit_false_alarm(r0: float, r1: float, h0: float, h1: float) -> tuple[float, float]:
    """NEDC ``calc_hf``: hit and false-alarm fractions of one ref/hyp pair (ref-normalised)."""
    dur = r1 - r0
    if h0 <= r0 and h1 <= r1:  # starts early (or at the same time), ends inside
        return (h1 - r0) / dur, min((r0 - h0) / dur, 1.0)
    if h0 >= r0 and h1 >= r1:  # starts inside, ends late
        return (r1 - h0) / dur, min((h1 - r1) / dur, 1.0)
    if h0 < r0 and h1 > r1:  # covers the reference
        return 1.0, min(((h1 - r1) + (r0 - h0)) / dur, 1.0)
    return (h1 - h0) / dur, 0.0  # inside the reference


def score(ref: SeizureTrack, hyp: SeizureTrack) -> Counts:
    """TAES counts of one file (durations are assumed to agree)."""
    check_limits(ref, hyp)
    rs, re_ = ref.starts.tolist(), ref.stops.tolist()
    hs, he = hyp.starts.tolist(), hyp.stops.tolist()
    n_ref, n_hyp = len(rs), len(hs)
    # Hyps with a strict overlap (as in OVERLAP): the gate for examining a reference.
    first_strict = np.searchsorted(hyp.stops, ref.starts, side="right")
    end_strict = np.searchsorted(hyp.starts, ref.stops, side="left")
    # Candidate hyps sharing an integer second with each ref form a contiguous index range.
    h_floor_stop = np.floor(hyp.stops)
    h_floor_start = np.floor(hyp.starts)
    cand_lo = np.searchsorted(h_floor_stop, np.floor(ref.starts), side="left")
    cand_hi = np.searchsorted(h_floor_start, np.floor(ref.stops), side="right")
    r_floor_start = np.floor(ref.starts)

    r_free = [True] * n_ref
    h_free = [True] * n_hyp
    hit = miss = fa = 0.0
    for i in range(n_ref):
        if not (end_strict[i] > first_strict[i] and r_free[i]):
            continue
        for j in range(int(cand_lo[i]), int(cand_hi[i])):
            if not h_free[j] or not _second_overlap(rs[i], re_[i], hs[j], he[j]):
                continue
            p_hit, p_fa = hit_false_alarm(rs[i], re_[i], hs[j], he[j])
            p_miss = 1.0 - p_hit
            r_free[i] = False
            h_free[j] = False
            if he[j] >= re_[i]:
                # Later references under the same hypothesis are whole misses.
                k_hi = int(np.searchsorted(r_floor_start, int(he[j]), side="right"))
                for k in range(i + 1, k_hi):
                    if _second_overlap(rs[k], re_[k], hs[j], he[j]):
                        r_free[k] = False
                        p_miss += 1.0
            else:
                # Later hypotheses inside the same reference add their fractions.
                for k in range(j + 1, int(cand_hi[i])):
                    if _second_overlap(rs[i], re_[i], hs[k], he[k]):
                        h_free[k] = False
                        k_hit, k_fa = hit_false_alarm(rs[i], re_[i], hs[k], he[k])
                        p_hit += k_hit
                        p_miss -= k_hit
                        p_fa += k_fa
            hit += p_hit
            miss += p_miss
            fa += p_fa
    miss += sum(r_free)
    fa += sum(h_free)
    return Counts(targets=n_ref, hits=hit, misses=miss, false_alarms=fa, duration_s=ref.duration)
