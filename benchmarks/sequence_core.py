#!/usr/bin/env python
"""Sequence-core benchmark: Mamba2 vs GatedDeltaNet vs a Transformer encoder layer.

Forward+backward wall time and peak memory at L in {1024 ... 16384}, d_model 64 and 256, batch 4,
all measured in one run (each configuration in its own process), plus a chunk-size sweep and the
effect of the memory allocator. Prints the tables and writes ``docs/benchmarks/sequence_core.md``.

    python benchmarks/sequence_core.py                 # full run (~20 min on 2 cores)
    python benchmarks/sequence_core.py --quick         # small sizes, prints only
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time
from pathlib import Path

import torch

from eegssm import atomic
from eegssm.bench import LAYERS, Measurement, markdown_table, measure

THP = {"THP_MEM_ALLOC_ENABLE": "1"}
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "sequence_core.md"


def run(args: argparse.Namespace) -> str:
    env = {} if args.default_malloc else THP
    rows: list[Measurement] = []
    sections = []
    started = time.time()
    for d_model in args.d_models:
        for length in args.lengths:
            for layer in args.layers:
                repeats = args.repeats if length < 8192 else max(1, args.repeats - 1)
                m = measure(layer, d_model, length, args.batch, args.chunk, repeats, env=env)
                rows.append(m)
                print(
                    f"{layer:15s} d={d_model:3d} L={length:5d}: {m.seconds:8.3f} s "
                    f"{m.us_per_token:7.2f} us/token {m.peak_mib:7.0f} MiB",
                    flush=True,
                )
    main = markdown_table(rows)
    sections.append(f"## Forward + backward, batch {args.batch}\n\n{main}")
    sections.append("## Targets\n\n" + targets(rows, args))

    if args.chunk_sweep:
        sweep = []
        for layer in ("mamba2", "gated_deltanet"):
            for d_model in args.d_models:
                for chunk in args.chunk_sweep:
                    m = measure(
                        layer, d_model, args.sweep_length, args.batch, chunk, args.repeats, env=env
                    )
                    sweep.append(m)
                    print(f"sweep {layer} d={d_model} Q={chunk}: {m.seconds:.3f} s", flush=True)
        sections.append(
            f"## Chunk size (L = {args.sweep_length})\n\n"
            + markdown_table(sweep)
            + "\n\n"
            + fastest_chunks(sweep)
        )

    if args.allocator:
        alloc = []
        lines = [
            "| layer | L | default malloc s | THP_MEM_ALLOC_ENABLE=1 s | default / THP |",
            "|---|---:|---:|---:|---:|",
        ]
        for length in (args.lengths[0], args.lengths[-1]):
            a = measure("mamba2", 64, length, args.batch, args.chunk, args.repeats)
            b = measure("mamba2", 64, length, args.batch, args.chunk, args.repeats, env=THP)
            alloc += [a, b]
            lines.append(
                f"| mamba2 d=64 | {length} | {a.seconds:.3f} ({a.us_per_token:.1f} µs/token) "
                f"| {b.seconds:.3f} ({b.us_per_token:.1f} µs/token) | {a.seconds / b.seconds:.2f} |"
            )
        sections.append(
            "## Memory allocator\n\nLarge fresh CPU allocations (> 32 MiB) are served by `mmap`, "
            "and every first touch of a 4 KiB page faults. At L = 16384 the intermediates are "
            "hundreds of MiB, so page faults, not arithmetic, dominate unless PyTorch backs large "
            "tensors with transparent huge pages (`THP_MEM_ALLOC_ENABLE=1`). The main table uses "
            f"{allocator_name(args)} for every layer.\n\n" + "\n".join(lines)
        )

    header = (
        "# Sequence-core benchmark\n\n"
        f"Produced by `python benchmarks/sequence_core.py` ({time.time() - started:.0f} s). "
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, load average before the run {args.load}.\n"
        "Layers: `Mamba2(d_model)` (d_state 64, d_conv 4, expand 2, headdim 64), "
        "`GatedDeltaNet(d_model, num_heads=4, head_dim=d_model/4, expand_v=2)`, "
        "`nn.TransformerEncoderLayer(d_model, nhead=4, dim_feedforward=4·d_model, dropout=0, "
        "batch_first=True)` (SDPA attention). Time: median of the timed passes after one warm-up; "
        "peak: extra resident memory during the warm-up pass, each configuration in a fresh "
        f"process. Allocator: {allocator_name(args)}.\n"
    )
    return header + "\n" + "\n\n".join(sections) + "\n"


def allocator_name(args: argparse.Namespace) -> str:
    return "the default allocator" if args.default_malloc else "`THP_MEM_ALLOC_ENABLE=1`"


def targets(rows: list[Measurement], args: argparse.Namespace) -> str:
    out = []
    longest = max(args.lengths)
    for d_model in args.d_models:
        by = {(r.layer, r.length): r for r in rows if r.d_model == d_model}
        if ("mamba2", longest) in by and ("transformer", longest) in by:
            ratio = by["transformer", longest].seconds / by["mamba2", longest].seconds
            out.append(
                f"- d_model {d_model}: at L = {longest} Mamba2 is {ratio:.1f}x faster than the "
                f"Transformer layer (target >= 10x): {'met' if ratio >= 10 else 'NOT met'}."
            )
        per_tok = [by["mamba2", L].us_per_token for L in args.lengths if ("mamba2", L) in by]
        if per_tok:
            spread = max(per_tok) / min(per_tok)
            out.append(
                f"- d_model {d_model}: Mamba2 time per token varies {spread:.2f}x from "
                f"L = {min(args.lengths)} to {longest} (target < 1.5x): "
                f"{'met' if spread < 1.5 else 'NOT met'}."
            )
        mem = [by["mamba2", L].peak_mib / L for L in args.lengths if ("mamba2", L) in by]
        if mem:
            out.append(
                f"- d_model {d_model}: Mamba2 peak memory per token ranges "
                f"{min(mem) * 1024:.1f}–{max(mem) * 1024:.1f} KiB (linear growth means a "
                "flat value; small L carries fixed overheads)."
            )
    return "\n".join(out)


def fastest_chunks(sweep: list[Measurement]) -> str:
    out = []
    for layer in sorted({m.layer for m in sweep}):
        for d_model in sorted({m.d_model for m in sweep}):
            ms = [m for m in sweep if m.layer == layer and m.d_model == d_model]
            if ms:
                best = min(ms, key=lambda m: m.seconds)
                out.append(f"- {layer}, d_model {d_model}: fastest chunk size {best.chunk_size}.")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096, 8192, 16384])
    p.add_argument("--d-models", type=int, nargs="+", default=[64, 256])
    p.add_argument("--layers", nargs="+", default=list(LAYERS), choices=LAYERS)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument(
        "--chunk", type=int, default=None, help="chunk size (default: each layer's default)"
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--chunk-sweep", type=int, nargs="*", default=[16, 32, 64, 128, 256])
    p.add_argument("--sweep-length", type=int, default=4096)
    p.add_argument(
        "--no-allocator",
        dest="allocator",
        action="store_false",
        help="skip the default-malloc vs THP comparison",
    )
    p.add_argument(
        "--default-malloc",
        action="store_true",
        help="main table with the default allocator instead of THP_MEM_ALLOC_ENABLE=1",
    )
    p.add_argument("--quick", action="store_true", help="small sizes; print only, write nothing")
    p.add_argument("--out", type=Path, default=DOC)
    args = p.parse_args()
    if args.quick:
        args.lengths, args.d_models, args.repeats = [512, 1024, 2048], [64], 2
        args.chunk_sweep, args.allocator = [], False
    args.load = subprocess.run(
        ["cat", "/proc/loadavg"], capture_output=True, text=True
    ).stdout.split()[:3]
    text = run(args)
    print("\n" + text)
    if not args.quick:
        atomic.write_text(args.out, text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
