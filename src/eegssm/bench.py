"""Measuring the sequence cores: forward+backward wall time and peak memory.

Each measurement runs in a fresh Python process, so peak memory (resident set size) belongs to
that one configuration alone: ``peak = max RSS during the timed passes - RSS before them``.
Used by ``benchmarks/sequence_core.py`` (full table written to ``docs/``) and ``eegssm demo``
(a small table).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

LAYERS = ("mamba2", "gated_deltanet", "transformer")


@dataclass
class Measurement:
    """One configuration's result. Times in seconds, memory in MiB."""

    layer: str
    d_model: int
    length: int
    batch: int
    chunk_size: int  # 0 for layers without chunks
    seconds: float  # median forward+backward wall time
    peak_mib: float  # peak extra resident memory during forward+backward
    params: int

    @property
    def us_per_token(self) -> float:
        return 1e6 * self.seconds / (self.length * self.batch)


def build_layer(layer: str, d_model: int, chunk_size: int | None = None):
    """The layer under test, on ``(B, L, d_model)``; 4 heads for the attention-like ones.
    ``chunk_size=None``: the layer's default."""
    import torch

    from eegssm.nn import GatedDeltaNet, Mamba2

    chunk = {} if chunk_size is None else {"chunk_size": chunk_size}
    if layer == "mamba2":
        return Mamba2(d_model, **chunk)
    if layer == "gated_deltanet":
        # key width d_model and value width 2·d_model: the same inner width as Mamba-2's expand 2
        return GatedDeltaNet(d_model, num_heads=4, head_dim=d_model // 4, **chunk)
    if layer == "transformer":
        return torch.nn.TransformerEncoderLayer(
            d_model, nhead=4, dim_feedforward=4 * d_model, dropout=0.0, batch_first=True
        )
    raise ValueError(f"unknown layer {layer!r}; choose from {LAYERS}")


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def measure_here(
    layer: str,
    d_model: int,
    length: int,
    batch: int,
    chunk_size: int | None,
    repeats: int,
    threads: int,
) -> Measurement:
    """Time ``repeats`` forward+backward passes in this process (after one warm-up pass)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_layer(layer, d_model, chunk_size)
    x = torch.randn(batch, length, d_model, requires_grad=True)

    def step() -> None:
        model(x).square().mean().backward()
        model.zero_grad(set_to_none=True)
        x.grad = None

    before = _rss_mib()
    step()  # warm-up, also the peak-memory pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    times.sort()
    return Measurement(
        layer,
        d_model,
        length,
        batch,
        getattr(model, "chunk_size", 0),
        seconds=times[len(times) // 2],
        peak_mib=max(peak, 0.0),
        params=sum(p.numel() for p in model.parameters()),
    )


def measure(
    layer: str,
    d_model: int,
    length: int,
    batch: int = 4,
    chunk_size: int | None = None,
    repeats: int = 3,
    threads: int | None = None,
    env: dict[str, str] | None = None,
) -> Measurement:
    """Measure one configuration in a fresh subprocess (clean peak-memory reading).

    ``env`` adds environment variables for that process, e.g. ``THP_MEM_ALLOC_ENABLE=1``
    (PyTorch backs large CPU tensors with transparent huge pages).
    """
    import torch

    threads = threads or torch.get_num_threads()
    args = [layer, d_model, length, batch, chunk_size, repeats, threads]
    code = f"import json, eegssm.bench as b; print(json.dumps(b.measure_here(*{args!r}).__dict__))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if out.returncode != 0:
        raise RuntimeError(f"measurement {args} failed:\n{out.stderr[-2000:]}")
    return Measurement(**json.loads(out.stdout.strip().splitlines()[-1]))


def markdown_table(rows: list[Measurement], baseline: str = "transformer") -> str:
    """Rows as a markdown table, with the time ratio against ``baseline`` at the same size."""
    base = {(r.d_model, r.length): r.seconds for r in rows if r.layer == baseline}
    lines = [
        "| layer | d_model | L | batch | chunk | fwd+bwd s | µs/token | peak MiB "
        f"| MiB per 1k tokens | {baseline} / layer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = base.get((r.d_model, r.length))
        lines.append(
            f"| {r.layer} | {r.d_model} | {r.length} | {r.batch} | {r.chunk_size} "
            f"| {r.seconds:.3f} | {r.us_per_token:.2f} | {r.peak_mib:.0f} "
            f"| {1000 * r.peak_mib / (r.length * r.batch):.2f} "
            f"| {f'{ratio / r.seconds:.1f}x' if ratio else '-'} |"
        )
    return "\n".join(lines)


def as_dicts(rows: list[Measurement]) -> list[dict]:
    return [asdict(r) for r in rows]
