"""The CPU engine behind ``ssd_chunked`` and ``ssd_conv_chunked`` of :mod:`eegssm.nn.ssd`.

Same maths as the chunked SSD of :mod:`eegssm.nn.ssd` (Dao & Gu 2024), organised for speed and
memory on a CPU:

- **blocks**: the sequence is processed a few chunks of every sequence at a time
  (``BLOCK_ELEMENTS``), so every temporary is block-sized;
- **workspace pool** (:class:`_Workspace`): block-sized buffers reused from block to block;
- **fused kernels**: batched GEMMs straight into preallocated outputs, the ``D`` skip fused into
  the output, and (:class:`ConvChunkedSSD`) the Mamba-2 causal conv + SiLU computed per block
  in both passes, so the conv output is never stored whole;
- **hand-written backward** (:class:`ChunkedSSD`, :class:`ConvChunkedSSD`): keeps only the
  inputs and one state per block, and recomputes decays, scores and chunk states block by block
  in reverse (what the CUDA kernels do).

Precision as in :mod:`eegssm.nn.ssd`: every ``exp`` of a partial log-decay sum is taken of a
masked cumulative sum. Inputs are validated and cast by the callers in :mod:`eegssm.nn.ssd`.
Tested against ``ssd_naive`` / ``ssd_minimal`` in ``tests/test_ssd_engine.py``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from eegssm.nn.conv import _pre_activation, _sum_products

__all__ = ["BLOCK_ELEMENTS", "ChunkedSSD", "ConvChunkedSSD"]

#: Elements of ``x`` (``b·tokens·h·p``) per block of chunks: the work runs
#: block by block so that every temporary is block-sized and reused from block to block.
BLOCK_ELEMENTS = 1 << 20


class _Workspace:
    """Named scratch buffers reused from block to block (no fresh memory inside the loop: on a
    CPU, first touches of freshly mapped pages cost more than the arithmetic on them)."""

    def __init__(self, dtype: torch.dtype, device: torch.device) -> None:
        self.dtype, self.device, self.buffers = dtype, device, {}

    def __call__(self, name: str, *shape: int) -> Tensor:
        """A contiguous ``shape`` tensor (uninitialised) backed by buffer ``name``."""
        numel = math.prod(shape)
        buf = self.buffers.get(name)
        if buf is None or buf.numel() < numel:
            buf = self.buffers[name] = torch.empty(numel, dtype=self.dtype, device=self.device)
        return buf[:numel].view(shape)


def _decay_matrix(a: Tensor, out: Tensor | None = None) -> Tensor:
    """``exp(segsum(a))``, zero above the diagonal, in one buffer: ``(..., T)`` → ``(..., T, T)``.

    ``out[..., i, j] = exp(a[j+1] + ... + a[i])`` for ``i >= j``: each entry is the exponential
    of a masked cumulative sum (as in :func:`eegssm.nn.ssd.segsum`), never of a difference of
    cumulative sums.
    """
    T = a.shape[-1]
    strictly_lower = torch.ones(T, T, dtype=torch.bool, device=a.device).tril(-1)
    zero = torch.zeros((), dtype=a.dtype, device=a.device)
    if out is None:
        out = torch.where(strictly_lower, a.unsqueeze(-1), zero)
    else:
        torch.where(strictly_lower, a.unsqueeze(-1), zero, out=out)
    out = out.cumsum_(dim=-2).exp_()
    return out.masked_fill_(~torch.ones(T, T, dtype=torch.bool, device=a.device).tril(0), 0.0)


def _mm(a: Tensor, b: Tensor, out: Tensor) -> Tensor:
    """``out = a @ b`` for ``(N, g, i, k) @ (N, g, k, j)``; ``out (N, g, i, j)`` contiguous."""
    if a.shape[1] == 1:  # one group: a single batched GEMM straight into ``out``
        torch.bmm(a[:, 0], b[:, 0], out=out[:, 0])
    else:
        out.copy_(torch.matmul(a, b))
    return out


class _Block:
    """One block of ``k`` consecutive chunks of every sequence, and what both passes recompute.

    Inputs: ``x (b, k, Q, h, p)``, ``dt (b, k, Q, h)``, ``B, C (b, k, Q, g, n)`` (zero padded
    past the sequence end: ``dt = 0`` steps are identities). With ``N = b·k`` chunks and
    ``r = h / g`` heads per group:

    - ``L (b, k, h, Q, Q)``: decay from step ``s`` (excl.) to ``l`` (incl.), zero above the
      diagonal; ``e (b, k, h, Q)`` from the chunk start to ``l`` (incl.); ``w (b, k, h, Q)`` from
      ``s`` (excl.) to the chunk end; ``decay (b, k, g, 1, r, 1)`` the whole chunk's.
    - ``Bg, Cg (N, g, Q, n)``; ``CB (N, g, Q, Q)``; scores ``M = CB · L`` per head.
    - states are ``(N, g, n, r·p)``: head ``gi·r + ri`` at ``[:, gi, :, ri·p:(ri+1)·p]``.
    """

    def __init__(self, ws: _Workspace, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor):
        self.ws, self.x, self.dt, self.A = ws, x, dt, A
        b, k, Q, h, p = x.shape
        g, n = B.shape[-2:]
        self.shape = b, k, Q, h, p, g, n, h // g
        N = b * k
        a = (dt * A).transpose(2, 3)  # (b, k, h, Q) log-decay per step
        self.L = _decay_matrix(a, out=ws("L", b, k, h, Q, Q))
        self.e = torch.exp(a.cumsum(dim=-1))
        self.w = self.L[..., -1, :]
        self.decay = self.e[..., -1].reshape(b, k, g, 1, h // g, 1)
        self.et = self.e.transpose(2, 3).unsqueeze(-1)  # (b, k, Q, h, 1)
        self.wt = self.w.transpose(2, 3).unsqueeze(-1)
        self.Bg = B.reshape(N, Q, g, n).transpose(1, 2)
        self.Cg = C.reshape(N, Q, g, n).transpose(1, 2)
        self.CB = torch.matmul(self.Cg, self.Bg.transpose(-1, -2))

    def grouped(self, t: Tensor) -> Tensor:
        """``(b, k, Q, h, p)`` → ``(N, g, Q, r·p)`` (a view)."""
        b, k, Q, h, p, g, n, r = self.shape
        return t.view(b * k, Q, g, r * p).transpose(1, 2)

    def ungrouped(self, t: Tensor) -> Tensor:
        """``(N, g, Q, r·p)`` → ``(b, k, Q, h, p)`` (a view for one group, else a copy)."""
        b, k, Q, h, p, g, n, r = self.shape
        return t.transpose(1, 2).reshape(b, k, Q, h, p)

    def scores(self) -> Tensor:
        """``M = CB · L`` as ``(b·k·h, Q, Q)``."""
        b, k, Q, h, p, g, n, r = self.shape
        M = self.ws("M", b * k, g, r, Q, Q)
        torch.mul(self.L.view(b * k, g, r, Q, Q), self.CB.unsqueeze(2), out=M)
        return M.view(-1, Q, Q)

    def scaled_inputs(self) -> Tensor:
        """``X = dt · x`` as ``(b·k·h, Q, p)`` (per-head matrices for the GEMMs)."""
        b, k, Q, h, p, g, n, r = self.shape
        X = self.ws("X", b, k, h, Q, p)
        torch.mul(self.x.transpose(2, 3), self.dt.transpose(2, 3).unsqueeze(-1), out=X)
        return X.view(-1, Q, p)

    def weighted_inputs(self) -> Tensor:
        """``w · dt · x`` ``(b, k, Q, h, p)``: each step's input as seen at its chunk's end."""
        b, k, Q, h, p, g, n, r = self.shape
        Xw = self.ws("Xw", b, k, Q, h, p)
        return torch.mul(self.x, (self.dt.unsqueeze(-1) * self.wt), out=Xw)

    def entering_states(self, Xw: Tensor, carry: Tensor | None, last: Tensor | None) -> Tensor:
        """States entering each chunk ``(N, g, n, r·p)``, from the state entering the block
        (``carry (b, g, n, r, p)``, None = 0); writes the state after the block into ``last``."""
        b, k, Q, h, p, g, n, r = self.shape
        N = b * k
        # What each chunk adds, sum_s w_s dt_s x_s B_s^T (one GEMM per chunk and group), goes to
        # slots 1..N; the loop then makes slot 1 + i·k + j the state after chunk j of sequence i,
        # so slot i·k + j is the state entering chunk j (j >= 1); slot i·k is then overwritten
        # with the state entering the block.
        buf = self.ws("states", N + 1, g, n, r * p)
        _mm(self.Bg.transpose(-1, -2), self.grouped(Xw), buf[1:])
        after = buf[1:].view(b, k, g, n, r, p)
        if carry is not None:
            after[:, 0].addcmul_(carry, self.decay[:, 0])
        for j in range(1, k):
            after[:, j].addcmul_(after[:, j - 1], self.decay[:, j])
        if last is not None:
            last.copy_(after[:, -1])
        entering = buf[:N].view(b, k, g, n, r, p)
        if carry is None:
            entering[:, 0].zero_()
        else:
            entering[:, 0].copy_(carry)
        return buf[:N]

    def forward(self, D: Tensor | None, carry: Tensor | None, last: Tensor, y: Tensor) -> None:
        """Writes the block's output into ``y (b, k, Q, h, p)`` (any strides) and the state after
        the block into ``last (b, g, n, r, p)``."""
        b, k, Q, h, p, g, n, r = self.shape
        states = self.entering_states(self.weighted_inputs(), carry, last)
        U = _mm(self.Cg, states, self.ws("U", b * k, g, Q, r * p))  # C_l . entering state
        intra = self.ws("Y", b, k, h, Q, p)
        torch.bmm(self.scores(), self.scaled_inputs(), out=intra.view(-1, Q, p))
        torch.addcmul(intra.transpose(2, 3), self.ungrouped(U), self.et, out=y)
        if D is not None:
            y.addcmul_(self.x, D.view(h, 1))

    def backward(
        self,
        dy: Tensor,
        D: Tensor | None,
        carry: Tensor | None,
        dlast: Tensor | None,
        dx: Tensor,
        dB_out: Tensor,
        dC_out: Tensor,
    ) -> tuple[Tensor, ...]:
        """Gradients for the block from ``dy (b, k, Q, h, p)`` and ``dlast``, the gradient of the
        state after the block (None = 0). Writes ``dx (b, k, Q, h, p)`` and ``dB_out, dC_out
        (b, k, Q, g, n)`` (any strides); returns ``(ddt, dA, dD, dcarry)``."""
        b, k, Q, h, p, g, n, r = self.shape
        N = b * k
        ws, x, dt = self.ws, self.x, self.dt
        Xw = self.weighted_inputs()
        states = self.entering_states(Xw, carry, None)

        # y_l += e_l C_l . state: gradients of C, log e and the entering states.
        dye = torch.mul(dy, self.et, out=ws("dye", b, k, Q, h, p))
        U = self.ungrouped(_mm(self.Cg, states, ws("U", N, g, Q, r * p)))
        dlog_e = U.mul_(dye).sum(-1)  # (b, k, Q, h)
        dC = torch.matmul(self.grouped(dye), states.transpose(-1, -2))  # (N, g, Q, n)
        buf = ws("dstates", N + 1, g, n, r * p)
        _mm(self.Cg.transpose(-1, -2), self.grouped(dye), buf[:N])

        # The chunk recurrence in reverse, in place: slot 1 + i·k + j becomes the gradient of
        # the state after chunk j of sequence i (= of what chunk j adds).
        after = buf[1:].view(b, k, g, n, r, p)
        entering = buf[:N].view(b, k, g, n, r, p)
        st = states.view(b, k, g, n, r, p)
        dcarry = entering[:, 0].clone()
        if dlast is None:
            after[:, -1].zero_()
        else:
            after[:, -1].copy_(dlast)
        dlog_chunk = torch.empty(k, b, g, r, dtype=x.dtype, device=x.device)
        prod = ws("prod", b, g, n, r, p)
        for j in range(k - 1, -1, -1):
            torch.sum(torch.mul(after[:, j], st[:, j], out=prod), dim=(2, 4), out=dlog_chunk[j])
            if j:
                after[:, j - 1].addcmul_(after[:, j], self.decay[:, j])
        dcarry.addcmul_(after[:, 0], self.decay[:, 0])
        dlog_chunk = dlog_chunk.view(k, b, h).transpose(0, 1) * self.e[..., -1]  # (b, k, h)
        dstates = buf[1:]

        # state_j += sum_s w_s X_s B_s^T: gradients of B, X and log w.
        T = self.ungrouped(_mm(self.Bg, dstates, ws("T", N, g, Q, r * p)))  # B_s . dstate
        dB = torch.matmul(self.grouped(Xw), dstates.transpose(-1, -2))  # (N, g, Q, n)
        dlog_w = Xw.mul_(T).sum(-1)  # (b, k, Q, h)
        dX = T.mul_(self.wt)  # (b, k, Q, h, p)

        # y = (CB · L) @ X per head inside each chunk.
        dyh = ws("dyh", b, k, h, Q, p)
        dyh.copy_(dy.transpose(2, 3))
        dyh = dyh.view(-1, Q, p)
        tmp = ws("Y", b, k, h, Q, p)
        torch.bmm(self.scores().transpose(-1, -2), dyh, out=tmp.view(-1, Q, p))
        dX.add_(tmp.transpose(2, 3))
        dM = ws("dM", b * k * h, Q, Q)
        torch.bmm(dyh, self.scaled_inputs().transpose(-1, -2), out=dM)
        dLog = dM.view(N, g, r, Q, Q).mul_(self.L.view(N, g, r, Q, Q))  # d log L, before CB
        dCB = dLog.sum(2)  # (N, g, Q, Q)
        dLog = dLog.mul_(self.CB.unsqueeze(2)).view(b, k, h, Q, Q)
        dC.add_(torch.matmul(dCB, self.Bg))
        dB.add_(torch.matmul(dCB.transpose(-1, -2), self.Cg))

        # Log-decays a = dt A through their cumulative sum acum within each chunk:
        # log e_l = acum_l, log w_s = acum_{Q-1} - acum_s, log L[l, s] = acum_l - acum_s,
        # log(chunk decay) = acum_{Q-1}; then da_j = sum_{l >= j} dacum_l.
        dacum = dlog_e.transpose(2, 3) - dlog_w.transpose(2, 3) + dLog.sum(-1) - dLog.sum(-2)
        dacum[..., -1] += dlog_w.sum(2) + dlog_chunk
        da = dacum.flip(-1).cumsum(-1).flip(-1).transpose(2, 3)  # (b, k, Q, h)

        torch.mul(dX, dt.unsqueeze(-1), out=dx)
        dD = None
        if D is not None:
            dx.addcmul_(dy, D.view(h, 1))
            dD = torch.mul(dy, x, out=dye).sum((0, 1, 2, 4))  # dye is free by now
        ddt = dX.mul_(x).sum(-1).addcmul_(da, self.A)
        dA = (da * dt).sum((0, 1, 2))
        dB_out.copy_(dB.view(b, k, g, Q, n).transpose(2, 3))
        dC_out.copy_(dC.view(b, k, g, Q, n).transpose(2, 3))
        return ddt, dA, dD, dcarry


def _block_bounds(b: int, l: int, h: int, p: int, Q: int, min_steps: int = 1) -> list:
    """Token ranges ``[t0, t1)`` of the blocks: whole chunks, at least ``min_steps`` steps, and
    about ``BLOCK_ELEMENTS`` elements of ``x`` each, or a quarter of the input when that is less
    (down to ``BLOCK_ELEMENTS / 4``: the block buffers, fresh memory on every call, then stay
    small next to the input); the last block may run past ``l`` (padded)."""
    c = -(-l // Q)
    per_block = min(BLOCK_ELEMENTS, max(BLOCK_ELEMENTS // 4, b * c * Q * h * p // 4))
    k = max(1, -(-min_steps // Q), min(c, per_block // (b * Q * h * p)))
    return [(j * Q, min(j + k, c) * Q) for j in range(0, c, k)]


def _chunk(t: Tensor, t0: int, t1: int, Q: int) -> Tensor:
    """Steps ``t0 .. t1`` of ``t (b, l, ...)`` as ``(b, (t1 - t0) / Q, Q, ...)``, zero padded
    past ``l`` (a view unless padded)."""
    piece = t[:, t0 : min(t1, t.shape[1])]
    pad = t1 - t0 - piece.shape[1]
    if pad:
        piece = F.pad(piece, (0, 0) * (t.dim() - 2) + (0, pad))
    return piece.reshape(t.shape[0], (t1 - t0) // Q, Q, *t.shape[2:])


def _out_view(t: Tensor, t0: int, t1: int, Q: int) -> tuple[Tensor, bool]:
    """Where a block's result goes: a ``(b, k, Q, ...)`` view of ``t`` at steps ``t0 .. t1``, or
    a fresh tensor (``True``: copy its first rows into ``t`` afterwards) when padded."""
    if t1 <= t.shape[1]:
        return t[:, t0:t1].view(t.shape[0], (t1 - t0) // Q, Q, *t.shape[2:]), False
    return t.new_empty(t.shape[0], (t1 - t0) // Q, Q, *t.shape[2:]), True


def _write_back(t: Tensor, block: Tensor, t0: int) -> None:
    """Copy a padded block's valid steps into ``t`` from step ``t0``."""
    m = t.shape[1] - t0
    t[:, t0:] = block.reshape(t.shape[0], -1, *t.shape[2:])[:, :m]


class _Slices:
    """Block inputs ``x, B, C`` sliced from whole-sequence tensors; block gradients written into
    whole-sequence gradient tensors (given, any strides)."""

    min_steps = 1

    def __init__(self, x: Tensor, B: Tensor, C: Tensor, Q: int) -> None:
        self.x, self.B, self.C, self.Q = x, B, C, Q

    def inputs(self, t0: int, t1: int) -> tuple[Tensor, Tensor, Tensor]:
        return tuple(_chunk(t, t0, t1, self.Q) for t in (self.x, self.B, self.C))

    def grad_views(self, t0: int, t1: int, dx: Tensor, dB: Tensor, dC: Tensor) -> list:
        self.views = [_out_view(t, t0, t1, self.Q) for t in (dx, dB, dC)]
        self.targets = dx, dB, dC
        return [v for v, _ in self.views]

    def finish(self, t0: int, t1: int) -> None:
        for target, (view, padded) in zip(self.targets, self.views):
            if padded:
                _write_back(target, view, t0)


class _Conv:
    """Block inputs ``x, B, C = split(silu(causal depthwise conv(raw)))`` computed block by block
    from the conv input ``raw (b, l, D)`` (the conv output is never stored whole); the backward
    runs the conv's backward block by block, into ``draw`` and the weight and bias gradients.

    ``w (k, D)`` taps (``w[k-1]`` multiplies the current step), ``bias (D,)`` or None,
    ``tail (b, k-1, D)``: the inputs before ``raw`` (None = zeros).
    """

    def __init__(self, ws, raw, w, bias, tail, split, Q: int) -> None:
        self.ws, self.raw, self.w, self.bias, self.tail, self.Q = ws, raw, w, bias, tail, Q
        self.h, self.g, self.n = split
        self.k = w.shape[0]
        self.min_steps = max(1, self.k - 1)  # conv gradients reach one block back at most
        self.g_next = None  # the first k-1 rows of the pre-activation gradient of the next block

    def _halo(self, t0: int) -> Tensor | None:
        """The ``k-1`` inputs before step ``t0`` ``(b, k-1, D)``."""
        k = self.k
        if t0 >= k - 1:
            return self.raw[:, t0 - (k - 1) : t0]
        if self.tail is None:
            return F.pad(self.raw[:, :t0], (0, 0, k - 1 - t0, 0))
        return torch.cat([self.tail[:, t0:], self.raw[:, :t0]], dim=1)

    def _split(self, xbc: Tensor, t0: int, t1: int) -> list:
        b, T, _ = xbc.shape
        h, g, n, Q = self.h, self.g, self.n, self.Q
        x, B, C = xbc.split([xbc.shape[-1] - 2 * g * n, g * n, g * n], dim=-1)
        return [
            x.view(b, T // Q, Q, h, -1),
            B.view(b, T // Q, Q, g, n),
            C.view(b, T // Q, Q, g, n),
        ]

    def inputs(self, t0: int, t1: int) -> tuple[Tensor, Tensor, Tensor]:
        b, l, D = self.raw.shape
        m = min(t1, l) - t0
        pre = self.ws("conv_pre", b, t1 - t0, D)
        _pre_activation(self.raw[:, t0 : t0 + m], self._halo(t0), self.w, self.bias, pre[:, :m])
        xbc = self.ws("conv_out", b, t1 - t0, D)
        torch.sigmoid(pre[:, :m], out=xbc[:, :m]).mul_(pre[:, :m])
        xbc[:, m:].zero_()
        return self._split(xbc, t0, t1)

    def start_backward(self, draw: Tensor, dtail: Tensor | None) -> None:
        self.draw, self.dtail = draw, dtail
        self.dw = torch.zeros_like(self.w)
        self.dbias = None if self.bias is None else torch.zeros_like(self.bias)

    def grad_views(self, t0: int, t1: int, *_) -> list:
        b, l, D = self.raw.shape
        return self._split(self.ws("conv_dout", b, t1 - t0, D), t0, t1)

    def finish(self, t0: int, t1: int) -> None:
        """Backward of ``silu(conv)`` for the block, once its output gradient is complete."""
        b, l, D = self.raw.shape
        k, w = self.k, self.w
        m = min(t1, l) - t0
        pre = self.ws("conv_pre", b, t1 - t0, D)[:, :m]
        gbuf = self.ws("conv_dout", b, t1 - t0, D)[:, :m]
        g = torch.ops.aten.silu_backward.grad_input(gbuf, pre, grad_input=gbuf)
        halo = self._halo(t0)
        raw = self.raw[:, t0 : t0 + m]
        # input gradient: draw[t] = sum_s w[k-1-s] g[t+s], with g of the next block past the end
        dr = torch.mul(g, w[k - 1], out=self.draw[:, t0 : t0 + m])
        for s in range(1, k):
            if s < m:
                dr[:, : m - s].addcmul_(g[:, s:], w[k - 1 - s])
            if self.g_next is not None:
                j = min(s, self.g_next.shape[1])  # rows t0+m-s .. of draw take g_next[:, :j]
                lo = max(0, m - s)
                dr[:, lo : m - s + j].addcmul_(self.g_next[:, lo - (m - s) : j], w[k - 1 - s])
        # inputs before step 0 (the carried tail) and the taps' weights
        for s in range(1, k):
            if s < m:
                self.dw[k - 1 - s] += _sum_products(g[:, s:], raw[:, : m - s])
            j = min(s, m)  # rows 0 .. j read the halo
            self.dw[k - 1 - s] += _sum_products(g[:, :j], halo[:, k - 1 - s : k - 1 - s + j])
            if t0 == 0 and self.dtail is not None:
                self.dtail[:, k - 1 - s : k - 1 - s + j].addcmul_(g[:, :j], w[k - 1 - s])
        self.dw[k - 1] += _sum_products(g, raw)
        if self.dbias is not None:
            self.dbias += g.sum((0, 1))
        self.g_next = g[:, : k - 1].clone()


def _ssd_forward(source, dt, A, D, initial, Q: int, shape) -> tuple[Tensor, Tensor, Tensor]:
    """Block-by-block forward over ``source`` (:class:`_Slices` or :class:`_Conv`) for
    ``shape = (b, l, h, p, g, n)``. Returns ``(y (b, l, h, p), final (b, h, p, n), carries)``
    with ``carries (blocks, b, g, n, r, p)`` the state entering each block."""
    b, l, h, p, g, n = shape
    r = h // g
    bounds = _block_bounds(b, l, h, p, Q, source.min_steps)
    ws = _Workspace(dt.dtype, dt.device)
    y = torch.empty(b, l, h, p, dtype=dt.dtype, device=dt.device)
    # carries[i]: the state entering block i; carries[-1]: the final state
    carries = torch.empty(len(bounds) + 1, b, g, n, r, p, dtype=dt.dtype, device=dt.device)
    if initial is None:
        carries[0].zero_()
    else:
        carries[0].copy_(initial.view(b, g, r, p, n).permute(0, 1, 4, 2, 3))
    for i, (t0, t1) in enumerate(bounds):
        x, B, C = source.inputs(t0, t1)
        blk = _Block(ws, x, _chunk(dt, t0, t1, Q), A, B, C)
        yb, padded = _out_view(y, t0, t1, Q)
        blk.forward(D, carries[i] if i or initial is not None else None, carries[i + 1], yb)
        if padded:
            _write_back(y, yb, t0)
    final = carries[-1].permute(0, 1, 3, 4, 2).reshape(b, h, p, n)
    return y, final, carries[:-1]


def _ssd_backward(source, dt, A, D, carries, has_initial, Q, shape, dy, dfinal, grads=()):
    """Block-by-block backward, last block first. Block gradients of ``x, B, C`` go through
    ``source`` (into ``grads = (dx, dB, dC)`` for :class:`_Slices`); returns
    ``(ddt, dA, dD, dinitial)``."""
    b, l, h, p, g, n = shape
    r = h // g
    ws = _Workspace(dt.dtype, dt.device)
    ddt = torch.empty_like(dt)
    dA = torch.zeros_like(A)
    dD = None if D is None else torch.zeros_like(D)
    dcarry = None if dfinal is None else dfinal.view(b, g, r, p, n).permute(0, 1, 4, 2, 3)
    bounds = _block_bounds(b, l, h, p, Q, source.min_steps)
    for i in range(len(bounds) - 1, -1, -1):
        t0, t1 = bounds[i]
        x, B, C = source.inputs(t0, t1)
        blk = _Block(ws, x, _chunk(dt, t0, t1, Q), A, B, C)
        dyb = torch.zeros_like(blk.x) if dy is None else _chunk(dy, t0, t1, Q)
        carry = carries[i] if i or has_initial else None
        dxb, dBb, dCb = source.grad_views(t0, t1, *grads)
        ddtb, dAb, dDb, dcarry = blk.backward(dyb, D, carry, dcarry, dxb, dBb, dCb)
        source.finish(t0, t1)
        _write_back(ddt[:, : min(t1, l)], ddtb, t0)
        dA += dAb
        if dD is not None:
            dD += dDb
    dinitial = None
    if has_initial:
        dinitial = dcarry.permute(0, 1, 3, 4, 2).reshape(b, h, p, n)
    return ddt, dA, dD, dinitial


class ChunkedSSD(torch.autograd.Function):
    """Chunked SSD, block by block, with a hand-written backward.

    ``apply(x, dt, A, B, C, D, initial, chunk_size)`` with the shapes of
    :func:`eegssm.nn.ssd.ssd_chunked` (validated, all in the compute dtype, ``D`` and
    ``initial`` may be None) → ``(y (b, l, h, p), final_state (b, h, p, n))``.

    Saves the inputs and the state entering each block only; the backward walks the blocks in
    reverse and recomputes, per block, the decays, the scores and the chunk states (cheap,
    O(block)) instead of keeping them.
    """

    @staticmethod
    def forward(ctx, x, dt, A, B, C, D, initial, chunk_size):
        shape = (*x.shape, *B.shape[-2:])
        source = _Slices(x, B, C, chunk_size)
        y, final, carries = _ssd_forward(source, dt, A, D, initial, chunk_size, shape)
        ctx.save_for_backward(x, dt, A, B, C, D, carries)
        ctx.has_initial, ctx.chunk_size, ctx.shape = initial is not None, chunk_size, shape
        ctx.set_materialize_grads(False)
        return y, final

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy, dfinal):
        x, dt, A, B, C, D, carries = ctx.saved_tensors
        grads = dx, dB, dC = tuple(torch.empty_like(t) for t in (x, B, C))
        source = _Slices(x, B, C, ctx.chunk_size)
        ddt, dA, dD, dinitial = _ssd_backward(
            source, dt, A, D, carries, ctx.has_initial, ctx.chunk_size, ctx.shape, dy, dfinal,
            grads,
        )  # fmt: skip
        if dy is None:  # C only reaches the output
            dC = None
        return dx, ddt, dA, dB, dC, dD, dinitial, None


class ConvChunkedSSD(torch.autograd.Function):
    """``silu(causal depthwise conv)`` followed by the chunked SSD, fused block by block: the
    conv output (``x, B, C``) is computed per block in both passes and never stored whole.

    ``apply(raw, weight, bias, tail, dt, A, D, initial, chunk_size, (h, g, n))`` with ``raw
    (b, l, h·p + 2·g·n)``, ``weight (h·p + 2·g·n, 1, k)``, ``tail (b, k-1, h·p + 2·g·n)`` (time
    first) or None; the rest as :class:`ChunkedSSD`."""

    @staticmethod
    def forward(ctx, raw, weight, bias, tail, dt, A, D, initial, chunk_size, split):
        b, l, width = raw.shape
        h, g, n = split
        shape = (b, l, h, (width - 2 * g * n) // h, g, n)
        ws = _Workspace(raw.dtype, raw.device)
        w = weight[:, 0].t().contiguous()  # (k, D)
        source = _Conv(ws, raw, w, bias, tail, split, chunk_size)
        y, final, carries = _ssd_forward(source, dt, A, D, initial, chunk_size, shape)
        ctx.save_for_backward(raw, weight, bias, tail, dt, A, D, carries)
        ctx.has_initial, ctx.chunk_size, ctx.shape = initial is not None, chunk_size, shape
        ctx.split = split
        ctx.set_materialize_grads(False)
        return y, final

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy, dfinal):
        raw, weight, bias, tail, dt, A, D, carries = ctx.saved_tensors
        ws = _Workspace(raw.dtype, raw.device)
        w = weight[:, 0].t().contiguous()
        source = _Conv(ws, raw, w, bias, tail, ctx.split, ctx.chunk_size)
        draw = torch.empty_like(raw)
        dtail = None if tail is None or not ctx.needs_input_grad[3] else torch.zeros_like(tail)
        source.start_backward(draw, dtail)
        ddt, dA, dD, dinitial = _ssd_backward(
            source, dt, A, D, carries, ctx.has_initial, ctx.chunk_size, ctx.shape, dy, dfinal
        )
        dw = source.dw.t().unsqueeze(1)
        return draw, dw, source.dbias, dtail, ddt, dA, dD, dinitial, None, None
