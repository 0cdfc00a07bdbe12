"""``eegssm config show CONFIG.yaml``: print a configuration with every default filled in."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eegssm.commands._args import HelpFormatter, key_value

DESCRIPTION = """\
Show the effective configuration of a recipe file: the file validated strictly (unknown keys are
errors naming the key and the file), every default filled in, printed as YAML that loads back
to the same configuration. The recipe is the file's `recipe:` value (detector, pretrain,
finetune); files without it are recognised by their keys, or name it with --recipe.
"""

EPILOG = """\
examples:
  eegssm config show configs/detector_synthetic.yaml
  eegssm config show configs/eegm2_pretrain_cpu.yaml --set train.max_steps=50
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from eegssm.config import RECIPES

    p = subparsers.add_parser(
        "config",
        help="show the effective configuration of a recipe file",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show",
        help="print CONFIG with every default filled in",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    show.add_argument("config", type=Path, metavar="CONFIG.yaml", help="recipe file")
    show.add_argument("--recipe", choices=sorted(RECIPES), help="recipe (default: from the file)")
    show.add_argument(
        "--set",
        action="append",
        default=[],
        type=key_value,
        metavar="KEY=VALUE",
        help="override a value first (dotted key, YAML value), e.g. optim.max_steps=50",
    )
    show.set_defaults(func=run_show)


def run_show(args: argparse.Namespace) -> int:
    from eegssm.config import ConfigError, load_recipe, to_yaml

    try:
        config = load_recipe(args.config, dict(args.set), args.recipe)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"# {args.config}: {config.recipe} recipe, every default filled in")
    print(to_yaml(config), end="")
    return 0
