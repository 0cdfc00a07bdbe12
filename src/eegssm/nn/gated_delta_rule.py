"""The gated delta rule (Yang, Kautz & Hatamizadeh 2024), in pure PyTorch.

Per batch ``b`` and head ``h``, with a key-by-value state ``S (dk, dv)``::

    S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,   alpha_t = exp(g_t)
    o_t = S_t^T (scale · q_t)

Shapes (all functions): ``q, k (b, l, h, dk)``, ``v (b, l, h, dv)``, ``g (b, l, h)`` log-decay
(``<= 0``), ``beta (b, l, h)`` in (0, 1), state ``(b, h, dk, dv)``. ``scale`` defaults to
``dk ** -0.5``. Normalising ``q`` and ``k`` (L2) is the caller's job.

``gated_delta_rule_naive`` loops over time (the reference). ``gated_delta_rule_chunked`` is the
WY/UT form: inside a chunk of ``Q`` steps the updates collapse into one unit lower-triangular
solve, ``T = (I + tril(diag(beta) K K^T ⊙ Γ, -1))^{-1}``, giving ``u = T (beta·V)`` and
``w = T (beta·K·exp(cumsum g))``; chunks are then chained by a linear recurrence on ``S``.
Decays are ``exp`` of masked cumulative sums (``segsum``), in at least float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from eegssm.nn.ssd import segsum

__all__ = ["gated_delta_rule_chunked", "gated_delta_rule_naive", "gated_delta_rule_step"]


def _check(q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor) -> None:
    if q.dim() != 4 or q.shape != k.shape:
        raise ValueError(f"q and k must be (b, l, h, dk), got {tuple(q.shape)}, {tuple(k.shape)}")
    if v.dim() != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(f"v must be (b, l, h, dv) matching q, got {tuple(v.shape)}")
    if g.shape != q.shape[:3] or beta.shape != q.shape[:3]:
        raise ValueError(
            f"g and beta must be {tuple(q.shape[:3])}, got {tuple(g.shape)}, {tuple(beta.shape)}"
        )


def _dtype(q: Tensor) -> torch.dtype:
    return torch.float64 if q.dtype == torch.float64 else torch.float32


def gated_delta_rule_step(
    q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, state: Tensor, scale: float
) -> tuple[Tensor, Tensor]:
    """One step of the recurrence.

    Args:
        q, k: ``(b, h, dk)``; v: ``(b, h, dv)``; g, beta: ``(b, h)``; state: ``(b, h, dk, dv)``.

    Returns:
        ``(o (b, h, dv), new_state)``.
    """
    dtype = _dtype(q)
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    S = state.to(dtype) * torch.exp(g.to(dtype))[..., None, None]
    error = v - torch.einsum("bhkv,bhk->bhv", S, k)  # v_t - S^T k_t (after decay)
    S = S + torch.einsum("bhk,bhv->bhkv", k, error * beta.to(dtype)[..., None])
    o = torch.einsum("bhkv,bhk->bhv", S, q * scale)
    return o, S


def gated_delta_rule_naive(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor,
    beta: Tensor,
    scale: float | None = None,
    initial_state: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Reference: the recurrence as a loop over time.

    Returns:
        ``(o (b, l, h, dv), final_state (b, h, dk, dv))``; ``o`` in the dtype of ``v``.
    """
    _check(q, k, v, g, beta)
    b, l, h, dk = q.shape
    dv = v.shape[-1]
    scale = dk**-0.5 if scale is None else scale
    S = (
        torch.zeros(b, h, dk, dv, dtype=_dtype(q), device=q.device)
        if initial_state is None
        else initial_state.to(_dtype(q))
    )
    outs = []
    for t in range(l):
        o_t, S = gated_delta_rule_step(q[:, t], k[:, t], v[:, t], g[:, t], beta[:, t], S, scale)
        outs.append(o_t)
    return torch.stack(outs, dim=1).to(v.dtype), S


def gated_delta_rule_chunked(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g: Tensor,
    beta: Tensor,
    chunk_size: int = 64,
    scale: float | None = None,
    initial_state: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Chunked (WY/UT) gated delta rule, linear in the sequence length.

    Any ``l >= 1``: padding steps have ``k = v = 0``, ``beta = 0``, ``g = 0`` (identity).

    Returns:
        ``(o (b, l, h, dv), final_state (b, h, dk, dv))``; ``o`` in the dtype of ``v``.
    """
    _check(q, k, v, g, beta)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    b, l, h, dk = q.shape
    dv = v.shape[-1]
    scale = dk**-0.5 if scale is None else scale
    dtype = _dtype(q)
    Q = chunk_size
    pad = (-l) % Q
    c = (l + pad) // Q

    def chunks(t: Tensor) -> Tensor:  # (b, l, h, ...) -> (b, h, c, Q, ...)
        t = t.to(dtype)
        if pad:
            t = F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad))
        return t.reshape(b, c, Q, *t.shape[2:]).movedim(3, 1)

    qc, kc, vc = chunks(q) * scale, chunks(k), chunks(v)  # (b, h, c, Q, d)
    gc, bc = chunks(g), chunks(beta)  # (b, h, c, Q)
    g_cum = gc.cumsum(-1)
    decay = torch.exp(segsum(gc))  # (b, h, c, Q, Q): exp(g_cum[i] - g_cum[j]) for i >= j, else 0

    k_beta = kc * bc[..., None]
    eye = torch.eye(Q, dtype=dtype, device=q.device)
    M = eye + (k_beta @ kc.transpose(-1, -2) * decay).tril(-1)
    T = torch.linalg.solve_triangular(M, eye.expand_as(M), upper=False, unitriangular=True)
    u = T @ (vc * bc[..., None])  # (b, h, c, Q, dv)
    w = T @ (k_beta * torch.exp(g_cum)[..., None])  # (b, h, c, Q, dk)
    qk = qc @ kc.transpose(-1, -2) * decay  # causal (decay is 0 above the diagonal)
    q_decayed = qc * torch.exp(g_cum)[..., None]
    k_to_end = kc * decay[..., -1, :, None]  # k_j · exp(g_cum[last] - g_cum[j])
    chunk_decay = torch.exp(g_cum[..., -1])  # (b, h, c)

    S = (
        torch.zeros(b, h, dk, dv, dtype=dtype, device=q.device)
        if initial_state is None
        else initial_state.to(dtype)
    )
    outs = []
    # unbind once: indexing t[:, :, i] in the loop would cost O(c) per step in the backward pass
    per_chunk = (t.unbind(2) for t in (u, w, q_decayed, qk, k_to_end, chunk_decay))
    for u_i, w_i, qd_i, qk_i, kend_i, decay_i in zip(*per_chunk):
        v_new = u_i - w_i @ S  # (b, h, Q, dv)
        outs.append(qd_i @ S + qk_i @ v_new)
        S = S * decay_i[..., None, None] + kend_i.transpose(-1, -2) @ v_new
    o = torch.stack(outs, dim=2)  # (b, h, c, Q, dv)
    o = o.permute(0, 2, 3, 1, 4).reshape(b, c * Q, h, dv)[:, :l]
    return o.to(v.dtype), S
