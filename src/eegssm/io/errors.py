"""Errors and warnings raised while reading recordings and annotation files.

Every message names the file, says what is wrong with it and what to do next, so that a user
facing a corpus of thousands of files can find and fix the one that failed.
"""

from __future__ import annotations

import warnings
from os import PathLike


class EEGReadError(ValueError):
    """A recording or annotation file cannot be read (corrupt, truncated, wrong format).

    Attributes:
        path: the file that failed (as given by the caller), or None.
        problem: what is wrong, in words.
        hint: what to do about it (may be empty).
    """

    def __init__(self, path: str | PathLike | None, problem: str, hint: str = "") -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        self.hint = hint
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{problem}" + (f" ({hint})" if hint else ""))


class EEGReadWarning(UserWarning):
    """A file was read, but something in it looks wrong (flat channel, event beyond the end...)."""


def warn(path: str | PathLike | None, message: str, stacklevel: int = 3) -> None:
    """Emit an :class:`EEGReadWarning` whose text starts with the file name."""
    where = f"{path}: " if path is not None else ""
    warnings.warn(f"{where}{message}", EEGReadWarning, stacklevel=stacklevel)
