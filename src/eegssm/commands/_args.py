"""What the sub-commands share: argument types (values are checked when the command line is
parsed, so a bad value gives a usage error naming the option instead of a traceback later) and
one vocabulary for the common options:

| option | meaning |
|---|---|
| ``--out DIR`` | where a command writes (older ``--output-dir`` still works) |
| ``-q/--quiet`` | no progress bars (older ``--no-progress`` still works) |
| ``--workers N`` | worker processes |
| ``--threads N`` | torch CPU threads |
| ``--rename OLD=NEW`` | channel renaming before preprocessing |

Help texts show defaults (:class:`HelpFormatter`).
"""

from __future__ import annotations

import argparse
import re


def thread_count(text: str) -> int:
    """A CPU thread count: an integer from 1 to 1024."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"{value} threads: use 1 to 1024")
    return value


def torch_device(text: str) -> str:
    """A torch device string such as ``cpu``, ``cuda`` or ``cuda:1``. The common ones are
    checked without importing PyTorch (``eegssm detect`` imports it on a thread while the
    first file is read)."""
    if re.fullmatch(r"cpu|(cuda|mps|xpu)(:\d+)?", text):
        return text
    import torch

    try:
        torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a torch device (examples: cpu, cuda, cuda:1)"
        ) from None
    return text


def key_value(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` → ``(KEY, VALUE)``: a dotted configuration key and a YAML value
    (``optim.max_steps=50`` → ``("optim.max_steps", 50)``)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: the value is not YAML ({err})") from None


def channel_rename(text: str) -> dict[str, str]:
    """``--rename OLD=NEW`` (or ``A=B,C=D``) as a dict."""
    from eegssm.io.channels import parse_channel_map

    try:
        return parse_channel_map([text])
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def label_mapping(text: str) -> dict[str, str]:
    """``--label-map OLD=NEW`` (or ``A=B,C=D``) as a dict of lower-case labels."""
    out: dict[str, str] = {}
    for part in text.split(","):
        old, sep, new = part.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise argparse.ArgumentTypeError(f"{part!r}: expected OLD=NEW, e.g. siez=seiz")
        out[old.strip().lower()] = new.strip().lower()
    return out


# -- one vocabulary for the options every command shares ---------------------------------------
class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps description/epilog layout and appends ``(default: X)`` to option help texts
    (unless the text mentions its default already, or the default is None/False/empty)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "default" in text.lower() or text == argparse.SUPPRESS:
            return text
        if action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


class _Alias(argparse.Action):
    """A hidden older spelling of an option; ``note`` is printed on stderr when it is used."""

    def __init__(self, option_strings, dest, note: str = "", **kwargs) -> None:
        self.note = note
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if self.note:
            import sys

            print(f"warning: {option_string}: {self.note}", file=sys.stderr)
        setattr(namespace, self.dest, True if self.nargs == 0 else values)


def add_out(
    p: argparse.ArgumentParser,
    default: object,
    help: str,
    aliases: tuple[str, ...] = ("--output-dir",),
    required: bool = False,
) -> None:
    """``--out DIR`` (older spellings in ``aliases`` still work, unlisted)."""
    from pathlib import Path

    p.add_argument("--out", type=Path, default=default, metavar="DIR", help=help, required=required)
    for alias in aliases:
        p.add_argument(alias, dest="out", type=Path, action=_Alias, help=argparse.SUPPRESS)


def add_quiet(p: argparse.ArgumentParser, aliases: tuple[str, ...] = ("--no-progress",)) -> None:
    """``-q/--quiet``: no progress bars (older spellings in ``aliases`` still work, unlisted)."""
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    for alias in aliases:
        p.add_argument(alias, dest="quiet", nargs=0, action=_Alias, help=argparse.SUPPRESS)


def add_threads(
    p: argparse.ArgumentParser, default: int | None = None, workers_alias: bool = False
) -> None:
    """``--threads N``: torch CPU threads. ``workers_alias``: the command used to call this
    ``--workers``, which now always means processes; it still works, with a note."""
    p.add_argument(
        "--threads",
        type=thread_count,
        default=default,
        metavar="N",
        help="torch CPU threads" + ("" if default else " (default: torch's choice)"),
    )
    if workers_alias:
        p.add_argument(
            "--workers",
            dest="threads",
            type=thread_count,
            action=_Alias,
            note="means torch threads here for old scripts; use --threads (--workers is the "
            "number of processes in other commands)",
            help=argparse.SUPPRESS,
        )


def add_workers(p: argparse.ArgumentParser, default: int, help: str) -> None:
    """``--workers N``: worker processes (the one meaning of --workers)."""
    p.add_argument("--workers", type=thread_count, default=default, metavar="N", help=help)
