"""Small helpers shared by the text annotation readers: bounded reading, number parsing."""

from __future__ import annotations

import math
import os
import stat
from os import PathLike
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
        problem = f"line {lineno}: {what} {excerpt(text)} is not a number"
        raise EEGReadError(path, problem) from None
    return value


#: Annotation and list files larger than this are refused before they are read (a TUSZ csv_bi
#: of 20 000 events is about 1 MB; a CHB-MIT summary a few kB).
MAX_TEXT_BYTES = 16 << 20


def read_text(path: str | PathLike, what: str, errors: str = "strict") -> str:
    """The text of an annotation or list file, read with a size bound.

    Args:
        path: the file.
        what: what the file should be, for messages (``"a TUSZ csv_bi file"``).
        errors: UTF-8 decoding errors policy (``"strict"`` raises, ``"replace"`` keeps going).

    Raises:
        EEGReadError: not a regular file (a folder, a device such as ``/dev/zero``, a pipe),
            larger than :data:`MAX_TEXT_BYTES`, unreadable, or not UTF-8 (with ``"strict"``).
            The message never quotes the file's content.
    """
    path = Path(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise EEGReadError(path, "not a regular file", f"expected {what}")
        if st.st_size > MAX_TEXT_BYTES:
            raise EEGReadError(
                path,
                f"{st.st_size / 2**20:.0f} MiB is too large for {what} (limit "
                f"{MAX_TEXT_BYTES >> 20} MiB)",
                "is it the right file?",
            )
        with open(path, "rb") as fh:
            data = fh.read(MAX_TEXT_BYTES + 1)
    except OSError as exc:
        raise EEGReadError(path, f"cannot open {what}: {exc.strerror or exc}") from exc
    if len(data) > MAX_TEXT_BYTES:  # grew while being read
        raise EEGReadError(path, f"too large for {what} (limit {MAX_TEXT_BYTES >> 20} MiB)")
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError:
        raise EEGReadError(path, "not a UTF-8 text file", f"expected {what}") from None


def excerpt(text: str, limit: int = 60) -> str:
    """``repr`` of at most ``limit`` characters of ``text`` (for messages about a line that
    has already been recognised as part of an annotation file)."""
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")
