"""Argument types shared by the sub-commands: values are checked when the command line is
parsed, so a bad value gives a usage error naming the option instead of a traceback later."""

from __future__ import annotations

import argparse


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
    """A torch device string such as ``cpu``, ``cuda`` or ``cuda:1``."""
    import torch

    try:
        torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a torch device (examples: cpu, cuda, cuda:1)"
        ) from None
    return text
