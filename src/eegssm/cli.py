"""The ``eegssm`` command line.

Each sub-command lives in its own module under ``eegssm.commands`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returning an exit code). Modules import their heavy dependencies inside ``func`` so
that ``eegssm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from eegssm import __version__

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES = [
    "eegssm.commands.detect",
    "eegssm.commands.monitor",
    "eegssm.commands.demo",
    "eegssm.commands.bench",
    "eegssm.commands.score",
    "eegssm.commands.evaluate",
    "eegssm.commands.info",
    "eegssm.commands.build_cache",
    "eegssm.commands.cache_info",
    "eegssm.commands.train",
    "eegssm.commands.pretrain",
    "eegssm.commands.finetune",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eegssm",
        description="Long-sequence EEG modeling with state-space models.",
    )
    parser.add_argument("--version", action="version", version=f"eegssm {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as err:
        # A file that cannot be read or written, a value a command rejects: one clear line.
        # EEGSSM_DEBUG=1 shows the traceback instead.
        if os.environ.get("EEGSSM_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
