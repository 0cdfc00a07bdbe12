"""``eegssm bench``: time the sequence cores on this machine (a small, quick table).

The full benchmark, which writes ``docs/benchmarks/sequence_core.md``, is
``python benchmarks/sequence_core.py``.
"""

from __future__ import annotations

import argparse

from eegssm.bench import LAYERS
from eegssm.commands._args import HelpFormatter


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="time Mamba2 / GatedDeltaNet / Transformer forward+backward on this machine",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lengths", type=int, nargs="+", default=[1024, 2048, 4096], help="sequence lengths L"
    )
    p.add_argument("--d-model", type=int, default=64, help="layer width")
    p.add_argument("--batch", type=int, default=2, help="batch size")
    p.add_argument(
        "--layers", nargs="+", default=list(LAYERS), choices=LAYERS, help="layers to time"
    )
    p.add_argument("--repeats", type=int, default=2, help="timed passes after a warm-up")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from eegssm.bench import markdown_table, measure

    configs = [(layer, L) for L in args.lengths for layer in args.layers]
    rows = []
    for layer, length in tqdm(configs, desc="measuring", unit="config"):
        rows.append(measure(layer, args.d_model, length, args.batch, None, args.repeats))
    print(f"\nForward+backward on this CPU (d_model {args.d_model}, batch {args.batch}):\n")
    print(markdown_table(rows))
    longest = max(args.lengths)
    by = {(r.layer, r.length): r for r in rows}
    if ("mamba2", longest) in by and ("transformer", longest) in by:
        ratio = by["transformer", longest].seconds / by["mamba2", longest].seconds
        print(f"\nAt L = {longest}: Transformer time / Mamba2 time = {ratio:.1f}.")
        print("Attention costs O(L²) per sequence and the SSD scan O(L): try longer --lengths.")
    return 0
