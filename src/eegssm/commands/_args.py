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
