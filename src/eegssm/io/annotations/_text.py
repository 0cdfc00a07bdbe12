"""Small parsing helpers shared by the text annotation readers (CHB-MIT, Siena)."""

from __future__ import annotations

import math
from pathlib import Path

from eegssm.io.errors import EEGReadError


def parse_number(path: Path, lineno: int, text: str, what: str, kind: type = float) -> float:
    """The first word of ``text`` as a finite number, or an :class:`EEGReadError` naming the
    file and line."""
    words = text.split()
    try:
        value = kind(words[0]) if words else kind("")
        if not math.isfinite(value):
            raise ValueError
    except (ValueError, OverflowError):
        problem = f"line {lineno}: {what} {text.strip()!r} is not a number"
        raise EEGReadError(path, problem) from None
    return value
