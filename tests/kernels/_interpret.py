"""Run the CUDA kernel packages on a CPU under Triton's interpreter: the shims, in one place.

``activate()`` sets ``TRITON_INTERPRET=1`` (before ``mamba_ssm`` / ``fla`` are imported: Triton
decides at ``@triton.jit`` time whether a kernel is compiled or interpreted), then patches the few
places where the packages or Triton's interpreter assume a GPU. Applied only when no CUDA device
is present; on a CUDA machine the kernel tier runs natively and nothing here is used.

The shims (each is needed; removing one makes the tier fail, except 6 which only saves time):

1. ``torch.cuda.device(index)`` → a no-op context for CPU tensors (the packages wrap every launch
   in ``with torch.cuda.device(x.device.index)``; a CPU tensor's index is None).
2. ``torch.cuda.get_device_properties(cpu)`` → an object with ``multi_processor_count`` (mamba_ssm
   sizes some backward grids by the SM count).
3. A stub ``selective_scan_cuda`` module when the real one is missing: ``mamba_ssm/__init__``
   imports the Mamba-1 selective scan's CUDA extension, which a ``MAMBA_SKIP_CUDA_BUILD`` build
   does not have. The SSD path tested here does not use it.
4. Triton's autotuner does not benchmark (there is no GPU to time on; the interpreter has no
   benchmarker): every config times 0, so the first one is taken. Any config gives the same
   result up to float rounding.
5. ``for i in range(N)`` loop variables become Triton tensors, as in compiled Triton (fla calls
   ``i_t.to(tl.int64)`` on them; the interpreter leaves them Python ints).
6. ``tl.dot`` uses NumPy's BLAS matmul (``np.matmul(..., dtype=...)`` in the interpreter takes a
   slow non-BLAS loop): speed only, same float32 products and accumulation.
"""

from __future__ import annotations

import ast
import contextlib
import os
import sys
import types

import torch

from eegssm.nn import kernels

#: Packages whose Triton kernels must be decorated with ``TRITON_INTERPRET=1`` already set.
KERNEL_MODULES = ("mamba_ssm", "fla")

_applied = False


def needed() -> bool:
    """Whether the kernels must run under the interpreter here (no CUDA device)."""
    return not torch.cuda.is_available()


def activate() -> None:
    """Set ``TRITON_INTERPRET=1``, apply the shims, send CPU tensors to the kernels.

    Raises RuntimeError when a kernel package was imported before (its kernels are then compiled
    for a GPU and cannot run on CPU tensors): run the tier in its own process.
    """
    global _applied
    early = [m for m in KERNEL_MODULES if m in sys.modules]
    if not _applied and early and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError(
            f"{', '.join(early)} imported before TRITON_INTERPRET=1 was set; run the kernel tier "
            "in its own process: make test-kernels"
        )
    os.environ["TRITON_INTERPRET"] = "1"
    if not _applied:
        _patch_torch_cuda()
        _stub_selective_scan()
        _patch_triton()
        _applied = True
    kernels.set_cpu_interpreter(True)


def deactivate() -> None:
    """Stop sending CPU tensors to the kernels (the shims stay: they only affect CPU tensors)."""
    kernels.set_cpu_interpreter(False)


def _is_cpu(device) -> bool:
    if device is None:
        return True
    if isinstance(device, int):
        return False
    return torch.device(device).type == "cpu"


def _patch_torch_cuda() -> None:  # shims 1 and 2
    cuda_device = torch.cuda.device
    cuda_properties = torch.cuda.get_device_properties

    def device(index):
        return contextlib.nullcontext() if _is_cpu(index) else cuda_device(index)

    def get_device_properties(device=None):
        if _is_cpu(device) and not torch.cuda.is_available():
            return types.SimpleNamespace(
                name="cpu (Triton interpreter)", multi_processor_count=os.cpu_count() or 1
            )
        return cuda_properties(device)

    torch.cuda.device = device
    torch.cuda.get_device_properties = get_device_properties


def _stub_selective_scan() -> None:  # shim 3
    try:
        import selective_scan_cuda  # noqa: F401
    except ImportError:
        sys.modules["selective_scan_cuda"] = types.ModuleType("selective_scan_cuda")


def _patch_triton() -> None:  # shims 4, 5, 6
    import numpy as np
    from triton.runtime import autotuner, interpreter

    def no_benchmark(kernel_call, quantiles=None):
        return [0.0, 0.0, 0.0] if quantiles else 0.0

    autotuner.Autotuner.do_bench = property(lambda self: no_benchmark)

    class LoopVariablesAsTensors(interpreter.ASTTransformer):
        def visit_For(self, node):
            self.generic_visit(node)
            if isinstance(node.target, ast.Name):
                name = node.target.id
                to_tensor = ast.Attribute(
                    value=ast.Name(id="interpreter_semantic", ctx=ast.Load()),
                    attr="to_tensor",
                    ctx=ast.Load(),
                )
                call = ast.Call(
                    func=to_tensor,
                    args=[ast.Name(id=name, ctx=ast.Load()), ast.Constant(value=False)],
                    keywords=[],
                )
                node.body.insert(
                    0, ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=call)
                )
            return node

    interpreter.FunctionRewriter.ast_transformer = LoopVariablesAsTensors()

    builder = interpreter.InterpreterBuilder
    slow_dot = builder.create_dot

    def create_dot(self, a, b, d, input_precision, max_num_imprecise_acc):
        if a.dtype.primitive_bitwidth == 8 or b.dtype.primitive_bitwidth == 8:
            return slow_dot(self, a, b, d, input_precision, max_num_imprecise_acc)
        acc = d.data.dtype
        product = np.matmul(a.data.astype(acc, copy=False), b.data.astype(acc, copy=False))
        return interpreter.TensorHandle(product + d.data, d.dtype.scalar)

    builder.create_dot = create_dot
