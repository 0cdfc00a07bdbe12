"""``eegssm doctor``: torch, device, kernel packages, and which backend each sequence core uses."""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import platform

DESCRIPTION = """\
Report what this installation will run on:

  * Python, torch (and the CUDA it was built with), the device(s) and thread count;
  * the optional kernel packages (mamba-ssm, causal-conv1d, fla-core, triton): version, and the
    exact reason when one is installed but cannot be imported (e.g. mamba-ssm built without its
    CUDA extension);
  * per sequence core (mamba2, gated_deltanet), the backend used on CPU tensors and on CUDA
    tensors: PyTorch reference, mamba_ssm / causal_conv1d / fla kernels, or Triton's interpreter
    (and on CPU tensors, Mamba-2's recurrence in C for inference where the extension is built);
  * the kernels' constraints (conv width d_conv in 2-4, conv channels a multiple of 8, head width
    <= 256) for every layer of the bundled checkpoints and the model presets: where a layer does
    not meet them, that part runs the PyTorch path on a GPU too.

Imports the kernel packages to find out (a few seconds: mamba-ssm pulls in transformers).
"""

EPILOG = """\
examples:
  eegssm doctor
  eegssm doctor --json
  EEGSSM_DISABLE_KERNELS=1 eegssm doctor     # what the kill switch does
"""

REFERENCE = "PyTorch reference"
CPU_SCAN = "C recurrence eegssm.nn._scan (inference; training: PyTorch reference)"
SCIPY_FILTER = "scipy.signal.sosfiltfilt, channel by channel"
ENGINE = "eegssm.engine: numpy + C, no PyTorch import (any length)"
STREAM_ENGINE = "eegssm.stream_engine: numpy + C"
#: Which kernels each core can use: (part, kernel name).
CORES = {
    "mamba2": [("scan", "ssd"), ("conv", "conv")],
    "gated_deltanet": [("delta rule", "gdn"), ("conv", "conv")],
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="report torch, device, kernel packages and the backend each sequence core uses",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    info = diagnose()
    print(json.dumps(info, indent=2) if args.json else format_text(info))
    return 0


def diagnose() -> dict:
    """Everything ``eegssm doctor`` reports, JSON-ready."""
    import torch

    from eegssm import __version__
    from eegssm.nn import kernels

    statuses = {name: kernels.status(name) for name in kernels.KERNELS}
    return {
        "eegssm": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available()
        else [],
        "threads": torch.get_num_threads(),
        "kernels_disabled": not kernels._enabled(),
        "triton_interpret": os.environ.get("TRITON_INTERPRET") == "1",
        "cpu_interpreter": kernels.cpu_interpreter(),
        "packages": {
            name: {
                "package": s.distribution,
                "installed": s.installed,
                "version": s.version,
                "usable": s.usable,
                "entry": s.function,
                "reason": s.reason,
            }
            for name, s in statuses.items()
        }
        | {"triton": _triton()},
        "cores": {core: _core_backends(parts, statuses) for core, parts in CORES.items()},
        "filter": _filter_backend(),
        "detect_model": _detect_model(),
        "monitor_model": _detect_model(causal=True),
        "constraints": copy.deepcopy(constraint_report()),
    }


def _filter_backend() -> str:
    """How preprocessing runs its zero-phase band-pass/notch filters, in words."""
    from eegssm.preprocessing import iir

    if iir.available():
        return iir.C_FILTER
    return f"{SCIPY_FILTER} ({iir.reason()})"


def _detect_model(causal: bool = False) -> str:
    """What runs the bundled checkpoint in ``eegssm detect`` (``causal``: the bundled causal
    one in ``eegssm monitor``) on a CPU, in words."""
    from eegssm import engine
    from eegssm.checkpoints import checkpoint_path

    reason = engine.unavailable()
    if reason is None:
        folder = checkpoint_path("causal" if causal else "default")
        reason = engine.supports(json.loads((folder / "config.json").read_text()), causal)
    if reason is None:
        return STREAM_ENGINE if causal else ENGINE
    return f"PyTorch ({reason})"


def _triton() -> dict:
    import importlib.metadata
    import importlib.util

    try:
        version = importlib.metadata.version("triton")
    except importlib.metadata.PackageNotFoundError:
        version = None
    found = importlib.util.find_spec("triton") is not None
    return {"package": "triton", "installed": found, "version": version}


def _backend(name: str, status, device: str) -> str:
    """The backend kernel ``name`` gets on ``device`` (``"cpu"`` or ``"cuda"``), in words."""
    from eegssm.nn import kernels

    kernel = kernels.KERNELS[name]
    if not kernels._enabled():
        return f"{REFERENCE} (EEGSSM_DISABLE_KERNELS is set)"
    if device == "cpu" and not kernels.cpu_interpreter():
        if name == "ssd":  # the C recurrence of eegssm.nn.cpu_scan, where it is built
            from eegssm.nn import cpu_scan

            if cpu_scan.available():
                return CPU_SCAN
            return f"{REFERENCE} ({cpu_scan.reason()})"
        return REFERENCE
    if not status.usable:
        return f"{REFERENCE} ({status.reason})"
    label = f"{kernel.module} {status.version or ''} {kernel.function}".replace("  ", " ")
    return f"Triton interpreter: {label}" if device == "cpu" else label


def _core_backends(parts, statuses) -> dict:
    return {
        part: {device: _backend(name, statuses[name], device) for device in ("cpu", "cuda")}
        for part, name in parts
    }


def layer_constraints(model) -> list[dict]:
    """The kernel constraints of every distinct sequence layer in ``model``.

    One entry per distinct (layer type, width, conv channels, conv width, head width), with
    ``conv_kernel`` (causal_conv1d usable: width in 2-4 and channels a multiple of 8) and, for
    Gated DeltaNet, ``fla_kernel`` (head width <= 256). Mamba-2's SSD kernel has no constraint
    beyond what the layer itself enforces (heads divisible by groups).
    """
    from eegssm.nn import GatedDeltaNet, Mamba2, kernels

    seen: dict[tuple, dict] = {}
    for module in model.modules():
        if not isinstance(module, (Mamba2, GatedDeltaNet)):
            continue
        conv = module.conv1d
        entry = {
            "layer": type(module).__name__,
            "d_model": module.d_model,
            "d_conv": conv.kernel_size,
            "conv_channels": conv.channels,
            "conv_kernel": kernels.conv_supported(conv.channels, conv.kernel_size),
        }
        if isinstance(module, GatedDeltaNet):
            entry["head_dim"] = module.head_dim
            entry["fla_kernel"] = module.head_dim <= kernels.GDN_MAX_HEAD_DIM
        key = tuple(entry.values())
        if key in seen:
            seen[key]["count"] += 1
        else:
            seen[key] = {**entry, "count": 1}
    return list(seen.values())


def _configurations():
    """``(name, model)`` for every bundled checkpoint and model preset."""
    from eegssm.checkpoints import available, checkpoint_path
    from eegssm.models.detector import CORES as DETECTOR_CORES
    from eegssm.models.detector import PRESETS as DETECTOR_PRESETS
    from eegssm.models.detector import SeizureDetector
    from eegssm.models.eegm2 import EEGM2
    from eegssm.models.eegm2 import PRESETS as EEGM2_PRESETS

    for name in available():
        yield f"checkpoint {name}", SeizureDetector.from_pretrained(checkpoint_path(name))
    for preset in DETECTOR_PRESETS:
        for core in DETECTOR_CORES:
            yield (
                f"SeizureDetector {preset} ({core})",
                SeizureDetector.from_preset(preset, core=core),
            )
    for preset in EEGM2_PRESETS:
        yield f"EEGM2 {preset}", EEGM2.from_preset(preset, n_chans=19)


@functools.cache
def constraint_report() -> dict:
    """Configuration name → :func:`layer_constraints` of its model (built once per process)."""
    return {name: layer_constraints(model) for name, model in _configurations()}


def _mark(ok: bool) -> str:
    return "yes" if ok else "NO"


def format_text(info: dict) -> str:
    """Human-readable report of :func:`diagnose`."""
    lines = [
        f"eegssm {info['eegssm']} · Python {info['python']} · torch {info['torch']}"
        + (f" (CUDA {info['torch_cuda']})" if info["torch_cuda"] else " (built without CUDA)"),
    ]
    if info["cuda_available"]:
        lines.append(f"devices: cpu, cuda: {', '.join(info['cuda_devices'])}")
    else:
        lines.append("devices: cpu only (no CUDA device)")
    lines.append(f"torch threads: {info['threads']}")
    if info["kernels_disabled"]:
        lines.append("EEGSSM_DISABLE_KERNELS is set: every layer uses the PyTorch reference")
    lines += ["", "kernel packages:"]
    for pkg in info["packages"].values():
        if not pkg["installed"]:
            state = "not installed"
        elif "usable" not in pkg:
            state = "installed"
        elif pkg["usable"]:
            state = f"usable: {pkg['entry']}"
        else:
            state = f"NOT usable: {pkg['reason']}"
        lines.append(f"  {pkg['package']:<14} {pkg['version'] or '-':<12} {state}")
    interp = "set" if info["triton_interpret"] else "not set"
    lines.append(
        f"  TRITON_INTERPRET {interp}; CPU tensors go to the kernels: "
        f"{'yes (Triton interpreter)' if info['cpu_interpreter'] else 'no'}"
    )
    lines += ["", "backend per core:"]
    for core, parts in info["cores"].items():
        for part, devices in parts.items():
            lines.append(f"  {core} {part}")
            lines.append(f"    on CPU:  {devices['cpu']}")
            lines.append(f"    on CUDA: {devices['cuda']}")
    lines += ["", f"preprocessing filters: {info['filter']}"]
    lines += [f"detect, bundled checkpoint: {info['detect_model']}"]
    lines += [f"monitor, bundled causal checkpoint: {info['monitor_model']}"]
    lines += [
        "",
        "kernel constraints of the bundled configurations",
        "(causal_conv1d: d_conv in 2-4 and conv channels a multiple of 8; fla: head width <= 256;",
        " a layer that does not meet them runs that part with the PyTorch reference):",
    ]
    for name, layers in info["constraints"].items():
        lines.append(f"  {name}")
        for layer in layers:
            text = (
                f"    {layer['count']} x {layer['layer']}(d_model {layer['d_model']}): "
                f"d_conv {layer['d_conv']}, conv channels {layer['conv_channels']} → "
                f"causal_conv1d {_mark(layer['conv_kernel'])}"
            )
            if "fla_kernel" in layer:
                text += f"; head width {layer['head_dim']} → fla {_mark(layer['fla_kernel'])}"
            lines.append(text)
    return "\n".join(lines)
