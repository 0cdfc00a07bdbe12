"""The SSD recurrence in C for inference on a CPU (:mod:`eegssm.nn._scan`), with its checks.

The recurrence of :mod:`eegssm.nn.ssd`, step by step as :func:`~eegssm.nn.ssd.ssd_naive` and
mamba_ssm's ``selective_state_update`` compute it, per sequence and head::

    state_t = exp(dt_t * A) * state_{t-1} + dt_t * x_t B_t^T
    y_t     = state_t C_t + D * x_t

On a CPU this loop (two multiply-adds per state element and step, vectorised over the head's
channels, 8 × 8 state tiles held in registers) runs a whole Mamba-2 layer forward 1.6-3.1x
faster than the chunked form (``benchmarks/cpu_scan.py``), which is built for matrix units and
for the backward pass. The pieces, each checked against a direct formula:
:func:`ssd_scan` (the recurrence), :func:`causal_conv_silu` (the layer's causal depthwise conv +
SiLU before it, one pass over the projection), :func:`gated_rmsnorm` (the gated RMSNorm after
it, one pass per row; :class:`~eegssm.nn.norm.RMSNormGated` uses it under the same conditions).
:func:`mamba2_inner` runs all of them, with the softplus of ``dt``, as one pass per sequence, in
blocks of steps whose intermediates stay in the caches: what
:class:`~eegssm.nn.mamba2.Mamba2` runs between its projections when nothing needs a gradient,
the tensors are float32 on the CPU and the extension is built (and, on one thread, per
streamed piece); training, other dtypes and devices, and installs without a C compiler keep the
chunked path (same results to float round-off; ``tests/test_cpu_scan.py`` and
``tests/test_streaming_fast.py`` check both against ``ssd_naive`` and each other).

``EEGSSM_DISABLE_KERNELS=1`` turns it off with the other optional kernels (for comparisons).
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

try:
    from eegssm.nn import _scan
except ImportError as err:  # built by `pip install` where a C compiler is found (setup.py)
    _scan = None
    _MISSING = f"the C extension eegssm.nn._scan is not built ({err})"
else:
    _MISSING = None


def reason() -> str | None:
    """Why :func:`ssd_scan` cannot run here, or None when it can."""
    if os.environ.get("EEGSSM_DISABLE_KERNELS") == "1":
        return "EEGSSM_DISABLE_KERNELS=1"
    return _MISSING


def available() -> bool:
    """Whether the C recurrence is built and enabled."""
    return reason() is None


def usable(*tensors: Tensor) -> bool:
    """Whether the layers should call :func:`ssd_scan` for these tensors: built and enabled,
    all float32 on the CPU, and no gradient to record."""
    if not available():
        return False
    grad = torch.is_grad_enabled()
    return all(
        t.device.type == "cpu" and t.dtype == torch.float32 and not (grad and t.requires_grad)
        for t in tensors
    )


def _check_float32_cpu(where: str, **tensors: Tensor | None) -> None:
    """ValueError naming the first of ``tensors`` (None: absent, skipped) that is not float32
    on the CPU."""
    for name, t in tensors.items():
        if t is not None and (t.dtype != torch.float32 or t.device.type != "cpu"):
            raise ValueError(
                f"{where}: {name} must be float32 on the CPU, got {t.dtype} {t.device}"
            )


def _rows(t: Tensor, name: str, inner: tuple[int, ...]) -> tuple[int, int]:
    """Strides (elements) between sequences and between steps of ``t (b, l, *inner)`` whose
    ``inner`` dimensions must be contiguous."""
    expected, stride = [], 1
    for size in reversed(inner):
        expected.insert(0, stride)
        stride *= size
    strides = t.stride()
    if any(strides[2 + i] != e for i, e in enumerate(expected) if inner[i] > 1):
        raise ValueError(f"ssd_scan: the last dimensions of {name} must be contiguous")
    return strides[0], strides[1]


@torch.no_grad()
def ssd_scan(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    initial_state: Tensor | None = None,
    threads: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The recurrence over whole sequences, forward only.

    Args:
        x: ``(b, l, h, p)``; its last two dimensions contiguous (any strides before: a column
            slice of a wider tensor is read in place).
        dt: ``(b, l, h)`` step sizes, already positive (after softplus); last dim contiguous.
        A: ``(h,)`` decay rates (negative).
        B, C: ``(b, l, g, n)``, ``h`` divisible by ``g``; last two dims contiguous.
        D: ``(h,)`` skip, or None.
        initial_state: ``(b, h, p, n)`` or None (zeros).
        threads: threads sharing the ``b·h`` (sequence, head) pairs (default: PyTorch's).

    Returns:
        ``(y (b, l, h, p), final_state (b, h, p, n))``, float32.

    Raises:
        RuntimeError: the extension is not available (:func:`reason`).
        ValueError: shapes, dtypes, devices or layouts it does not take.
    """
    if _scan is None:
        raise RuntimeError(f"ssd_scan: {_MISSING}")
    b, l, h, p = x.shape
    g, n = B.shape[-2:]
    if dt.shape != (b, l, h) or A.shape != (h,) or B.shape != (b, l, g, n) or C.shape != B.shape:
        raise ValueError(
            f"ssd_scan: shapes x {tuple(x.shape)}, dt {tuple(dt.shape)}, A {tuple(A.shape)}, "
            f"B {tuple(B.shape)}, C {tuple(C.shape)} do not fit (b, l, h, p), (b, l, h), (h,), "
            "(b, l, g, n)"
        )
    if h % g:
        raise ValueError(f"ssd_scan: heads ({h}) must be divisible by groups ({g})")
    A = A.contiguous().float()
    D = None if D is None else D.contiguous().float()
    _check_float32_cpu("ssd_scan", x=x, dt=dt, A=A, B=B, C=C, D=D)
    if initial_state is None:
        state = x.new_zeros(b, h, p, n)
    else:
        if initial_state.shape != (b, h, p, n):
            raise ValueError(
                f"ssd_scan: initial_state must be {(b, h, p, n)}, got {tuple(initial_state.shape)}"
            )
        state = initial_state.to(torch.float32, copy=True).contiguous()
    y = x.new_empty(b, l, h, p)
    if b == 0 or l == 0:
        return y, state
    dt = dt.contiguous()
    decay = torch.exp(dt * A)  # (b, l, h) like dt: PyTorch's vectorised exp, not one per step in C
    strides = (
        *_rows(x, "x", (h, p)),
        *_rows(dt, "dt", (h,)),
        *_rows(B, "B", (g, n)),
        *_rows(C, "C", (g, n)),
    )
    pointers = tuple(0 if t is None else t.data_ptr() for t in (x, dt, decay, B, C, D, state, y))
    _scan.ssd_scan(pointers, (b, l, h, p, g, n), strides, threads or torch.get_num_threads())
    return y, state


@torch.no_grad()
def causal_conv_silu(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    tail: Tensor | None = None,
    threads: int | None = None,
) -> Tensor:
    """``silu(causal depthwise conv)`` of a sequence in one pass, forward only (what
    :class:`~eegssm.nn.conv.CausalDepthwiseConv1d` computes, to float round-off: its exp is
    Cephes' single-precision one, within 2 ulp).

    Args:
        x: ``(b, l, d)`` float32 on the CPU; its last dimension contiguous (a column slice of a
            wider tensor is read in place).
        weight: ``(d, 1, k)`` (``nn.Conv1d``'s depthwise weight).
        bias: ``(d,)`` or None.
        tail: ``(b, d, k-1)``: the ``k-1`` inputs before ``x`` (None: zeros).
        threads: threads sharing sequences and stretches of time (default: PyTorch's).

    Returns:
        ``(b, l, d)`` float32, contiguous: ``y_t = silu(bias + sum_i w_i x_{t-k+1+i})``.

    Raises:
        RuntimeError: the extension is not available (:func:`reason`).
        ValueError: shapes, dtypes, devices or layouts it does not take.
    """
    if _scan is None:
        raise RuntimeError(f"causal_conv_silu: {_MISSING}")
    b, l, d = x.shape
    if weight.dim() != 3 or weight.shape[:2] != (d, 1):
        raise ValueError(
            f"causal_conv_silu: weight must be ({d}, 1, k) for x {tuple(x.shape)}, "
            f"got {tuple(weight.shape)}"
        )
    k = weight.shape[-1]
    w = weight[:, 0].t().contiguous().float()  # (k, d)
    bias = None if bias is None else bias.contiguous().float()
    if tail is not None:
        if tail.shape != (b, d, k - 1):
            raise ValueError(
                f"causal_conv_silu: tail must be {(b, d, k - 1)}, got {tuple(tail.shape)}"
            )
        tail = tail.transpose(1, 2).contiguous().float()  # (b, k-1, d)
    _check_float32_cpu("causal_conv_silu", x=x, weight=w, bias=bias, tail=tail)
    if d > 1 and x.stride(2) != 1:
        raise ValueError("causal_conv_silu: the last dimension of x must be contiguous")
    out = x.new_empty(b, l, d)
    pointers = tuple(0 if t is None else t.data_ptr() for t in (x, tail, w, bias, out))
    sizes = (b, l, d, k, x.stride(0), x.stride(1))
    _scan.conv_silu(pointers, sizes, threads or torch.get_num_threads())
    return out


@torch.no_grad()
def gated_rmsnorm(
    x: Tensor,
    z: Tensor,
    weight: Tensor,
    group_size: int,
    eps: float = 1e-5,
    norm_before_gate: bool = False,
    threads: int | None = None,
) -> Tensor:
    """Gated RMSNorm in one pass over each row, forward only (what
    :class:`~eegssm.nn.norm.RMSNormGated` computes, to float round-off: the gate's exp is
    Cephes' single-precision one, within 2 ulp).

    Args:
        x, z: ``(..., d)`` float32 on the CPU, last dimension contiguous (any strides before).
        weight: ``(d,)``.
        group_size: channels per normalised group (divides ``d``).
        norm_before_gate: ``rmsnorm(x) · w · silu(z)`` (Gated DeltaNet) instead of
            ``rmsnorm(x · silu(z)) · w`` (Mamba-2).
        threads: threads sharing the rows (default: PyTorch's).

    Returns:
        ``(..., d)`` float32, contiguous.

    Raises:
        RuntimeError: the extension is not available (:func:`reason`).
        ValueError: shapes, dtypes, devices or layouts it does not take.
    """
    if _scan is None:
        raise RuntimeError(f"gated_rmsnorm: {_MISSING}")
    d = x.shape[-1]
    if z.shape != x.shape or weight.shape != (d,) or group_size < 1 or d % group_size:
        raise ValueError(
            f"gated_rmsnorm: x {tuple(x.shape)}, z {tuple(z.shape)}, weight "
            f"{tuple(weight.shape)} and group_size {group_size} do not fit (..., d), (..., d), "
            "(d,), a divisor of d"
        )
    weight = weight.contiguous().float()
    _check_float32_cpu("gated_rmsnorm", x=x, z=z, weight=weight)
    x2, z2 = x.reshape(-1, d), z.reshape(-1, d)  # views where the rows have one stride
    if d > 1 and (x2.stride(1) != 1 or z2.stride(1) != 1):
        raise ValueError("gated_rmsnorm: the last dimension of x and z must be contiguous")
    out = x.new_empty(x.shape)
    pointers = (x2.data_ptr(), z2.data_ptr(), weight.data_ptr(), out.data_ptr())
    sizes = (x2.shape[0], d // group_size, group_size, x2.stride(0), z2.stride(0))
    _scan.gated_rmsnorm(
        pointers, sizes, float(eps), bool(norm_before_gate), threads or torch.get_num_threads()
    )
    return out


def mamba2_inner(
    z: Tensor,
    xbc: Tensor,
    dt: Tensor,
    conv_weight: Tensor,
    conv_bias: Tensor | None,
    tail: Tensor | None,
    dt_bias: Tensor,
    A_log: Tensor,
    D: Tensor,
    state: Tensor | None,
    norm_weight: Tensor,
    group_size: int,
    eps: float,
    ngroups: int,
    threads: int | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """A Mamba-2 layer between its two projections, forward only, one C pass per sequence:
    causal depthwise conv + SiLU (tail carried), ``dt = softplus(dt + dt_bias)``, the
    recurrence (state carried) with the ``D`` skip, gated RMSNorm (``norm_before_gate=False``),
    block of 256 steps after block, so that no intermediate (the conv output, ``dt``, the decay,
    ``y``) is written to memory; nothing is recorded for autograd. ``Mamba2.forward`` runs it on
    a CPU for inference, and ``Mamba2.forward_stream`` on a streamed piece (one thread), where
    it replaces ~20 PyTorch operations whose fixed costs exceed their arithmetic.

    Args:
        z: ``(b, l, d_inner)``; xbc: ``(b, l, Dc)`` (``Dc = d_inner + 2·g·N``); dt: ``(b, l, H)``
            before the bias: each with its last dimension contiguous (column slices of one
            projection are read in place).
        conv_weight: ``(Dc, 1, k)``; conv_bias: ``(Dc,)`` or None.
        tail: ``(b, Dc, k-1)`` the conv inputs before the sequence, or None (zeros).
        dt_bias, A_log, D: ``(H,)`` (the decay rate is ``A = -exp(A_log)``).
        state: ``(b, H, P, N)`` or None (zeros); not modified.
        norm_weight: ``(d_inner,)``; group_size, eps: the gated norm's.
        ngroups: ``g``.
        threads: threads sharing the sequences (default: PyTorch's).

    Returns:
        ``(y (b, l, d_inner), new_tail (b, Dc, k-1), new_state (b, H, P, N))``, float32.

    Raises:
        RuntimeError: the extension is not available (:func:`reason`).
        ValueError: shapes, dtypes, devices or layouts it does not take.
    """
    if _scan is None:
        raise RuntimeError(f"mamba2_inner: {_MISSING}")
    b, l, d_inner = z.shape
    dc, _, k = conv_weight.shape
    h = A_log.shape[0]
    n = (dc - d_inner) // (2 * ngroups) if ngroups > 0 else 0
    if (
        xbc.shape != (b, l, dc) or dt.shape != (b, l, h) or n < 1
        or dc != d_inner + 2 * ngroups * n or d_inner % h or d_inner % group_size or h % ngroups
    ):  # fmt: skip
        raise ValueError(
            f"mamba2_inner: z {tuple(z.shape)}, xbc {tuple(xbc.shape)}, dt {tuple(dt.shape)}, "
            f"conv weight {tuple(conv_weight.shape)}, {h} heads, {ngroups} groups do not fit "
            "one Mamba-2 layer"
        )
    p = d_inner // h
    if tail is not None and tail.shape != (b, dc, k - 1):
        raise ValueError(f"mamba2_inner: tail must be {(b, dc, k - 1)}, got {tuple(tail.shape)}")
    if state is not None and state.shape != (b, h, p, n):
        raise ValueError(f"mamba2_inner: state must be {(b, h, p, n)}, got {tuple(state.shape)}")
    params = dict(conv_weight=conv_weight, conv_bias=conv_bias, tail=tail, dt_bias=dt_bias,
                  A_log=A_log, D=D, state=state, norm_weight=norm_weight)  # fmt: skip
    _check_float32_cpu("mamba2_inner", z=z, xbc=xbc, dt=dt, **params)
    params = {name: None if t is None else t.contiguous() for name, t in params.items()}
    strides = (*_rows(z, "z", (d_inner,)), *_rows(xbc, "xbc", (dc,)), *_rows(dt, "dt", (h,)))
    out = z.new_empty(b, l, d_inner)
    new_tail = z.new_empty(b, dc, k - 1)
    new_state = z.new_empty(b, h, p, n)
    ptr = {name: 0 if t is None else t.data_ptr() for name, t in params.items()}
    pointers = (
        z.data_ptr(), xbc.data_ptr(), dt.data_ptr(), ptr["conv_weight"], ptr["conv_bias"],
        ptr["tail"], ptr["dt_bias"], ptr["A_log"], ptr["D"], ptr["norm_weight"],
        new_tail.data_ptr(), ptr["state"], new_state.data_ptr(), out.data_ptr(),
    )  # fmt: skip
    sizes = (b, l, d_inner, dc, k, h, p, ngroups, n, group_size)
    _scan.mamba2_inner(pointers, sizes, strides, eps, threads or torch.get_num_threads())
    return out, new_tail, new_state
