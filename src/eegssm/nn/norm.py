"""Gated RMS normalisation, as used at the output of Mamba-2 and Gated DeltaNet."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eegssm.nn import cpu_scan


def _silu(z: Tensor) -> Tensor:
    """``silu(z)`` in a new tensor (one allocation)."""
    return torch.sigmoid(z).mul_(z)


def _rstd(u: Tensor, eps: float) -> Tensor:
    """``1 / sqrt(mean(u², -1) + eps)``: ``(..., gs)`` → ``(..., 1)`` (no full-size temporary)."""
    ms = torch.linalg.vector_norm(u, dim=-1, keepdim=True).square_().div_(u.shape[-1])
    return ms.add_(eps).rsqrt_()


def _group_dot(a: Tensor, b: Tensor) -> Tensor:
    """``(a * b).sum(-1, keepdim=True)`` without a full-size temporary."""
    return torch.einsum("...i,...i->...", a, b).unsqueeze(-1)


def _rows_sum(t: Tensor) -> Tensor:
    """Sum over all dims but the last two: ``(..., G, gs)`` → ``(G, gs)``."""
    return t.sum(dim=tuple(range(t.dim() - 2)))


class _GatedRMSNorm(torch.autograd.Function):
    """Gated RMSNorm on ``(..., G, gs)`` inputs (statistics over the last dim), weight
    ``(G, gs)``: ``rmsnorm(x · silu(z)) · w`` (``before=False``) or ``rmsnorm(x) · w · silu(z)``
    (``before=True``). Saves ``x, z`` and the per-group ``1 / rms`` only; the backward recomputes
    the gate and the normalised input in two full-size buffers, which become ``dx`` and ``dz``."""

    @staticmethod
    def forward(ctx, x, z, w, eps, before):
        if before:
            rstd = _rstd(x, eps)
            out = _silu(z).mul_(x).mul_(rstd).mul_(w)
        else:
            out = _silu(z).mul_(x)  # v = x · silu(z)
            rstd = _rstd(out, eps)
            out.mul_(rstd).mul_(w)
        ctx.save_for_backward(x, z, w, rstd)
        ctx.before = before
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dout):
        x, z, w, rstd = ctx.saved_tensors
        gs = x.shape[-1]
        # u is the normalised input (x · silu(z), or x), o = u · rstd, do the gradient of o:
        # du = rstd · (do - o · mean(do · o)). Two full-size buffers, which become dx and dz.
        if not ctx.before:  # out = o · w, u = v = x · silu(z)
            v = _silu(z).mul_(x)
            buf = torch.mul(dout, v).mul_(rstd)  # dout · o
            dw = _rows_sum(buf)
            do = torch.mul(dout, w, out=buf)
            dot = _group_dot(do, v).mul_(rstd).div_(-gs)  # -mean(do · o)
            du = do.addcmul_(v, dot.mul_(rstd)).mul_(rstd)
            dx = torch.sigmoid(z, out=v).mul_(z).mul_(du)  # du · silu(z)
            dz = torch.ops.aten.silu_backward.grad_input(du.mul_(x), z, grad_input=du)
        else:  # out = o · w · silu(z), u = x
            gate = _silu(z)
            buf = torch.mul(dout, x).mul_(rstd)  # dout · o
            dw = torch.einsum("...gi,...gi->gi", buf, gate)
            dz = torch.ops.aten.silu_backward.grad_input(buf.mul_(w), z, grad_input=buf)
            do = gate.mul_(dout).mul_(w)
            dot = _group_dot(do, x).mul_(rstd).div_(-gs)  # -mean(do · o)
            dx = do.addcmul_(x, dot.mul_(rstd)).mul_(rstd)
        return dx, dz, dw, None, None


class RMSNormGated(nn.Module):
    """RMSNorm with a SiLU gate, normalised in groups of ``group_size`` channels.

    ``norm_before_gate=False`` (Mamba-2): ``rmsnorm(x * silu(z)) * weight``.
    ``norm_before_gate=True`` (Gated DeltaNet): ``rmsnorm(x) * weight * silu(z)``.

    Shapes: ``x, z (..., d)`` → ``(..., d)``; statistics in float32. The backward is written by
    hand (:class:`_GatedRMSNorm`: fewer passes and temporaries than the autograd graph).
    """

    def __init__(
        self,
        d: int,
        group_size: int | None = None,
        eps: float = 1e-5,
        norm_before_gate: bool = False,
    ) -> None:
        super().__init__()
        self.group_size = group_size or d
        if d % self.group_size:
            raise ValueError(f"d ({d}) must be divisible by group_size ({self.group_size})")
        self.eps = eps
        self.norm_before_gate = norm_before_gate
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        if x.dtype == torch.float32 and cpu_scan.usable(x, z, self.weight):
            # inference on a CPU: one pass in C instead of five over the whole tensor
            return cpu_scan.gated_rmsnorm(
                x, z, self.weight, self.group_size, self.eps, self.norm_before_gate
            )
        dtype = x.dtype
        cdtype = torch.float64 if dtype == torch.float64 else torch.float32
        shape = (*x.shape[:-1], -1, self.group_size)
        out = _GatedRMSNorm.apply(
            x.to(cdtype).reshape(shape),
            z.to(cdtype).reshape(shape),
            self.weight.to(cdtype).view(-1, self.group_size),
            self.eps,
            self.norm_before_gate,
        )
        return out.reshape(x.shape).to(dtype)

    def forward_plain(self, x: Tensor, z: Tensor) -> Tensor:
        """``forward`` in a few plain tensor operations (no custom autograd Function): cheaper
        on the tiny inputs of streaming (``Mamba2.forward_stream``); same results up to float
        round-off. Shapes as ``forward``."""
        dtype = x.dtype
        cdtype = torch.float64 if dtype == torch.float64 else torch.float32
        shape = (*x.shape[:-1], -1, self.group_size)
        x, z = x.to(cdtype).reshape(shape), z.to(cdtype).reshape(shape)
        v = x if self.norm_before_gate else x * F.silu(z)
        v = v * torch.rsqrt(v.square().mean(-1, keepdim=True) + self.eps)
        if self.norm_before_gate:
            v = v * F.silu(z)
        return (v.reshape(x.shape[:-2] + (-1,)) * self.weight.to(cdtype)).to(dtype)
