"""Frame-rate intermediates of a recording run block by block, without PyTorch.

Both one-pass runners (:class:`eegssm.onepass.OnePass` on the PyTorch model and
:meth:`eegssm.engine.DetectorEngine.logits_blocks`) read a long recording as consecutive
``(C, n)`` blocks, cut it into chunks of feature frames with a halo of input samples around
each (:func:`halo_chunks`), and keep per-frame values of every sequence for the whole recording
(:class:`FrameFile`): in memory while they are small, in a temporary file otherwise (a day of
the bundled model's electrode features is 0.8 GB).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator

import numpy as np


def chunk_spans(n: int, size: int) -> list[tuple[int, int]]:
    """``[a, b)`` ranges of at most ``size`` covering ``[0, n)`` in order."""
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def checked_blocks(
    blocks: Iterable[np.ndarray], n_times: int, progress: Callable[[int], None] | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Consecutive input blocks as ``(start sample, (C, n) float32)``, checked: one ``C``,
    ``n_times`` samples in all; ``progress(n)`` after each block."""
    seen, n_chans = 0, None
    for block in blocks:
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or (n_chans is not None and block.shape[0] != n_chans):
            raise ValueError(f"blocks must be (C, n) with one C, got shape {block.shape}")
        n_chans = block.shape[0]
        if seen + block.shape[1] > n_times:
            raise ValueError(f"blocks hold more than n_times={n_times} samples")
        yield seen, block
        seen += block.shape[1]
        if progress is not None:
            progress(block.shape[1])
    if seen != n_times:
        raise ValueError(f"blocks hold {seen} samples, expected n_times={n_times}")


def halo_chunks(
    blocks: Iterable[np.ndarray],
    n_times: int,
    stride: int,
    halo: int,
    chunk: int,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, int, np.ndarray, int]]:
    """The input of a frame-rate front end, chunk of frames by chunk, from consecutive blocks.

    The recording (``n_times`` samples, zero-padded to ``L = ceil(n_times / stride)`` whole
    frames) is cut into frame ranges ``[a, b)`` of ``chunk`` frames; each comes with its samples
    and ``halo`` samples (a multiple of ``stride``) on each side where the recording has them.

    Yields:
        ``(a, b, x, first)``: ``x (C, m)`` float32 contiguous, samples ``[lo, hi)`` with
        ``lo = max(0, a·stride - halo)`` (zeros past ``n_times``); the frames of ``a … b-1``
        are ``first = a - lo / stride`` frames into those of ``x``.
    """
    S, H = stride, halo
    L = -(-n_times // S)
    total = L * S
    buf, buf_start = None, 0  # buf holds samples [buf_start, buf_start + buf.shape[1])
    spans = iter(chunk_spans(L, chunk))
    span = next(spans, None)
    for start, block in checked_blocks(blocks, n_times, progress):
        buf = block if buf is None else np.concatenate([buf, block], axis=1)
        if buf is block:
            buf_start = start
        while span is not None and buf_start + buf.shape[1] >= min(span[1] * S + H, n_times):
            a, b = span
            lo, hi = max(0, a * S - H), min(total, b * S + H)
            piece = buf[:, lo - buf_start : min(hi, n_times) - buf_start]
            if hi > n_times:
                piece = np.pad(piece, ((0, 0), (0, hi - n_times)))
            yield a, b, np.ascontiguousarray(piece), (a * S - lo) // S
            span = next(spans, None)
            if span is not None:  # keep the next chunk's left halo
                keep = max(0, span[0] * S - H) - buf_start
                buf, buf_start = buf[:, keep:], buf_start + keep


class FrameFile:
    """``(N, L, *row)`` float32 values of ``N`` sequences over ``L`` frames, read and written
    by frame ranges (all sequences) or by whole sequences; in memory, or in a file
    (sequence-major: each sequence's ``L`` rows together; ``os.pread``/``os.pwrite``, so the
    page cache holds the values, not the process) when ``path`` is given.

    Args:
        n_seq, n_frames, row: ``N``, ``L`` and the shape of one value, e.g. ``(d,)``.
        path: the file (created; deleted by :meth:`close`); None keeps the values in memory.
        data: an existing ``(N, L, *row)`` array that holds the values in memory (no copy).
    """

    def __init__(
        self,
        n_seq: int,
        n_frames: int,
        row: tuple[int, ...],
        path: str | None = None,
        data: np.ndarray | None = None,
    ) -> None:
        self.n_seq, self.n_frames, self.row, self.path = n_seq, n_frames, tuple(row), path
        self._row_bytes = 4 * math.prod(self.row)
        self._seq_bytes = self._row_bytes * n_frames
        self.nbytes = self._seq_bytes * n_seq
        self._fd = None
        self.data = None
        if path is None:
            self.data = np.empty((n_seq, n_frames, *self.row), np.float32) if data is None else data
        else:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)

    def read(self, a: int, b: int) -> np.ndarray:
        """Frames ``[a, b)`` of every sequence, ``(N, b - a, *row)`` (a view when in memory)."""
        if self._fd is None:
            return self.data[:, a:b]
        buf = np.empty((self.n_seq, b - a, *self.row), np.float32)
        for i in range(self.n_seq):
            self._pread(buf[i], i * self._seq_bytes + a * self._row_bytes)
        return buf

    def write(self, a: int, values: np.ndarray) -> None:
        """Store ``values (N, n, *row)`` at frames ``[a, a + n)`` of every sequence."""
        if self._fd is None:
            self.data[:, a : a + values.shape[1]] = values
            return
        for i in range(self.n_seq):
            self._pwrite(values[i], i * self._seq_bytes + a * self._row_bytes)

    def read_sequences(self, i: int, out: np.ndarray) -> np.ndarray:
        """Sequences ``[i, i + len(out))``, every frame, into ``out (n, L, *row)`` (float32,
        contiguous); returns ``out``."""
        if self._fd is None:
            out[...] = self.data[i : i + out.shape[0]]
        else:
            self._pread(out, i * self._seq_bytes)
        return out

    def write_sequences(self, i: int, values: np.ndarray) -> None:
        """Store ``values (n, L, *row)`` as sequences ``[i, i + n)``."""
        if self._fd is None:
            self.data[i : i + values.shape[0]] = values
        else:
            self._pwrite(values, i * self._seq_bytes)

    def _pread(self, buf: np.ndarray, offset: int) -> None:
        view, done = memoryview(buf).cast("B"), 0
        while done < len(view):
            n = os.preadv(self._fd, [view[done:]], offset + done)
            if n <= 0:
                raise OSError(f"{self.path}: short read at byte {offset + done}")
            done += n

    def _pwrite(self, values: np.ndarray, offset: int) -> None:
        view, done = memoryview(np.ascontiguousarray(values, np.float32)).cast("B"), 0
        try:
            while done < len(view):
                done += os.pwrite(self._fd, view[done:], offset + done)
        except OSError as err:
            raise OSError(
                err.errno,
                f"{self.path}: {err.strerror} while writing a temporary store of the one-pass "
                f"inference ({self.nbytes / 2**20:.0f} MiB); free space there or point TMPDIR "
                "to a folder with room",
            ) from None

    def close(self) -> None:
        """Free the memory or delete the file."""
        self.data = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            os.unlink(self.path)
