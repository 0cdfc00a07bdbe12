"""Optional fused kernels, probed cheaply and imported lazily.

When a tensor is on CUDA and the kernel package imports, the layers dispatch to:

- ``mamba_ssm``'s ``mamba_chunk_scan_combined`` (Triton SSD) in ``Mamba2``, with the ``dt`` bias,
  softplus and ``D`` skip fused into the kernel (as ``mamba_ssm.Mamba2`` calls it);
- ``causal_conv1d``'s ``causal_conv1d_fn`` for the depthwise causal convolution (widths 2-4,
  channel counts that are multiples of 8, start of a sequence only);
- ``fla``'s ``chunk_gated_delta_rule`` (flash-linear-attention) in ``GatedDeltaNet``.

Everything else (CPU, missing or broken packages, ``EEGSSM_DISABLE_KERNELS=1``) uses the
pure-PyTorch reference path, which the kernels are tested against: ``tests/kernels`` (``make
test-kernels``; natively on CUDA, under Triton's interpreter on a CPU) and
``tests/test_kernels_gpu.py`` (larger sizes, CUDA only).

Start-up stays fast: :func:`installed` only asks ``importlib.util.find_spec`` whether a package is
there. The package is imported on the first CUDA tensor that could use it (``mamba_ssm`` pulls in
``transformers``: seconds), or by ``eegssm doctor``. When the import fails, the reason is kept
(:func:`status`), the first CUDA call warns once, and the layers use the PyTorch path.

The Triton interpreter (``TRITON_INTERPRET=1``, set before the kernel packages are imported) can
run the Triton kernels on CPU tensors; :func:`set_cpu_interpreter` sends CPU tensors to the
kernels. The packages assume CUDA in a few device queries, so this also needs the shims of the
kernel test tier (``tests/kernels/_interpret.py``), which turns it on for its tests only.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor


@dataclass(frozen=True)
class Kernel:
    """One optional kernel: where it comes from and what it replaces."""

    name: str  #: short key: ``"ssd"``, ``"conv"``, ``"gdn"``
    module: str  #: top-level import name, probed with ``find_spec``
    distribution: str  #: the pip package
    entry: str  #: module holding the entry point
    function: str  #: the entry point
    replaces: str  #: the PyTorch reference it replaces


KERNELS: dict[str, Kernel] = {
    k.name: k
    for k in (
        Kernel(
            "ssd",
            "mamba_ssm",
            "mamba-ssm",
            "mamba_ssm.ops.triton.ssd_combined",
            "mamba_chunk_scan_combined",
            "eegssm.nn.ssd.ssd_chunked",
        ),
        Kernel(
            "conv",
            "causal_conv1d",
            "causal-conv1d",
            "causal_conv1d",
            "causal_conv1d_fn",
            "eegssm.nn.conv.CausalDepthwiseConv1d",
        ),
        Kernel(
            "gdn",
            "fla",
            "fla-core",
            "fla.ops.gated_delta_rule",
            "chunk_gated_delta_rule",
            "eegssm.nn.gated_delta_rule.gated_delta_rule_chunked",
        ),
    )
}

#: Conv widths the ``causal_conv1d`` kernel supports.
CONV_WIDTHS = (2, 3, 4)
#: The ``causal_conv1d`` kernel wants channel counts that are multiples of this.
CONV_CHANNEL_MULTIPLE = 8
#: ``fla``'s gated-delta-rule kernels support key widths per head up to this.
GDN_MAX_HEAD_DIM = 256

#: Why a kernel was not imported: name → ``"ExceptionType: message"`` (filled by ``_load``).
_reasons: dict[str, str] = {}
_warned: set[str] = set()
_cpu_interpreter = False


def _enabled() -> bool:
    return os.environ.get("EEGSSM_DISABLE_KERNELS", "0") not in ("1", "true", "yes")


def installed(name: str) -> bool:
    """Whether the package of kernel ``name`` is installed (``find_spec``: nothing imported)."""
    try:
        return importlib.util.find_spec(KERNELS[name].module) is not None
    except (ImportError, ValueError):  # a broken parent package or a module without a spec
        return False


def version(name: str) -> str | None:
    """The installed version of kernel ``name``'s package, or None."""
    kernel = KERNELS[name]
    try:
        return importlib.metadata.version(kernel.distribution)
    except importlib.metadata.PackageNotFoundError:
        pass
    # Another distribution may ship the module (``fla`` from flash-linear-attention < 0.3).
    for dist in importlib.metadata.packages_distributions().get(kernel.module, []):
        try:
            return f"{importlib.metadata.version(dist)} ({dist})"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _hint(name: str, reason: str) -> str:
    """A known cause of an import failure, in words."""
    if "selective_scan_cuda" in reason:
        return (
            "mamba-ssm was built without its CUDA extension (MAMBA_SKIP_CUDA_BUILD); "
            "on a GPU machine install a CUDA build matching torch"
        )
    if "undefined symbol" in reason or "libcudart" in reason or "libc10_cuda" in reason:
        return f"{KERNELS[name].distribution} was built for another torch/CUDA; reinstall it"
    return ""


@functools.cache
def _load(name: str) -> Callable[..., Any] | None:
    """Import one kernel entry point; None (and the reason kept) if that fails."""
    kernel = KERNELS[name]
    if not installed(name):
        _reasons[name] = f"{kernel.distribution} is not installed"
        return None
    try:
        with warnings.catch_warnings():  # e.g. fla: "Triton is not supported on current platform"
            warnings.simplefilter("ignore")
            module = importlib.import_module(kernel.entry)
        return getattr(module, kernel.function)
    except Exception as exc:  # ImportError, or a package built for another CUDA/torch
        reason = f"{type(exc).__name__}: {exc}".strip()
        hint = _hint(name, reason)
        _reasons[name] = f"{reason} ({hint})" if hint else reason
        return None


def available(name: str) -> bool:
    """Whether kernel ``name`` (``"ssd"``, ``"conv"``, ``"gdn"``) imports (imports it)."""
    return _load(name) is not None


def reason(name: str) -> str | None:
    """Why kernel ``name`` is not usable (imports it to find out), or None when it is."""
    return None if available(name) else _reasons.get(name)


@dataclass(frozen=True)
class KernelStatus:
    """What :func:`status` reports for one kernel."""

    name: str
    distribution: str
    function: str
    installed: bool
    version: str | None
    usable: bool
    reason: str | None


def status(name: str) -> KernelStatus:
    """Installed, version, and whether it imports (with the reason when not). Imports it."""
    kernel = KERNELS[name]
    usable = available(name)
    return KernelStatus(
        name=name,
        distribution=kernel.distribution,
        function=f"{kernel.entry}.{kernel.function}",
        installed=installed(name),
        version=version(name),
        usable=usable,
        reason=None if usable else _reasons.get(name),
    )


def set_cpu_interpreter(enabled: bool) -> None:
    """Also send CPU tensors to the kernels (run by Triton's interpreter).

    Only for testing the kernel path without a GPU: needs ``TRITON_INTERPRET=1`` set before the
    kernel packages were imported, and the shims of ``tests/kernels/_interpret.py``.
    """
    global _cpu_interpreter
    _cpu_interpreter = bool(enabled)


def cpu_interpreter() -> bool:
    """Whether CPU tensors are sent to the kernels (:func:`set_cpu_interpreter`)."""
    return _cpu_interpreter


def _use(name: str, t: Tensor) -> bool:
    if not _enabled():
        return False
    if not (t.is_cuda or (_cpu_interpreter and t.device.type == "cpu")):
        return False
    if _load(name) is None:
        if t.is_cuda and installed(name) and name not in _warned:
            _warned.add(name)
            warnings.warn(
                f"eegssm: {KERNELS[name].distribution} is installed but not usable "
                f"({_reasons.get(name)}); using the PyTorch reference (see `eegssm doctor`)",
                RuntimeWarning,
                stacklevel=3,
            )
        return False
    return True


def use_ssd(x: Tensor) -> bool:
    return _use("ssd", x)


def conv_supported(channels: int, width: int) -> bool:
    """Whether the ``causal_conv1d`` kernel handles ``channels`` with conv width ``width``."""
    return width in CONV_WIDTHS and channels % CONV_CHANNEL_MULTIPLE == 0


def use_causal_conv1d(x: Tensor, width: int = 4) -> bool:
    """``x (B, D, L)``; the kernel supports widths 2-4 and channel counts multiple of 8."""
    return conv_supported(x.shape[1], width) and _use("conv", x)


def use_gated_delta_rule(q: Tensor) -> bool:
    return q.shape[-1] <= GDN_MAX_HEAD_DIM and _use("gdn", q)


def ssd(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    chunk_size: int,
    initial_state: Tensor | None = None,
    D: Tensor | None = None,
    z: Tensor | None = None,
    dt_bias: Tensor | None = None,
    dt_softplus: bool = False,
) -> tuple[Tensor, Tensor]:
    """``mamba_chunk_scan_combined`` with our argument conventions → ``(y, final_state)``.

    Shapes as in :func:`eegssm.nn.ssd.ssd_chunked`: ``x (b, l, h, p)``, ``dt (b, l, h)``,
    ``A (h,)``, ``B, C (b, l, g, n)``, ``initial_state (b, h, p, n)``; ``D (h,)`` adds ``D·x``;
    ``z (b, l, h, p)`` gates the output, ``y·silu(z)``; with ``dt_bias (h,)`` and
    ``dt_softplus`` the step is ``softplus(dt + dt_bias)``.
    """
    fn = _load("ssd")
    y, final = fn(
        x,
        dt,
        A,
        B,
        C,
        chunk_size=chunk_size,
        D=D,
        z=z,
        dt_bias=dt_bias,
        dt_softplus=dt_softplus,
        initial_states=initial_state,
        return_final_states=True,
    )
    return y, final


def causal_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x (B, D, L)``, depthwise ``weight (D, 1, k)`` → ``silu(conv(x))`` ``(B, D, L)``."""
    fn = _load("conv")
    return fn(x.contiguous(), weight.squeeze(1), bias, activation="silu")


def gated_delta_rule(q, k, v, g, beta, scale, initial_state):
    """fla's ``chunk_gated_delta_rule`` on ``(B, L, H, D)`` tensors → ``(o, final_state)``."""
    fn = _load("gdn")
    return fn(
        q,
        k,
        v,
        g,
        beta,
        scale=scale,
        initial_state=initial_state,
        output_final_state=True,
    )
