#!/usr/bin/env python
"""Sequence-core benchmark: Mamba2 vs GatedDeltaNet vs a Transformer encoder layer.

Forward+backward wall time and peak memory at L in {1024 ... 16384}, d_model 64 and 256, batch 4,
all measured in one run (each configuration in its own process), plus a chunk-size sweep and the
effect of the memory allocator. Prints the tables and writes ``docs/benchmarks/sequence_core.md``.

    python benchmarks/sequence_core.py                 # full run (~7 min on 2 cores)
    python benchmarks/sequence_core.py --quick         # small sizes, prints only

In parts (each part short enough for a shared benchmark lock), then one document:

    python benchmarks/sequence_core.py --d-models 64 --chunk-sweep --no-allocator --save a.json
    python benchmarks/sequence_core.py --d-models 256 --chunk-sweep --no-allocator --save b.json
    python benchmarks/sequence_core.py --lengths 1024 16384 --layers --save c.json
    python benchmarks/sequence_core.py --assemble a.json b.json c.json

A part's rows (Mamba2, Gated DeltaNet and the Transformer at one width) are measured in the same
invocation, so the ratios inside the main table are side by side. ``--layers`` with no names
skips the main table; ``--chunk-sweep`` with no sizes skips the sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from eegssm import atomic
from eegssm.bench import LAYERS, Measurement, markdown_table, measure

THP = {"THP_MEM_ALLOC_ENABLE": "1"}
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "sequence_core.md"


def measure_all(args: argparse.Namespace) -> dict:
    """Run the measurements this invocation asks for; returns them as a part (JSON-able)."""
    env = {} if args.default_malloc else THP
    rows: list[Measurement] = []
    sweep: list[Measurement] = []
    alloc: list[list[Measurement]] = []
    started = time.time()
    for d_model in args.d_models:
        for length in args.lengths:
            for layer in args.layers:
                n = passes(layer, length, args)
                m = measure(layer, d_model, length, args.batch, args.chunk, n, env=env)
                rows.append(m)
                print(
                    f"{layer:15s} d={d_model:3d} L={length:5d}: {m.seconds:8.3f} s "
                    f"{m.us_per_token:7.2f} us/token {m.peak_mib:7.0f} MiB",
                    flush=True,
                )
    if args.chunk_sweep:
        for layer in ("mamba2", "gated_deltanet"):
            for d_model in args.d_models:
                for chunk in args.chunk_sweep:
                    m = measure(
                        layer, d_model, args.sweep_length, args.batch, chunk, args.repeats, env=env
                    )
                    sweep.append(m)
                    print(f"sweep {layer} d={d_model} Q={chunk}: {m.seconds:.3f} s", flush=True)
    if args.allocator:
        for length in (args.lengths[0], args.lengths[-1]):
            a = measure("mamba2", 64, length, args.batch, args.chunk, args.repeats)
            b = measure("mamba2", 64, length, args.batch, args.chunk, args.repeats, env=THP)
            alloc.append([a, b])
            print(f"allocator L={length}: {a.seconds:.3f} s vs {b.seconds:.3f} s", flush=True)
    return {
        "command": " ".join(["python", "benchmarks/sequence_core.py", *sys.argv[1:]]),
        "seconds": time.time() - started,
        "load": args.load,
        "scheduling": scheduling(),
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "allocator": allocator_name(args),
        "batch": args.batch,
        "repeats": args.repeats,
        "lengths": args.lengths,
        "sweep_length": args.sweep_length,
        "rows": [asdict(m) for m in rows],
        "sweep": [asdict(m) for m in sweep],
        "alloc": [[asdict(a), asdict(b)] for a, b in alloc],
    }


def passes(layer: str, length: int, args: argparse.Namespace) -> int:
    """Timed passes for one configuration: ``--repeats``, two fewer for the Transformer from
    L = 8192 on (its passes take 3-30 s each; the others' a few seconds at most)."""
    if layer == "transformer" and length >= 8192:
        return max(1, args.repeats - 2)
    return args.repeats


def scheduling() -> str:
    """This process's CPU scheduling (the measuring subprocesses inherit it)."""
    try:
        policy = os.sched_getscheduler(0)
        prio = os.sched_getparam(0).sched_priority
    except (AttributeError, OSError):
        return "unknown"
    names = {getattr(os, n): n for n in ("SCHED_OTHER", "SCHED_FIFO", "SCHED_RR") if hasattr(os, n)}
    name = names.get(policy, str(policy))
    return f"{name} priority {prio}" if prio else f"{name}, nice {os.nice(0)}"


def report(parts: list[dict]) -> str:
    """The markdown document for one or more parts."""
    rows = [Measurement(**m) for part in parts for m in part["rows"]]
    sweep = [Measurement(**m) for part in parts for m in part["sweep"]]
    alloc = [[Measurement(**m) for m in pair] for part in parts for pair in part["alloc"]]
    first = parts[0]
    batch = first["batch"]
    sections = []
    if rows:
        lengths = sorted({r.length for r in rows})
        sections.append(f"## Forward + backward, batch {batch}\n\n{markdown_table(rows)}")
        sections.append("## Targets\n\n" + targets(rows, lengths))
    if sweep:
        sections.append(
            f"## Chunk size (L = {sweep[0].length})\n\n"
            + markdown_table(sweep)
            + "\n\n"
            + fastest_chunks(sweep)
        )
    if alloc:
        lines = [
            "| layer | L | default malloc s | THP_MEM_ALLOC_ENABLE=1 s | default / THP |",
            "|---|---:|---:|---:|---:|",
        ]
        for a, b in alloc:
            lines.append(
                f"| mamba2 d=64 | {a.length} | {a.seconds:.3f} ({a.us_per_token:.1f} µs/token) "
                f"| {b.seconds:.3f} ({b.us_per_token:.1f} µs/token) | {a.seconds / b.seconds:.2f} |"
            )
        sections.append(
            "## Memory allocator\n\nLarge fresh CPU allocations (> 32 MiB) are served by `mmap`, "
            "and every first touch of a 4 KiB page faults; `THP_MEM_ALLOC_ENABLE=1` makes PyTorch "
            "back large tensors with transparent huge pages (2 MiB, 512x fewer faults). At "
            "L = 16384 a layer's activations and gradients are hundreds of MiB, all fresh memory "
            "on every pass. The main table uses "
            f"{first['allocator']} for every layer.\n\n" + "\n".join(lines)
        )
    if len(parts) == 1:
        how = (
            f"Produced by `{first['command']}` ({first['seconds']:.0f} s), scheduling "
            f"{first['scheduling']}, load average before the run {first['load']}."
        )
    else:
        how = (
            f"Assembled (`--assemble`) from {len(parts)} parts, each run on its own: "
            + "; ".join(
                f"`{part['command']}` ({part['seconds']:.0f} s, scheduling {part['scheduling']}, "
                f"load average before {part['load']})"
                for part in parts
            )
            + "."
        )
    header = (
        "# Sequence-core benchmark\n\n"
        f"{how} Machine: {first['machine']}, {first['threads']} threads, torch {first['torch']}.\n"
        "Layers: `Mamba2(d_model)` (d_state 64, d_conv 4, expand 2, headdim 64), "
        "`GatedDeltaNet(d_model, num_heads=4, head_dim=d_model/4, expand_v=2)`, "
        "`nn.TransformerEncoderLayer(d_model, nhead=4, dim_feedforward=4·d_model, dropout=0, "
        "batch_first=True)` (SDPA attention). Time: median of the timed passes after one warm-up "
        f"({first['repeats']} timed passes; {max(1, first['repeats'] - 2)} for the Transformer "
        "from L = 8192 on); peak: extra resident memory during the "
        "warm-up pass; each configuration in a fresh process. The layers of one width and length "
        "run one after the other in the same part, so the ratios are side by side. "
        f"Allocator: {first['allocator']}.\n"
    )
    return header + "\n" + "\n\n".join(sections) + "\n"


def allocator_name(args: argparse.Namespace) -> str:
    return "the default allocator" if args.default_malloc else "`THP_MEM_ALLOC_ENABLE=1`"


def targets(rows: list[Measurement], lengths: list[int]) -> str:
    out = []
    longest = max(lengths)
    for d_model in sorted({r.d_model for r in rows}):
        by = {(r.layer, r.length): r for r in rows if r.d_model == d_model}
        if ("mamba2", longest) in by and ("transformer", longest) in by:
            ratio = by["transformer", longest].seconds / by["mamba2", longest].seconds
            out.append(
                f"- d_model {d_model}: at L = {longest} Mamba2 is {ratio:.1f}x faster than the "
                f"Transformer layer (target >= 10x): {'met' if ratio >= 10 else 'NOT met'}."
            )
        per_tok = [by["mamba2", L].us_per_token for L in lengths if ("mamba2", L) in by]
        if per_tok:
            spread = max(per_tok) / min(per_tok)
            out.append(
                f"- d_model {d_model}: Mamba2 time per token varies {spread:.2f}x from "
                f"L = {min(lengths)} to {longest} (target < 1.5x): "
                f"{'met' if spread < 1.5 else 'NOT met'}."
            )
        mem = [by["mamba2", L].peak_mib / L for L in lengths if ("mamba2", L) in by]
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
    p.add_argument("--layers", nargs="*", default=list(LAYERS), choices=LAYERS)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument(
        "--chunk", type=int, default=None, help="chunk size (default: each layer's default)"
    )
    p.add_argument("--repeats", type=int, default=5, help="timed passes (median reported)")
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
    p.add_argument("--save", type=Path, help="write this part's measurements (JSON), no document")
    p.add_argument(
        "--assemble", type=Path, nargs="+", help="write the document from saved parts; no runs"
    )
    args = p.parse_args()
    if args.assemble:
        parts = [json.loads(path.read_text()) for path in args.assemble]
        text = report(parts)
        print(text)
        atomic.write_text(args.out, text)
        print(f"wrote {args.out}")
        return
    if args.quick:
        args.lengths, args.d_models, args.repeats = [512, 1024, 2048], [64], 3
        args.chunk_sweep, args.allocator = [], False
    args.load = subprocess.run(
        ["cat", "/proc/loadavg"], capture_output=True, text=True
    ).stdout.split()[:3]
    part = measure_all(args)
    text = report([part])
    print("\n" + text)
    if args.save:
        atomic.write_text(args.save, json.dumps(part, indent=1))
        print(f"saved {args.save}")
    elif not args.quick:
        atomic.write_text(args.out, text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
