"""``eegssm demo``: the main job on its embedded default.

Until the seizure-detection command exists, the demo times the sequence cores (Mamba2, Gated
DeltaNet, a Transformer layer) at small sizes on this machine and prints the table.
"""

from __future__ import annotations

import argparse

from eegssm.commands import bench


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the embedded demo (sequence-core timing table)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_arguments(p)
    p.set_defaults(func=bench.run)
