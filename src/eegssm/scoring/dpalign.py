"""NEDC DPALIGN scoring of the seizure class.

The ref and hyp label sequences (the classes of the contiguous events, timing ignored) are aligned
by edit distance with unit insertion, deletion and substitution penalties, between sentinel
symbols at both ends. A reference seizure aligned to a hypothesis seizure is a hit, aligned to
anything else (or deleted) a miss; an inserted hypothesis seizure is a false alarm. Ties follow
NEDC v6.0.0: substitution first, then insertion, then deletion.
"""

from __future__ import annotations

import math

import numpy as np

from eegssm.scoring.counting import Counts
from eegssm.scoring.segments import SeizureTrack, check_limits, label_sequence

METHOD = "DPALIGN"

_SUB, _INS, _DEL = 0, 1, 2
_NULL, _BCKG, _SEIZ = 0, 1, 2


def align(
    ref: np.ndarray, hyp: np.ndarray, block_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Edit-distance alignment of two symbol sequences (unit costs, NEDC tie-breaking).

    The same alignment as :func:`align_reference`, in O((M + N) · w) time and
    O(sqrt(M) · w) memory, where ``w`` is the width of a diagonal band that holds every optimal
    path (about ``|M - N| + 3`` for NEDC's alternating label sequences):

    * **band** (Ukkonen): only cells with ``lo <= j - i <= hi`` are computed, where the band
      covers the diagonals between the two corners plus ``extra`` on each side. A path through
      a diagonal outside costs at least ``|M - N| + 2 (extra + 1)``; when the band's distance is
      below that, every optimal path lies inside, the band's values on them are exact, and so
      is each tie-break (it depends only on which predecessors are optimal). Otherwise
      ``extra`` grows and the band is recomputed.
    * **blocks**: the forward pass keeps one row in every ``block_rows`` (default
      ``sqrt(M)``); the traceback recomputes the direction codes one block at a time.

    Args:
        ref: int ``(M,)`` symbols, already framed by sentinels.
        hyp: int ``(N,)`` symbols, already framed by sentinels.
        block_rows: rows per traceback block (testing); default ``ceil(sqrt(M))``.

    Returns:
        ``(ref_aligned, hyp_aligned)``, int ``(L,)`` each, with ``-1`` for a gap.
    """
    ref, hyp = np.asarray(ref), np.asarray(hyp)
    m, n = len(ref), len(hyp)
    block = block_rows or max(1, math.isqrt(m - 1) + 1)
    extra = 1
    while True:
        lo, hi = min(0, n - m) - extra, max(0, n - m) + extra
        rows = _Rows(ref, hyp, lo, hi)
        dist, saved = _forward(rows, m, block)
        if dist < abs(n - m) + 2 * (extra + 1) or (lo <= 1 - m and hi >= n - 1):
            break
        extra *= 4
    return _traceback(rows, ref, hyp, block, saved)


class _Rows:
    """Rows of the cost matrix inside the band (float32: costs are integers below 2**24)."""

    def __init__(self, ref: np.ndarray, hyp: np.ndarray, lo: int, hi: int) -> None:
        self.ref, self.n, self.lo, self.hi = ref, len(hyp), lo, hi
        # substitution cost of each hyp symbol against each ref symbol, computed once
        self.mismatch = {int(r): (hyp != r).astype(np.float32) for r in np.unique(ref)}
        self.ks = np.arange(min(self.n, hi - lo + 1) + 1, dtype=np.float32)

    def band(self, i: int) -> tuple[int, int]:
        """First and last column of row ``i`` inside the band."""
        return max(0, i + self.lo), min(self.n - 1, i + self.hi)

    def first(self) -> np.ndarray:
        """Row 0 (insertions only) inside the band, from column 0."""
        return np.arange(min(self.n - 1, self.hi) + 1, dtype=np.float32)

    def next(
        self, i: int, prev_a: int, prev: np.ndarray, types: bool, last: int | None = None
    ) -> tuple[int, np.ndarray, np.ndarray | None]:
        """Row ``i`` (first column, costs) from row ``i - 1`` (which holds columns
        ``prev_a..``; out of the band is +inf), up to column ``last`` at most (a cell depends
        only on cells above and to its left). With ``types``, also the direction codes (NEDC:
        substitution, then insertion, then deletion on ties; column 0 deletes)."""
        a, b = self.band(i)
        b = b if last is None else min(b, last)
        padded = np.empty(len(prev) + 2, dtype=np.float32)  # column c at c - prev_a + 1
        padded[0] = padded[-1] = np.inf
        padded[1:-1] = prev
        d_sub = padded[a - prev_a : b - prev_a + 1] + self.mismatch[int(self.ref[i])][a : b + 1]
        d_del = padded[a - prev_a + 1 : b - prev_a + 2] + np.float32(1.0)
        ks = self.ks[: b - a + 1]
        # Running minimum with unit insertion cost: d[j] = min(min(sub, del)[j], d[j-1] + 1).
        body = np.minimum(d_sub, d_del)
        body -= ks
        np.minimum.accumulate(body, out=body)
        body += ks
        if not types:
            return a, body, None
        d_ins = np.empty_like(body)
        d_ins[0] = np.inf
        np.add(body[:-1], np.float32(1.0), out=d_ins[1:])
        row_e = np.where(d_ins < d_sub, np.int8(_INS), np.int8(_SUB))
        row_e[d_del < np.minimum(d_sub, d_ins)] = _DEL
        return a, body, row_e


def _forward(rows: _Rows, m: int, block: int) -> tuple[float, list[tuple[int, np.ndarray]]]:
    """Edit distance inside the band, and the rows ``0, block, 2·block, ...`` (first column,
    costs) for the traceback."""
    prev_a, prev = 0, rows.first()
    saved = [(prev_a, prev)]
    for i in range(1, m):
        prev_a, prev, _ = rows.next(i, prev_a, prev, False)
        if i % block == 0:
            saved.append((prev_a, prev))
    return float(prev[rows.n - 1 - prev_a]), saved


def _traceback(
    rows: _Rows, ref: np.ndarray, hyp: np.ndarray, block: int, saved: list
) -> tuple[np.ndarray, np.ndarray]:
    m = len(ref)
    i, j = m - 1, len(hyp) - 1
    out_r: list[int] = []
    out_h: list[int] = []
    cached, codes = -1, []
    while i >= 0 and j >= 0:
        if i == 0:
            e = _SUB if j == 0 else _INS
        else:
            k = (i - 1) // block
            if k != cached:  # direction codes of rows k·block+1 ... (k+1)·block, columns <= j
                prev_a, prev = saved[k]
                codes = []
                for row in range(k * block + 1, min((k + 1) * block, m - 1) + 1):
                    prev_a, prev, row_e = rows.next(row, prev_a, prev, True, last=j)
                    codes.append((prev_a, row_e))
                cached = k
            a, row_e = codes[i - (k * block + 1)]
            e = row_e[j - a]
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


def align_reference(ref: np.ndarray, hyp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The obviously correct form of :func:`align`: the whole ``(M, N)`` matrix of direction
    codes (O(M·N) memory: for tests and small inputs).

    Each row of the cost matrix is computed with numpy: substitution and deletion come from the
    previous row, and the insertion chain along the row is a running minimum,
    ``d[i, j] = min_k (a[k] + (j - k))`` with ``a = min(sub, del)``.
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
    check_limits(ref, hyp)
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
