"""``eegssm demo``: the main job on its embedded default.

Generates a fixed synthetic 19-channel recording (10 min at 256 Hz, 2 seizures, seeded), runs the
bundled seizure detector over it, prints the detected events next to the ground truth with the
NEDC OVERLAP score, and writes csv_bi / events.tsv / JSON and an HTML report into ``--out``.
The same as ``eegssm detect`` without a PATH.
"""

from __future__ import annotations

import argparse

from eegssm.commands import detect
from eegssm.commands._args import HelpFormatter


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the embedded demo (bundled detector on a synthetic recording)",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    detect.add_options(p)
    p.set_defaults(func=detect.run, paths=[])
