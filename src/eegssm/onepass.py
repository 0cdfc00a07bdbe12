"""Whole-recording inference in one O(N) pass: no windows, no seams, memory bounded.

A :class:`~eegssm.models.detector.SeizureDetector` is a composition of parts whose reach in
time is either finite (convolutions, per-step graphs) or the whole sequence (the bidirectional
SSM layers). :class:`OnePass` runs each part over the whole recording in chunks of
``chunk_frames`` feature frames (``S`` input samples each) so that the result equals
``model(x[None])`` on the whole recording at once (float round-off, ~1e-6), with memory that
does not grow with the recording beyond a few frame-rate arrays:

=====================  =======================================================================
part                   how it is chunked
=====================  =======================================================================
front end (TCN)        finite receptive field ``R`` samples: each chunk of frames reads its
                       input samples plus a halo of ``>= R`` samples on each side
                       (:func:`encoder_halo`); halo frames are computed and dropped
SSM layers             forward sweep over the chunks carrying the layer's state
(bidirectional)        (``Mamba2State`` / ``GatedDeltaNetState``), outputs kept; backward
                       sweep from the last chunk carrying the reverse layer's state, merged
                       with the kept forward outputs; one layer after the other
edge stream            per-step pair similarity, pooled over ``edge_pool`` steps (chunks
                       start on a pooled-step boundary), then its SSM layers as above
graph, fusion, readout per step (graph PE recomputed every ``pe_interval`` steps: chunks start
                       on a multiple of it)
decoder                finite reach in frames: a halo of :func:`decoder_halo` frames
=====================  =======================================================================

Equality holds wherever the model is a continuous function of its input. The graph keeps each
electrode's top-k neighbours: where two edge weights tie to ~1e-7, round-off (which differs
between any two ways of computing the same sum) may pick the other neighbour for one pooled step,
and the probability moves by ~1e-3 for about a second there — the model on the whole sequence
run twice in different batch shapes does the same.

The normalisation is the checkpoint's preprocessing over the whole recording (fixed scale, or
statistics of the whole recording); nothing is normalised per window.

Frame-rate intermediates (``(L, C, d)`` floats: 33 MB per hour for 18 electrodes × 32 features
at 4 Hz) live in :class:`FrameStore` s: in memory while they fit ``memory_bytes``, else in
temporary files (``os.pread``/``pwrite``: the page cache, not the process, holds them), so a
24-hour recording runs in bounded memory. The SSM stacks treat each sequence (an electrode, an
electrode pair) on its own, so a stack whose input is in a file is swept group of sequences by
group of sequences in memory: each sequence read once and written once, however many layers
(the edge stream's inputs are made from similarities kept in memory and need no file at all).

A causal model runs through :meth:`SeizureDetector.forward_stream` chunk by chunk, the same
state-carrying code as ``eegssm monitor``.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from eegssm.frames import FrameFile, checked_blocks, chunk_spans, halo_chunks

#: Feature frames per chunk (2000 frames = 8.3 min at the ``fast`` preset's 4 Hz): large
#: enough that per-call overhead is small, small enough that a chunk's temporaries stay in
#: the CPU's caches.
CHUNK_FRAMES = 2000

#: The parts :attr:`OnePass.timings` reports (seconds of the last bidirectional run).
STAGES = ("front end", "edge stream", "node stream", "graph, fusion, readout", "decoder")

#: Frame-rate intermediates are kept in memory up to this many bytes in all, else in
#: temporary files (an hour of the bundled model needs 33 MB per intermediate, a day 0.8 GB).
MEMORY_BYTES = 128 << 20


class FrameStore:
    """``(N, L, *row)`` float32 values of ``N`` sequences over ``L`` frames as tensors, read and
    written by frame ranges (all sequences) or by whole sequences; in memory, or in a temporary
    file (:class:`eegssm.frames.FrameFile`) when ``path`` is given.

    Args:
        n_seq: sequences ``N``.
        n_frames: frames ``L``.
        row: the shape of one sequence's value at one frame, e.g. ``(d,)``.
        path: the temporary file (created, deleted by :meth:`close`); None keeps the values in
            memory.
        data: an existing ``(N, L, *row)`` tensor that holds the values in memory (no copy;
            see :meth:`holding`).
    """

    def __init__(
        self,
        n_seq: int,
        n_frames: int,
        row: tuple[int, ...],
        path: str | None = None,
        device: torch.device | str = "cpu",
        data: Tensor | None = None,
    ) -> None:
        self.n_seq, self.n_frames, self.row = n_seq, n_frames, tuple(row)
        self.path, self.device = path, torch.device(device)
        self.nbytes = 4 * n_seq * n_frames * math.prod(self.row)
        self._file = None
        if path is None:
            if data is None:
                data = torch.empty(n_seq, n_frames, *self.row, device=self.device)
            self._data = data
        else:
            self._data = None
            self._file = FrameFile(n_seq, n_frames, self.row, path)

    @classmethod
    def holding(cls, data: Tensor) -> FrameStore:
        """A store in memory over ``data (N, L, *row)`` itself (writes go into it)."""
        n_seq, n_frames, *row = data.shape
        return cls(n_seq, n_frames, tuple(row), device=data.device, data=data)

    def read(self, a: int, b: int) -> Tensor:
        """Frames ``[a, b)`` of every sequence as ``(N, b - a, *row)`` (a view when in memory)."""
        if self._file is None:
            return self._data[:, a:b]
        return torch.from_numpy(self._file.read(a, b)).to(self.device)

    def write(self, a: int, values: Tensor) -> None:
        """Store ``values (N, n, *row)`` at frames ``[a, a + n)`` of every sequence."""
        if self._file is None:
            self._data[:, a : a + values.shape[1]].copy_(values)
        else:
            self._file.write(a, values.detach().cpu().numpy())

    def read_sequences(self, i: int, out: Tensor) -> Tensor:
        """Sequences ``[i, i + len(out))``, every frame, into ``out (n, L, *row)`` (CPU,
        contiguous); returns ``out``."""
        if self._file is None:
            return out.copy_(self._data[i : i + out.shape[0]])
        self._file.read_sequences(i, out.numpy())
        return out

    def write_sequences(self, i: int, values: Tensor) -> None:
        """Store ``values (n, L, *row)`` as sequences ``[i, i + n)``."""
        if self._file is None:
            self._data[i : i + values.shape[0]].copy_(values)
        else:
            self._file.write_sequences(i, values.detach().cpu().numpy())

    def close(self) -> None:
        """Free the memory or delete the file."""
        self._data = None
        if self._file is not None:
            self._file.close()
            self._file = None


def encoder_halo(model) -> int:
    """Input samples of context on each side of a chunk that make the front end's output frames
    exact: the encoder's receptive field rounded up to whole frames (``S`` samples)."""
    S = model.config.stride
    return -(-model.encoder.receptive_field // S) * S


def decoder_halo(model) -> int:
    """Frames of decoder input on each side of a chunk that make its output samples exact: per
    stage, a kernel ``k`` conv at ``u`` samples per frame reaches ``(k - 1) / u`` frames."""
    reach, up = 0.0, 1
    for f in model.decoder.factors:
        up *= f
        reach += (model.config.decoder_kernel - 1) / up
    return math.ceil(reach) + 1


class OnePass:
    """Per-sample probabilities of a whole recording from a ``SeizureDetector`` in one pass.

    Args:
        model: a ``SeizureDetector`` (run in eval mode; its mode is restored afterwards).
        chunk_frames: feature frames per chunk (rounded to a multiple of the graph's pooling and
            PE interval).
        memory_bytes: frame-rate intermediates above this size in all go to temporary files.
        tmpdir: where those files go (default: the system's temporary folder).

    After a run of a bidirectional model, ``timings`` holds the seconds spent in each of
    :data:`STAGES`.

    ``run(blocks, n_times)`` → float32 ``(n_times,)``: equal to
    ``torch.sigmoid(model(x[None]))[0]`` on the whole recording ``x (C, n_times)`` (what
    ``tests/test_onepass.py`` checks, to ~1e-5).
    """

    def __init__(
        self,
        model,
        chunk_frames: int = CHUNK_FRAMES,
        memory_bytes: int = MEMORY_BYTES,
        tmpdir: str | None = None,
    ) -> None:
        self.model = model
        self.timings: dict[str, float] = {}
        self.device = next(model.parameters()).device
        cfg = model.config
        align = math.lcm(cfg.edge_pool, cfg.pe_interval) if model.graph is not None else 1
        self.chunk = max(align, chunk_frames // align * align)
        self.memory_bytes, self.tmpdir = memory_bytes, tmpdir
        self.S = cfg.stride

    # ------------------------------------------------------------------------------------
    # no_grad, not inference_mode: modules cache tensors (the edge stream's pair indices) that a
    # later training forward must be able to save for backward
    @torch.no_grad()
    def run(
        self,
        blocks: Iterable[np.ndarray],
        n_times: int,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Probabilities of a recording that arrives as consecutive ``(C, n_i)`` blocks whose
        lengths add up to ``n_times``; ``progress(k)`` is called with ``k`` input samples done
        by the front end (the first and longest-reaching part)."""
        if n_times == 0:
            return np.zeros(0, dtype=np.float32)
        was_training = self.model.training
        self.model.eval()  # exactness needs eval mode (dropout)
        try:
            if self.model.config.causal:
                return self._run_causal(blocks, n_times, progress)
            with tempfile.TemporaryDirectory(prefix="eegssm-onepass-", dir=self.tmpdir) as tmp:
                self._tmp, self._n_files = tmp, 0
                return self._run(blocks, n_times, progress)
        finally:
            self.model.train(was_training)

    def _store(self, n_seq: int, n_frames: int, row: tuple[int, ...], budget: list) -> FrameStore:
        """A store in memory while ``budget[0]`` bytes remain, else in a temporary file."""
        size = 4 * n_seq * n_frames * math.prod(row)
        if size <= budget[0]:
            budget[0] -= size
            return FrameStore(n_seq, n_frames, row, device=self.device)
        self._n_files += 1
        path = os.path.join(self._tmp, f"{self._n_files}.f32")
        return FrameStore(n_seq, n_frames, row, path, self.device)

    def _run(self, blocks, n_times: int, progress) -> np.ndarray:
        model, S = self.model, self.S
        L = -(-n_times // S)  # frames; the input is zero-padded to L·S samples, as in forward
        budget = [self.memory_bytes]
        self.timings = dict.fromkeys(STAGES, 0.0)
        e_store = None
        for a, e in self._front_end(blocks, n_times, L, progress):  # e (C, n, d)
            if e_store is None:
                C, d = e.shape[0], e.shape[-1]
                e_store = self._store(C, L, (d,), budget)
            e_store.write(a, e)
        try:
            if model.graph is not None:
                with self._timed("edge stream"):
                    w = self._edge_weights(e_store, L, budget)
            else:
                w = None
            with self._timed("node stream"):
                self._sweep_stack(model.node_stream, e_store, budget)  # e_store now holds h
            with self._timed("graph, fusion, readout"):
                z = self._read_out(e_store, w, L)  # (D, L)
            del w  # (P, L / pool): 53 MB for a day, not needed by the decoder
        finally:
            e_store.close()
        with self._timed("decoder"):
            return self._decode(z, n_times)

    @contextmanager
    def _timed(self, stage: str):
        """Adds the wall time of the block to ``self.timings[stage]``."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] += time.perf_counter() - t

    # ------------------------------------------------------------------------------------
    def _front_end(self, blocks, n_times: int, L: int, progress) -> Iterator[tuple[int, Tensor]]:
        """Electrode features ``(C, n, d)`` of frames ``[a, a + n)``, chunk by chunk in order,
        from the samples of each chunk and a halo of :func:`encoder_halo` samples around it."""
        H = encoder_halo(self.model)
        for a, b, piece, first in halo_chunks(blocks, n_times, self.S, H, self.chunk, progress):
            x = torch.from_numpy(piece)[None].to(self.device)
            with self._timed("front end"):
                e = self.model.electrode_features(x)[0]  # (C, piece frames, d)
            yield a, e[:, first : first + b - a]

    # ------------------------------------------------------------------------------------
    def _sweep_stack(self, stack, store: FrameStore, budget: list) -> None:
        """The residual blocks of an ``SSMStack`` (not its final LayerNorm) over every sequence
        of ``store``, in place.

        In memory, all sequences together, chunk by chunk. In a temporary file, groups of whole
        sequences that fit in memory with their forward outputs (the sequences are
        independent: an electrode of a day-long recording is 44 MB), each read once and
        written once; frame range by frame range through the file only where not even one
        sequence fits."""
        *blocks, _norm = stack
        if store.path is not None and self._sweep_groups(
            blocks, store.n_seq, store.n_frames, store.row, budget,
            store.read_sequences, store.write_sequences,
        ):  # fmt: skip
            return
        fwd = self._store(store.n_seq, store.n_frames, store.row, budget)
        try:
            self._sweep_blocks(blocks, store, fwd, self.chunk)
        finally:
            fwd.close()
            if fwd.path is None:
                budget[0] += fwd.nbytes

    def _sweep_groups(
        self,
        blocks,
        n_seq: int,
        n_frames: int,
        row: tuple[int, ...],
        budget: list,
        load: Callable[[int, Tensor], Tensor],
        save: Callable[[int, Tensor], None],
    ) -> bool:
        """:meth:`_sweep_blocks` on groups of whole sequences in memory: ``load(i, out)`` fills
        ``out (n, n_frames, *row)`` with sequences ``[i, i + n)`` and returns it, ``save(i,
        values)`` takes them swept. Two buffers of a group's size are allocated once and
        reused (fresh pages cost more than the copies). False, doing nothing, when not even
        one sequence and its forward outputs fit ``budget[0]``."""
        seq_bytes = 4 * n_frames * math.prod(row)
        group = min(n_seq, budget[0] // max(1, 2 * seq_bytes))
        if group == 0:
            return False
        budget[0] -= 2 * group * seq_bytes
        try:
            part = torch.empty(group, n_frames, *row, device=self.device)
            fwd = torch.empty_like(part)
            chunk = self.chunk * -(-n_seq // group)  # as many rows per call as all at once
            for i in range(0, n_seq, group):
                n = min(group, n_seq - i)
                x = load(i, part[:n])
                self._sweep_blocks(
                    blocks, FrameStore.holding(x), FrameStore.holding(fwd[:n]), chunk
                )
                save(i, x)
        finally:
            budget[0] += 2 * group * seq_bytes
        return True

    def _sweep_blocks(self, blocks, store: FrameStore, fwd: FrameStore, chunk: int) -> None:
        """Residual blocks with bidirectional mixers over ``store``, in place, one block after
        the other, in chunks of ``chunk`` frames; ``fwd`` (the same shape) holds a block's
        forward outputs.

        Per block: the forward sweep (first chunk to last, carrying the forward layer's state)
        keeps its outputs; the backward sweep (last chunk to first, each chunk reversed,
        carrying the reverse layer's state) merges each chunk with them and writes the block's
        output over its input, which no later chunk of the sweep needs. (Two threads running
        the sweeps side by side were not faster on 2 cores and tripled the peak memory through
        glibc's per-thread arenas.)"""
        spans = chunk_spans(store.n_frames, chunk)
        for block in blocks:
            mixer = block.mixer  # Bidirectional (causal models run through _run_causal)
            state = None
            for a, b in spans:
                u = block.norm(store.read(a, b))
                y, state = mixer.forward_layer(u, state, return_state=True)
                fwd.write(a, y)
            state = None
            for a, b in reversed(spans):
                x = store.read(a, b)
                u = block.norm(x).flip(1)
                y, state = mixer.backward_layer(u, state, return_state=True)
                store.write(a, x + mixer.combine(fwd.read(a, b), y.flip(1)))

    def _edge_weights(self, e_store: FrameStore, L: int, budget: list) -> Tensor:
        """Softplus edge weights ``(P, Lp)`` of the ``Lp = ceil(L / pool)`` pooled steps.

        The pairs' SSM inputs are made from the pooled similarities, which stay in memory
        (``(P, Lp)``: 53 MB for a day), group by group of pairs (:meth:`_sweep_groups`), and
        the weights computed from each swept group, in place of its similarities: no
        temporary file unless not even one pair's sequence fits in memory."""
        edge = self.model.edge_stream
        pool = edge.pool
        pairs = None  # (P, Lp)
        for a, b in chunk_spans(L, self.chunk):  # chunks start on pooled-step boundaries
            sim = edge.pair_similarity(e_store.read(a, b)[None])[0]  # (P, n)
            if pool > 1:
                sim = F.avg_pool1d(sim, pool, ceil_mode=True)
            if pairs is None:
                pairs = sim.new_empty(sim.shape[0], -(-L // pool))
            pairs[:, a // pool : a // pool + sim.shape[1]] = sim
        P, Lp = pairs.shape
        d_edge = edge.inp.out_features
        *blocks, norm = edge.ssm
        w = pairs  # each pair's weights replace its similarities once its inputs are made
        spans = chunk_spans(Lp, self.chunk)

        def load(i: int, out: Tensor) -> Tensor:
            for a, b in spans:
                out[:, a:b] = edge.inp(pairs[i : i + out.shape[0], a:b, None])
            return out

        def save(i: int, h: Tensor) -> None:
            for a, b in spans:
                w[i : i + h.shape[0], a:b] = F.softplus(edge.out(norm(h[:, a:b]))).squeeze(-1)

        if self._sweep_groups(blocks, P, Lp, (d_edge,), budget, load, save):
            return w
        h = self._store(P, Lp, (d_edge,), budget)  # a file: not even one pair fits in memory
        try:
            for a, b in spans:
                h.write(a, edge.inp(pairs[:, a:b, None]))
            self._sweep_stack(edge.ssm, h, budget)
            for a, b in spans:
                w[:, a:b] = F.softplus(edge.out(norm(h.read(a, b)))).squeeze(-1)
        finally:
            h.close()
            if h.path is None:
                budget[0] += h.nbytes
        return w

    def _read_out(self, h_store: FrameStore, w: Tensor | None, L: int) -> Tensor:
        """Node stream's final norm, graph, fusion and readout per chunk → ``(D, L)``."""
        model = self.model
        norm = model.node_stream[-1]
        out = None
        for a, b in chunk_spans(L, self.chunk):
            h = norm(h_store.read(a, b))[None]  # (1, C, n, d)
            if w is not None:
                edge = model.edge_stream
                pool = edge.pool
                wc = w[:, a // pool : -(-b // pool)]  # pooled steps of the chunk
                adj = edge.adjacency(wc[None], h.shape[1])  # (1, n, C, C)
                if pool > 1:
                    adj = adj.repeat_interleave(pool, dim=1)[:, : b - a]
                h = model.fusion(h, model.graph(h, adj))
            z = model.read_out(h)[0]  # (D, n)
            if out is None:
                out = z.new_empty(z.shape[0], L)
            out[:, a:b] = z
        return out

    def _decode(self, z: Tensor, n_times: int) -> np.ndarray:
        """Decoder and final layer over ``z (D, L)`` by chunks with a halo → probabilities."""
        model, S = self.model, self.S
        L = z.shape[-1]
        H = decoder_halo(model)
        probs = np.empty(n_times, dtype=np.float32)
        for a, b in chunk_spans(L, self.chunk):
            lo, hi = max(0, a - H), min(L, b + H)
            y = model.final_layer(model.decoder(z[None, :, lo:hi]))[0, 0]  # ((hi - lo)·S,)
            y = y[(a - lo) * S : (b - lo) * S][: n_times - a * S]
            probs[a * S : a * S + y.shape[0]] = torch.sigmoid(y.float()).cpu().numpy()
        return probs

    # ------------------------------------------------------------------------------------
    def _run_causal(self, blocks, n_times: int, progress) -> np.ndarray:
        """A causal model: ``forward_stream`` chunk by chunk (whole frames), state carried."""
        S, step = self.S, self.chunk * self.S
        probs = np.empty(n_times, dtype=np.float32)
        state, buf, done = None, None, 0
        for _start, block in checked_blocks(blocks, n_times, progress):
            buf = block if buf is None else np.concatenate([buf, block], axis=1)
            end = done + buf.shape[1] == n_times
            while buf.shape[1] >= step or (end and buf.shape[1]):
                n = min(step, buf.shape[1])
                piece = buf[:, :n]
                if n % S:  # the last piece, zero-padded to whole frames as in forward
                    piece = np.pad(piece, ((0, 0), (0, (-n) % S)))
                x = torch.from_numpy(np.ascontiguousarray(piece))[None].to(self.device)
                logits, state = self.model.forward_stream(x, state)
                probs[done : done + n] = torch.sigmoid(logits[0, :n].float()).cpu().numpy()
                buf, done = buf[:, n:], done + n
        return probs
