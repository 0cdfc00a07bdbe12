"""NEDC DPALIGN scoring of the seizure class.

The ref and hyp label sequences (the classes of the contiguous events, timing ignored) are aligned
by edit distance with unit insertion, deletion and substitution penalties, between sentinel
symbols at both ends. A reference seizure aligned to a hypothesis seizure is a hit, aligned to
anything else (or deleted) a miss; an inserted hypothesis seizure is a false alarm. Ties follow
NEDC v6.0.0: substitution first, then insertion, then deletion.
"""

from __future__ import annotations

import numpy as np

from eegssm.scoring.counting import Counts
from eegssm.scoring.segments import SeizureTrack, label_sequence

METHOD = "DPALIGN"

_SUB, _INS, _DEL = 0, 1, 2
_NULL, _BCKG, _SEIZ = 0, 1, 2


def align(ref: np.ndarray, hyp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edit-distance alignment of two symbol sequences (unit costs, NEDC tie-breaking).

    Each row of the cost matrix is computed with numpy: substitution and deletion come from the
    previous row, and the insertion chain along the row is a running minimum,
    ``d[i, j] = min_k (a[k] + (j - k))`` with ``a = min(sub, del)``.

    Args:
        ref: int ``(M,)`` symbols, already framed by sentinels.
        hyp: int ``(N,)`` symbols, already framed by sentinels.

    Returns:
        ``(ref_aligned, hyp_aligned)``, int ``(L,)`` each, with ``-1`` for a gap.
    """
    m, n = len(ref), len(hyp)
    cols = np.arange(n, dtype=np.float64)
    d_prev = cols.copy()  # row 0: insertions only
    etype = np.empty((m, n), dtype=np.int8)
    etype[0, :] = _INS
    etype[0, 0] = _SUB
    for i in range(1, m):
        d_sub = d_prev[:-1] + (ref[i] != hyp[1:])
        d_del = d_prev[1:] + 1.0
        first = d_prev[0] + 1.0  # column 0: deletions only
        a = np.minimum(d_sub, d_del)
        # Running minimum with unit insertion cost: d[j] = min(a[j], d[j-1] + 1).
        body = np.minimum.accumulate(np.concatenate(([first], a)) - cols) + cols
        d_ins = body[:-1] + 1.0
        row_e = np.where(d_ins < d_sub, _INS, _SUB)
        row_e = np.where(d_del < np.minimum(d_sub, d_ins), _DEL, row_e)
        etype[i, 0] = _DEL
        etype[i, 1:] = row_e
        d_prev = body
    i, j = m - 1, n - 1
    out_r: list[int] = []
    out_h: list[int] = []
    while i >= 0 and j >= 0:
        e = etype[i, j]
        if e == _DEL:
            out_r.append(int(ref[i]))
            out_h.append(-1)
            i -= 1
        elif e == _INS:
            out_r.append(-1)
            out_h.append(int(hyp[j]))
            j -= 1
        else:
            out_r.append(int(ref[i]))
            out_h.append(int(hyp[j]))
            i -= 1
            j -= 1
    return np.asarray(out_r[::-1]), np.asarray(out_h[::-1])


def _symbols(track: SeizureTrack) -> np.ndarray:
    seq = np.where(label_sequence(track), _SEIZ, _BCKG)
    return np.concatenate(([_NULL], seq, [_NULL]))


def score(ref: SeizureTrack, hyp: SeizureTrack) -> Counts:
    """DPALIGN counts of one file (durations are assumed to agree)."""
    r, h = align(_symbols(ref), _symbols(hyp))
    r, h = r[1:-1], h[1:-1]  # the sentinels align with each other
    ref_seiz = r == _SEIZ
    n_tgt = int(ref_seiz.sum())
    n_hit = int((ref_seiz & (h == _SEIZ)).sum())
    return Counts(
        targets=n_tgt,
        hits=n_hit,
        misses=n_tgt - n_hit,
        false_alarms=int(((r == -1) & (h == _SEIZ)).sum()),
        duration_s=ref.duration,
    )
