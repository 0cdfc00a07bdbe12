#!/usr/bin/env python
"""One Mamba-2 layer forward (inference) on a CPU: the C recurrence against the chunked SSD.

The layer shapes of the bundled detector (its node stream: 18 electrodes × 2000 frames, the
one-pass chunk, d_model 32, state 16, head width 32; its edge stream: 153 electrode pairs × 2000
pooled steps, d_model 8, state 8, head width 8) and a wider EEGM2-like layer (d_model 64, state
64, head width 64, 8 sequences × 4096 steps). Per shape the two paths run alternately in the same
process (``EEGSSM_DISABLE_KERNELS=1`` switches the C recurrence off), ``--repeats`` times each,
at the default thread count; medians and their ratio. The outputs of the two paths are compared
too (max abs difference). Prints the table and writes ``docs/benchmarks/cpu_scan.md``::

    python benchmarks/cpu_scan.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from eegssm import atomic
from eegssm.nn import Mamba2, cpu_scan

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "cpu_scan.md"

#: name → (sequences, steps, d_model, d_state, headdim)
SHAPES = {
    "bundled detector, node stream": (18, 2000, 32, 16, 32),
    "bundled detector, edge stream": (153, 2000, 8, 8, 8),
    "EEGM2-like layer": (8, 4096, 64, 64, 64),
}


def timed(layer, u) -> float:
    t = time.perf_counter()
    layer(u)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--out", type=Path, default=DOC)
    args = p.parse_args()
    if not cpu_scan.available():
        raise SystemExit(f"the C recurrence is not available here: {cpu_scan.reason()}")
    rows = []
    torch.manual_seed(0)
    with torch.no_grad():
        for name, (b, l, d, n, hd) in SHAPES.items():
            layer = Mamba2(d, d_state=n, headdim=hd, chunk_size=16).eval()
            u = torch.randn(b, l, d)
            fast = layer(u)
            os.environ["EEGSSM_DISABLE_KERNELS"] = "1"
            slow = layer(u)
            del os.environ["EEGSSM_DISABLE_KERNELS"]
            diff = (fast - slow).abs().max().item()
            c_times, chunked_times = [], []
            for _ in range(args.repeats):
                c_times.append(timed(layer, u))
                os.environ["EEGSSM_DISABLE_KERNELS"] = "1"
                chunked_times.append(timed(layer, u))
                del os.environ["EEGSSM_DISABLE_KERNELS"]
            c, chunked = statistics.median(c_times), statistics.median(chunked_times)
            rows.append((name, b, l, d, n, hd, c, chunked, diff))
            print(f"{name}: C {c * 1e3:.1f} ms, chunked {chunked * 1e3:.1f} ms, "
                  f"{chunked / c:.2f}×, max |diff| {diff:.1e}", flush=True)  # fmt: skip
    lines = [
        "# One Mamba-2 layer forward on a CPU: C recurrence vs chunked SSD",
        "",
        f"Produced by `python benchmarks/cpu_scan.py --repeats {args.repeats}` "
        f"({time.strftime('%Y-%m-%d')}); {platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads (the default). "
        "The whole layer (projections, causal conv + SiLU, the SSM, gated norm, output "
        "projection) under `torch.no_grad()`; the two paths alternate in one process; medians. "
        "The machine is shared: read the ratios.",
        "",
        "| layer | sequences × steps | d_model / state / head width | C recurrence ms | "
        "chunked SSD ms | speed-up | max abs difference |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name, b, l, d, n, hd, c, chunked, diff in rows:
        lines.append(
            f"| {name} | {b} × {l} | {d} / {n} / {hd} | {c * 1e3:.1f} | {chunked * 1e3:.1f} | "
            f"{chunked / c:.2f}× | {diff:.1e} |"
        )
    lines += [
        "",
        "The C recurrence (`eegssm.nn.cpu_scan`) does two multiply-adds per state element and "
        "step; the chunked form builds decay and score matrices per chunk and passes over memory "
        "many times, which pays off for the backward pass and on matrix units, not for a CPU "
        "forward. Training keeps the chunked form.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    atomic.write_text(args.out, text)


if __name__ == "__main__":
    main()
