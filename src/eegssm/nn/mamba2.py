"""The Mamba-2 block (Dao & Gu 2024), pure PyTorch with optional CUDA kernels.

``u (B, L, d_model)`` → ``in_proj`` → ``[z (d_inner), xBC (d_inner + 2·g·N), dt (H)]``;
``xBC`` → causal depthwise conv (width ``d_conv``) + SiLU → ``x, B, C``;
``dt = softplus(dt + dt_bias)``, ``A = -exp(A_log)``; SSD scan per head; ``y + D·x``;
gated RMSNorm ``norm(y · silu(z))``; ``out_proj`` → ``(B, L, d_model)``.

Initialisation and weight-decay flags follow the reference implementation (``mamba_ssm``):
``A_log = log U(1, 16)``, ``dt`` log-uniform in ``[dt_min, dt_max]`` stored through the inverse
softplus in ``dt_bias``, ``D = 1``; those three parameters carry ``_no_weight_decay = True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eegssm.nn import cpu_scan, kernels
from eegssm.nn.conv import CausalDepthwiseConv1d
from eegssm.nn.norm import RMSNormGated
from eegssm.nn.ssd import ssd_conv_chunked, ssd_short, ssd_step

#: Fastest chunk length for the pure-PyTorch SSD on a 2-core CPU (d_model 64 and 256, L = 4096;
#: ``benchmarks/sequence_core.py`` → ``docs/benchmarks/sequence_core.md``). Speed only: outputs
#: do not depend on it.
DEFAULT_CHUNK_SIZE = 32


class _SplitLinear(torch.autograd.Function):
    """``F.linear(u, weight, bias)`` split along the output features into parts of ``sizes``,
    each a contiguous tensor (one GEMM per part). The backward accumulates the input gradient
    in one buffer (GEMM, then in-place ``addmm_``) and writes the weight gradient of each part
    into its rows: no concatenation of the parts' gradients."""

    @staticmethod
    def forward(ctx, u, weight, bias, sizes):
        ctx.save_for_backward(u, weight)
        ctx.sizes, ctx.has_bias = sizes, bias is not None
        ctx.set_materialize_grads(False)
        weights = torch.split(weight, sizes)
        biases = [None] * len(sizes) if bias is None else torch.split(bias, sizes)
        return tuple(F.linear(u, w, b) for w, b in zip(weights, biases))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):
        u, weight = ctx.saved_tensors
        u2 = u.reshape(-1, u.shape[-1])
        du = dw = db = None
        if ctx.needs_input_grad[1]:
            dw = torch.zeros_like(weight)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = weight.new_zeros(weight.shape[0])
        start = 0
        for size, g in zip(ctx.sizes, grads):
            rows = slice(start, start + size)
            start += size
            if g is None:
                continue
            g2 = g.reshape(-1, size)
            if ctx.needs_input_grad[0]:
                if du is None:
                    du = torch.mm(g2, weight[rows])
                else:
                    du.addmm_(g2, weight[rows])
            if dw is not None:
                torch.mm(g2.t(), u2, out=dw[rows])
            if db is not None:
                db[rows] = g2.sum(0)
        if du is not None:
            du = du.view(u.shape)
        return du, dw, db, None


@dataclass
class Mamba2State:
    """Streaming state of a Mamba-2 block.

    Attributes:
        conv: ``(B, d_inner + 2·g·N, d_conv - 1)`` the last inputs of the causal conv.
        ssm: ``(B, H, headdim, N)`` the SSM state (float32).
    """

    conv: Tensor
    ssm: Tensor


def init_dt_bias(n: int, dt_min: float = 1e-3, dt_max: float = 0.1, floor: float = 1e-4) -> Tensor:
    """``dt_bias`` so that ``softplus(dt_bias)`` is log-uniform in ``[dt_min, dt_max]``.

    Computed on the CPU and moved to the default device: under ``torch.device("meta")`` (the
    checkpoint check builds models there) the arithmetic would load PyTorch's Python meta
    kernels, about a second of start-up for a handful of numbers."""
    u = torch.rand(n, device="cpu")
    dt = torch.exp(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = dt.clamp(min=floor)
    return (dt + torch.log(-torch.expm1(-dt))).to(torch.empty(0).device)  # inverse of softplus


def init_A_log(n: int, low: float, high: float) -> Tensor:
    """``A_log = log(A)``, ``A ~ U(low, high)`` (computed on the CPU, see :func:`init_dt_bias`)."""
    A = torch.empty(n, device="cpu").uniform_(low, high)
    return torch.log(A).to(torch.empty(0).device)


def no_weight_decay(*params: nn.Parameter) -> None:
    """Flag parameters that an optimiser builder should exclude from weight decay."""
    for p in params:
        p._no_weight_decay = True


class Mamba2(nn.Module):
    """Mamba-2 block on ``(B, L, d_model)`` sequences.

    Args:
        d_model: input/output width.
        d_state: SSM state size ``N`` per group.
        d_conv: causal conv width.
        expand: ``d_inner = expand · d_model``.
        headdim: channels per head ``P``; ``H = d_inner / P`` heads.
        ngroups: groups ``g`` sharing ``B, C`` (``H`` divisible by ``g``).
        chunk_size: SSD chunk length (speed only; results do not depend on it).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        d_conv: int = 4,
        expand: int = 2,
        headdim: int = 64,
        ngroups: int = 1,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
        A_init_range: tuple[float, float] = (1.0, 16.0),
        bias: bool = False,
        conv_bias: bool = True,
    ) -> None:
        super().__init__()
        d_inner = expand * d_model
        if d_inner % headdim:
            raise ValueError(f"expand·d_model ({d_inner}) must be divisible by headdim ({headdim})")
        nheads = d_inner // headdim
        if nheads % ngroups:
            raise ValueError(f"heads ({nheads}) must be divisible by ngroups ({ngroups})")
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner, self.headdim, self.nheads, self.ngroups = d_inner, headdim, nheads, ngroups
        self.chunk_size = chunk_size
        conv_dim = d_inner + 2 * ngroups * d_state

        self.in_proj = nn.Linear(d_model, d_inner + conv_dim + nheads, bias=bias)
        self.conv1d = CausalDepthwiseConv1d(conv_dim, d_conv, bias=conv_bias)
        self.dt_bias = nn.Parameter(init_dt_bias(nheads, dt_min, dt_max))
        self.A_log = nn.Parameter(init_A_log(nheads, *A_init_range))
        self.D = nn.Parameter(torch.ones(nheads))
        no_weight_decay(self.dt_bias, self.A_log, self.D)
        self.norm = RMSNormGated(d_inner, group_size=d_inner // ngroups, norm_before_gate=False)
        self.out_proj = nn.Linear(d_inner, d_model, bias=bias)

    def empty_state(self, batch: int, device=None) -> Mamba2State:
        """The state before the first sample (zeros)."""
        device = device or self.A_log.device
        return Mamba2State(
            conv=self.conv1d.empty_tail(batch, device=device),
            ssm=torch.zeros(batch, self.nheads, self.headdim, self.d_state, device=device),
        )

    def _split(self, zxbcdt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        conv_dim = self.d_inner + 2 * self.ngroups * self.d_state
        return torch.split(zxbcdt, [self.d_inner, conv_dim, self.nheads], dim=-1)

    def _project(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``in_proj(u)`` split into ``z, xBC, dt``, each contiguous: one GEMM per part with a
        slice of the weight (:class:`_SplitLinear`: no full-width gradient concatenation in the
        backward; same parameters and results as ``_split(in_proj(u))``)."""
        sizes = [self.d_inner, self.d_inner + 2 * self.ngroups * self.d_state, self.nheads]
        return _SplitLinear.apply(u, self.in_proj.weight, self.in_proj.bias, sizes)

    def _split_xbc(self, xbc: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        gn = self.ngroups * self.d_state
        x, B, C = torch.split(xbc, [self.d_inner, gn, gn], dim=-1)
        shape = xbc.shape[:-1]
        return (
            x.reshape(*shape, self.nheads, self.headdim),
            B.reshape(*shape, self.ngroups, self.d_state),
            C.reshape(*shape, self.ngroups, self.d_state),
        )

    def forward(
        self, u: Tensor, state: Mamba2State | None = None, return_state: bool = False
    ) -> Tensor | tuple[Tensor, Mamba2State]:
        """Run the block over a sequence.

        Args:
            u: ``(B, L, d_model)``.
            state: state carried from a previous piece of the same sequence, or None.
            return_state: also return the state after the last sample.

        Returns:
            ``y (B, L, d_model)``, or ``(y, state)`` when ``return_state``.
        """
        z, xbc, dt = self._project(u)
        A = -torch.exp(self.A_log.float())
        initial = None if state is None else state.ssm
        tail = None if state is None else state.conv
        if kernels.use_ssd(xbc):  # dt bias + softplus and the D skip fused into the kernel
            xbc, conv_tail = self.conv1d(xbc, tail)
            x, B, C = self._split_xbc(xbc)
            y, ssm_state = kernels.ssd(
                x, dt, A, B, C, self.chunk_size, initial,
                D=self.D, dt_bias=self.dt_bias, dt_softplus=True,
            )  # fmt: skip
        elif self._inner_in_c(z, xbc, dt):
            if z.shape[0] >= torch.get_num_threads():
                # inference on a CPU: conv + SiLU, the recurrence and the gated norm in one C
                # pass per sequence, the sequences shared among the threads
                y, conv_tail, ssm_state = self._inner(z, xbc, dt, tail, initial)
                out = self.out_proj(y)
                return (out, Mamba2State(conv_tail, ssm_state)) if return_state else out
            # fewer sequences than threads (a day-long electrode swept on its own): the same C
            # kernels one after the other, each shared among the threads (by time, heads, rows)
            dt = F.softplus(dt + self.dt_bias)  # (B, L, H)
            conv = self.conv1d.conv
            conv_tail = self.conv1d.next_tail(xbc, tail)
            xbc = cpu_scan.causal_conv_silu(xbc, conv.weight, conv.bias, tail)
            x, B, C = self._split_xbc(xbc)  # column slices of xbc, read in place
            y, ssm_state = cpu_scan.ssd_scan(x, dt, A, B, C, self.D, initial)
        else:  # conv + SiLU + scan + D skip fused block by block (conv output never stored)
            dt = F.softplus(dt.float() + self.dt_bias.float())  # (B, L, H), float32
            conv = self.conv1d.conv
            y, ssm_state = ssd_conv_chunked(
                xbc, conv.weight, conv.bias, dt, A, self.ngroups, self.d_state,
                self.chunk_size, tail, initial, D=self.D,
            )  # fmt: skip
            conv_tail = self.conv1d.next_tail(xbc, tail)
        y = self.norm(y.reshape(*u.shape[:-1], self.d_inner), z)
        out = self.out_proj(y)
        if return_state:
            return out, Mamba2State(conv=conv_tail, ssm=ssm_state)
        return out

    def forward_stream(
        self, u: Tensor, state: Mamba2State | None = None
    ) -> tuple[Tensor, Mamba2State]:
        """``forward(u, state, return_state=True)`` on the next piece of a stream.

        Pieces of at most ``chunk_size`` steps (a streamed chunk: 4 steps per second of EEG at
        4 Hz) skip the block engine's fixed cost and its padding to a whole chunk: on a CPU
        where the C kernels run (:func:`eegssm.nn.cpu_scan.usable`) everything between the two
        projections (conv + SiLU, softplus, the recurrence, the gated norm) is one C call on
        one thread (:func:`eegssm.nn.cpu_scan.mamba2_inner`), else the piece runs as a single
        chunk in whole tensors
        (:func:`eegssm.nn.ssd.ssd_short`, ``forward_plain``); longer pieces, and the CUDA
        kernels, go through ``forward``. Same results up to float round-off.

        Shapes: ``u (B, L, d_model)`` → ``(y (B, L, d_model), state after the piece)``.
        """
        L = u.shape[1]
        if not 0 < L <= self.chunk_size or kernels.use_ssd(u):
            return self.forward(u, state, return_state=True)
        z, xbc, dt = self._split(F.linear(u, self.in_proj.weight, self.in_proj.bias))
        if self._inner_in_c(z, xbc, dt):  # one C call on one thread, column slices read in place
            y, tail, ssm = self._inner(
                z, xbc, dt, None if state is None else state.conv,
                None if state is None else state.ssm, threads=1,
            )  # fmt: skip
            out = F.linear(y, self.out_proj.weight, self.out_proj.bias)
            return out, Mamba2State(conv=tail, ssm=ssm)
        xbc, conv_tail = self.conv1d.forward_stream(xbc, None if state is None else state.conv)
        x, B, C = self._split_xbc(xbc)
        dt = F.softplus(dt.float() + self.dt_bias.float())  # (B, L, H), float32
        A = -torch.exp(self.A_log.float())
        y, ssm_state = ssd_short(x, dt, A, B, C, None if state is None else state.ssm, D=self.D)
        y = self.norm.forward_plain(y.reshape(*u.shape[:-1], self.d_inner), z)
        out = F.linear(y, self.out_proj.weight, self.out_proj.bias)
        return out, Mamba2State(conv=conv_tail, ssm=ssm_state)

    def _inner_in_c(self, z: Tensor, xbc: Tensor, dt: Tensor) -> bool:
        """Whether the layer between its projections runs as one C pass
        (:func:`eegssm.nn.cpu_scan.mamba2_inner`): inference on float32 CPU tensors with the
        kernels built (:func:`eegssm.nn.cpu_scan.usable`)."""
        conv = self.conv1d.conv
        return not self.norm.norm_before_gate and cpu_scan.usable(
            z, xbc, dt, conv.weight, self.A_log, self.D, self.dt_bias, self.norm.weight
        )

    def _inner(
        self, z: Tensor, xbc: Tensor, dt: Tensor, tail, ssm, threads: int | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """:func:`eegssm.nn.cpu_scan.mamba2_inner` with this layer's parameters: ``(y (B, L,
        d_inner) normed, conv tail, SSM state)``."""
        conv = self.conv1d.conv
        return cpu_scan.mamba2_inner(
            z, xbc, dt, conv.weight, conv.bias, tail, self.dt_bias, self.A_log, self.D, ssm,
            self.norm.weight, self.norm.group_size, self.norm.eps, self.ngroups, threads,
        )  # fmt: skip

    def step(self, u_t: Tensor, state: Mamba2State) -> tuple[Tensor, Mamba2State]:
        """One time step of the recurrent form.

        Args:
            u_t: ``(B, d_model)``.
            state: from ``empty_state`` or a previous ``forward(..., return_state=True)``/``step``.

        Returns:
            ``(y_t (B, d_model), new_state)``.
        """
        z, xbc, dt = self._split(self.in_proj(u_t))
        xbc, conv_tail = self.conv1d.step(xbc, state.conv)
        x, B, C = self._split_xbc(xbc)
        dt = F.softplus(dt.float() + self.dt_bias.float())  # (B, H)
        A = -torch.exp(self.A_log.float())
        y, ssm = ssd_step(x, dt, A, B, C, state.ssm)
        y = y + x * self.D.to(y.dtype)[:, None]
        y = self.norm(y.reshape(u_t.shape[0], self.d_inner), z)
        return self.out_proj(y), Mamba2State(conv=conv_tail, ssm=ssm)
