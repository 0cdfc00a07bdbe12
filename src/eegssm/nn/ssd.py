"""Structured state space duality (SSD): the Mamba-2 selective scan, in pure PyTorch.

The recurrence, per batch ``b``, head ``h``, head channel ``p`` and state index ``n``::

    h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * x_t        (state  (p, n))
    y_t = C_t . h_t                                          (output (p,))

Shapes (all functions): ``x (b, l, h, p)``, ``dt (b, l, h)`` (already positive, e.g. after
softplus), ``A (h,)`` (negative), ``B, C (b, l, g, n)`` with ``h`` divisible by ``g`` (head ``i``
reads group ``i // (h // g)``), state ``(b, h, p, n)``. No ``D`` skip: the block adds it.

``ssd_naive`` is the reference: a plain loop over time. ``ssd_chunked`` is the same maths in
chunks of ``Q`` steps: a quadratic (attention-like) term inside each chunk, the chunk's end state,
and a linear recurrence that carries states from chunk to chunk. Its cost is O(l·Q) and its
memory O(l·Q), so it is linear in the sequence length. ``A·dt`` and its cumulative sums are kept in
at least float32, and every ``exp`` is taken of a masked cumulative sum (never a difference of two
cumulative sums), so large ``|A·dt|`` gives finite values and finite gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["chunk_scan", "segsum", "ssd_chunked", "ssd_naive", "ssd_step"]


def _check_shapes(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor) -> tuple[int, int]:
    """Validate shapes; returns ``(ngroups, heads_per_group)``."""
    if x.dim() != 4:
        raise ValueError(f"x must be (b, l, h, p), got {tuple(x.shape)}")
    b, l, h, _ = x.shape
    if dt.shape != (b, l, h):
        raise ValueError(f"dt must be {(b, l, h)}, got {tuple(dt.shape)}")
    if A.shape != (h,):
        raise ValueError(f"A must be ({h},), got {tuple(A.shape)}")
    if B.dim() != 4 or B.shape[:2] != (b, l) or B.shape != C.shape:
        raise ValueError(
            f"B and C must both be (b, l, g, n) with b={b}, l={l}; got {tuple(B.shape)} and "
            f"{tuple(C.shape)}"
        )
    g = B.shape[2]
    if h % g:
        raise ValueError(f"number of heads ({h}) must be divisible by number of groups ({g})")
    return g, h // g


def _compute_dtype(x: Tensor) -> torch.dtype:
    """float64 stays float64; everything else is computed in float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def segsum(a: Tensor) -> Tensor:
    """Segment sums ``out[..., i, j] = a[..., j+1] + ... + a[..., i]`` for ``i >= j``, else -inf.

    Args:
        a: ``(..., T)``.

    Returns:
        ``(..., T, T)``; ``exp(out)`` is the lower-triangular decay matrix of the recurrence.
        Computed as a cumulative sum of a masked matrix, so every entry is a sum of the terms it
        contains (no cancellation between two large cumulative sums, finite gradients).
    """
    T = a.shape[-1]
    strictly_lower = torch.ones(T, T, dtype=torch.bool, device=a.device).tril(-1)
    terms = a.unsqueeze(-1).expand(*a.shape, T).masked_fill(~strictly_lower, 0.0)
    sums = terms.cumsum(dim=-2)
    lower = torch.ones(T, T, dtype=torch.bool, device=a.device).tril(0)
    return sums.masked_fill(~lower, float("-inf"))


def ssd_step(
    x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, state: Tensor
) -> tuple[Tensor, Tensor]:
    """One step of the recurrence.

    Args:
        x: ``(b, h, p)``; dt: ``(b, h)``; A: ``(h,)``; B, C: ``(b, g, n)``; state: ``(b, h, p, n)``.

    Returns:
        ``(y (b, h, p), new_state (b, h, p, n))``, in the dtype of ``x``.
    """
    h = x.shape[1]
    r = h // B.shape[1]
    dtype = _compute_dtype(x)
    dt = dt.to(dtype)
    Bh = B.to(dtype).repeat_interleave(r, dim=1)  # (b, h, n)
    Ch = C.to(dtype).repeat_interleave(r, dim=1)
    decay = torch.exp(dt * A.to(dtype))  # (b, h)
    new_state = decay[..., None, None] * state.to(dtype) + (dt[..., None] * x.to(dtype))[
        ..., None
    ] * Bh.unsqueeze(2)
    y = torch.einsum("bhpn,bhn->bhp", new_state, Ch)
    return y.to(x.dtype), new_state


def ssd_naive(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    initial_state: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Reference SSD: the recurrence as a loop over time (slow, obviously correct).

    Returns:
        ``(y (b, l, h, p), final_state (b, h, p, n))``.
    """
    _check_shapes(x, dt, A, B, C)
    b, l, h, p = x.shape
    n = B.shape[-1]
    dtype = _compute_dtype(x)
    state = (
        torch.zeros(b, h, p, n, dtype=dtype, device=x.device)
        if initial_state is None
        else initial_state.to(dtype)
    )
    ys = []
    for t in range(l):
        y_t, state = ssd_step(x[:, t], dt[:, t], A, B[:, t], C[:, t], state)
        ys.append(y_t)
    return torch.stack(ys, dim=1), state


#: Chunks per group in :func:`chunk_scan` (matrix form inside a group, a loop across groups).
SCAN_GROUP = 16


def chunk_scan(
    chunk_states: Tensor, chunk_log_decay: Tensor, initial: Tensor, group: int = SCAN_GROUP
) -> tuple[Tensor, Tensor]:
    """States entering each chunk of ``S_k = exp(ld_k)·S_{k-1} + X_k``.

    A two-level scan: inside groups of ``group`` chunks the recurrence is one matrix product
    with the decay matrix ``exp(segsum(ld))``; a Python loop carries the state across the
    ``c / group`` groups. Cost O(c·group) (not O(c²)), a short loop, and few large tensors
    instead of one small tensor per chunk.

    Args:
        chunk_states: ``X (b, c, h, p, n)``, what each chunk adds.
        chunk_log_decay: ``ld (b, h, c)``, each chunk's total log-decay (``<= 0``).
        initial: ``S_{-1} (b, h, p, n)``.

    Returns:
        ``(entering (b, c, h, p, n), final (b, h, p, n))``: ``entering[:, k] = S_{k-1}``.
    """
    b, c, h, p, n = chunk_states.shape
    pad = (-c) % group
    if pad:  # identity chunks: nothing added, no decay
        chunk_states = F.pad(chunk_states, (0, 0, 0, 0, 0, 0, 0, pad))
        chunk_log_decay = F.pad(chunk_log_decay, (0, pad))
    ng = (c + pad) // group
    X = chunk_states.reshape(b, ng, group, h, p * n)
    ld = chunk_log_decay.reshape(b, h, ng, group)
    within = torch.exp(segsum(ld))  # (b, h, ng, G, G): decay from chunk j (excl.) to k (incl.)
    partial = torch.einsum("bhgkj,bgjhq->bgkhq", within, X)  # states from inside the group
    from_start = torch.exp(ld.cumsum(-1))  # (b, h, ng, G): decay from group start to chunk k
    state = initial.reshape(b, h, p * n)
    group_in = []
    for partial_g, decay_g in zip(partial.unbind(1), from_start.unbind(2)):
        group_in.append(state)
        state = decay_g[..., -1:] * state + partial_g[:, -1]
    group_in = torch.stack(group_in, dim=1)  # (b, ng, h, p·n): state entering each group
    after = partial + from_start.permute(0, 2, 3, 1)[..., None] * group_in[:, :, None]
    after = after.reshape(b, ng * group, h, p * n)  # S_k for every chunk
    entering = torch.cat([initial.reshape(b, 1, h, p * n), after[:, : c - 1]], dim=1)
    return entering.reshape(b, c, h, p, n), state.reshape(b, h, p, n)


def ssd_chunked(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int = 64,
    initial_state: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Chunked SSD (the Mamba-2 "state space dual" algorithm), linear in the sequence length.

    Any ``l >= 1`` works: the sequence is zero-padded to a multiple of ``chunk_size`` with
    ``dt = 0`` (identity steps), which leaves outputs and the final state unchanged.

    Args:
        x: ``(b, l, h, p)`` inputs.
        dt: ``(b, l, h)`` positive step sizes.
        A: ``(h,)`` negative decay rates.
        B, C: ``(b, l, g, n)`` input and output projections of the state.
        chunk_size: steps per chunk ``Q``.
        initial_state: optional ``(b, h, p, n)`` state before the first step.

    Returns:
        ``(y (b, l, h, p), final_state (b, h, p, n))``; ``y`` in the dtype of ``x``, the state in
        float32 (float64 for float64 inputs).
    """
    g, r = _check_shapes(x, dt, A, B, C)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    b, l, h, p = x.shape
    n = B.shape[-1]
    Q = chunk_size
    dtype = _compute_dtype(x)
    pad = (-l) % Q
    c = (l + pad) // Q

    def chunks(t: Tensor) -> Tensor:  # (b, l, ...) -> (b, c, Q, ...), zero padded
        t = t.to(dtype)
        if pad:
            t = F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad))
        return t.reshape(b, c, Q, *t.shape[2:])

    xc = chunks(x)  # (b, c, Q, h, p)
    dtc = chunks(dt)  # (b, c, Q, h)
    Bc = chunks(B)  # (b, c, Q, g, n)
    Cc = chunks(C)
    X = xc * dtc.unsqueeze(-1)  # dt-scaled inputs
    a = (dtc * A.to(dtype)).permute(0, 3, 1, 2)  # (b, h, c, Q) log-decay per step
    a_cum = a.cumsum(dim=-1)  # (b, h, c, Q) log-decay from chunk start (inclusive)
    decay = torch.exp(segsum(a))  # (b, h, c, Q, Q): decay from step s (excl.) to l (incl.)

    # 1. Within each chunk: y_l += sum_{s<=l} (C_l . B_s) decay[l, s] X_s.
    CB = torch.einsum("bclgn,bcsgn->bcgls", Cc, Bc)  # (b, c, g, Q, Q)
    scores = CB.unsqueeze(3) * decay.permute(0, 2, 1, 3, 4).reshape(b, c, g, r, Q, Q)
    Xg = X.reshape(b, c, Q, g, r, p)
    y = torch.einsum("bcgrls,bcsgrp->bclgrp", scores, Xg)

    # 2. State each chunk contributes at its end: sum_s decay[last, s] B_s X_s^T.
    to_end = decay[..., -1, :].permute(0, 2, 3, 1).reshape(b, c, Q, g, r, 1)  # (b,c,Q,g,r,1)
    chunk_states = torch.einsum("bcsgn,bcsgrp->bcgrpn", Bc, Xg * to_end).reshape(b, c, h, p, n)

    # 3. Carry states across chunks: a linear recurrence over the c chunks.
    initial = (
        torch.zeros(b, h, p, n, dtype=dtype, device=x.device)
        if initial_state is None
        else initial_state.to(dtype)
    )
    states_in, state = chunk_scan(chunk_states, a_cum[..., -1], initial)
    states_in = states_in.reshape(b, c, g, r, p, n)

    # 4. Contribution of the state entering each chunk: C_l . (decay from chunk start) state.
    from_start = torch.exp(a_cum).permute(0, 2, 3, 1).reshape(b, c, Q, g, r, 1)
    y = y + torch.einsum("bclgn,bcgrpn->bclgrp", Cc, states_in) * from_start

    y = y.reshape(b, c * Q, h, p)[:, :l]
    return y.to(x.dtype), state
