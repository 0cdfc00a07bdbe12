"""Inference speed of the seizure detectors against the SeizureTransformer baseline (CPU).

Workload: one hour of 19-channel 256 Hz EEG cut into 60 s windows without overlap (60 windows of
(19, 15360)), run in batches of 8 in inference mode. One batch is timed (best of ``--repeats``
after a warm-up pass; models whose warm-up takes over 10 s are timed once more) and scaled to the
hour: ``seconds per hour = 60 / 8 · seconds per batch``. Each model runs in its own Python
process so its peak memory (maximum resident set size during the passes minus the resident size
before them) is its own. Fast models are measured in ``--rounds`` interleaved rounds (best kept),
since the machine is shared. For the ``fast`` models, extra passes after the timed ones give the
time per top-level module (forward hooks). Prints a markdown table and writes
``docs/benchmarks/detector_speed.md``.

Usage: ``python benchmarks/detector_speed.py [--repeats 3] [--rounds 2] [--threads 2] [--no-write]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "detector_speed.md"
BATCH, N_CHANS, N_TIMES, SFREQ = 8, 19, 15360, 256
BATCHES_PER_HOUR = 3600 / (N_TIMES / SFREQ) / BATCH  # 7.5
MODELS = {  # name: (preset or "baseline", core)
    "SeizureTransformer (baseline)": ("baseline", None),
    "fast, mamba2": ("fast", "mamba2"),
    "fast, gated_deltanet": ("fast", "gated_deltanet"),
    "bgb-v4, mamba2": ("bgb-v4", "mamba2"),
    "bgb-v4, gated_deltanet": ("bgb-v4", "gated_deltanet"),
}
HEAVY = {"bgb-v4, mamba2", "bgb-v4, gated_deltanet"}  # measured in the first round only


def build(name: str):
    from eegssm.models.baselines import SeizureTransformerBaseline
    from eegssm.models.detector import SeizureDetector

    preset, core = MODELS[name]
    if preset == "baseline":
        return SeizureTransformerBaseline(n_chans=N_CHANS, n_times=N_TIMES)
    return SeizureDetector.from_preset(preset, n_chans=N_CHANS, n_times=N_TIMES, core=core)


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def measure(name: str, repeats: int, threads: int) -> dict:
    """Time one batch in this process; returns seconds, peak MiB, parameter count."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(name).eval()
    x = torch.randn(BATCH, N_CHANS, N_TIMES)
    before = rss_mib()
    times = []
    with torch.inference_mode():
        t0 = time.perf_counter()
        model(x)  # warm-up
        warm = time.perf_counter() - t0
        for _ in range(1 if warm > 10 else repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    parts = {n: sum(p.numel() for p in m.parameters()) for n, m in model.named_children()}
    return {
        "seconds": min(times),
        "peak_mib": peak,
        "params": sum(p.numel() for p in model.parameters()),
        "parts": parts,
        "stages": stage_times(model, x, repeats) if MODELS[name][0] == "fast" else {},
    }


def stage_times(model, x, repeats: int) -> dict:
    """Seconds per top-level module (and in all sequence-core layers: the Mamba-2 /
    Gated DeltaNet blocks of the node and edge streams) in one forward pass, best of
    ``repeats`` extra passes timed by forward hooks (after the timed passes, so they do not
    affect them)."""
    import torch

    from eegssm.nn.deltanet import GatedDeltaNet
    from eegssm.nn.mamba2 import Mamba2

    spent: dict[str, float] = {}
    watched = dict(model.named_children())
    for i, m in enumerate(m for m in model.modules() if isinstance(m, Mamba2 | GatedDeltaNet)):
        watched[f"core{i}"] = m
    handles = []
    for key, module in watched.items():

        def pre(mod, args, key=key):
            mod._t0 = time.perf_counter()

        def post(mod, args, out, key=key):
            spent[key] = spent.get(key, 0.0) + time.perf_counter() - mod._t0

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    best: dict[str, float] = {}
    with torch.inference_mode():
        for _ in range(repeats):
            spent.clear()
            t0 = time.perf_counter()
            model(x)
            spent["total"] = time.perf_counter() - t0
            cores = sum(v for k, v in spent.items() if k.startswith("core"))
            row = {k: v for k, v in spent.items() if not k.startswith("core")}
            row["sequence cores (in node_stream and edge_stream)"] = cores
            for k, v in row.items():
                best[k] = min(v, best.get(k, float("inf")))
    for h in handles:
        h.remove()
    return best


def run_child(name: str, repeats: int, threads: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, "--repeats", str(repeats)]
        + ["--threads", str(threads)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def table(results: dict) -> str:
    base = results["SeizureTransformer (baseline)"]["seconds"]
    rows = [
        "| model | parameters | float32 MB | s / batch of 8 | s per hour of EEG | peak MiB | "
        "speed-up vs baseline |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        rows.append(
            f"| {name} | {r['params']:,} | {4 * r['params'] / 1e6:.2f} | {r['seconds']:.3f} | "
            f"{BATCHES_PER_HOUR * r['seconds']:.2f} | {r['peak_mib']:.0f} | "
            f"{base / r['seconds']:.2f}x |"
        )
    return "\n".join(rows)


def stage_table(results: dict, name: str) -> str:
    stages = results[name]["stages"]
    total = stages["total"]
    rows = ["| stage | ms / batch of 8 | share |", "|---|---:|---:|"]
    for k, v in sorted(stages.items(), key=lambda kv: -kv[1]):
        if k != "total" and v >= 0.0005:
            rows.append(f"| `{k}` | {1000 * v:.1f} | {100 * v / total:.0f} % |")
    rows.append(f"| **forward pass (hooks on)** | **{1000 * total:.1f}** | 100 % |")
    return "\n".join(rows)


def breakdown(results: dict, name: str) -> str:
    parts = results[name]["parts"]
    rows = ["| module | parameters |", "|---|---:|"]
    rows += [f"| `{k}` | {v:,} |" for k, v in parts.items() if v]
    rows.append(f"| **total** | **{results[name]['params']:,}** |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--skip-heavy", action="store_true", help="leave out bgb-v4 (slow)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.repeats, args.threads)))
        return
    if args.skip_heavy and not args.no_write:
        ap.error("--skip-heavy needs --no-write (the document includes the bgb-v4 rows)")

    import torch

    load_before = load()
    t_start = time.perf_counter()
    results: dict[str, dict] = {}
    for rnd in range(args.rounds):
        for name in MODELS:
            if name in HEAVY and (rnd > 0 or args.skip_heavy):
                continue
            r = run_child(name, args.repeats, args.threads)
            if name not in results or r["seconds"] < results[name]["seconds"]:
                results[name] = r
            print(f"round {rnd + 1}: {name}: {r['seconds']:.3f} s / batch", flush=True)
    load_after = load()
    wall = time.perf_counter() - t_start

    md = table(results)
    print()
    print(md)
    ratio = results["SeizureTransformer (baseline)"]["seconds"] / results["fast, mamba2"]["seconds"]
    verdict = "target met" if ratio >= 6 else "target not met"
    print(f"\nfast, mamba2 vs baseline: {ratio:.2f}x ({verdict})")
    print(stage_table(results, "fast, mamba2"))
    if args.no_write:
        return
    DOC.parent.mkdir(parents=True, exist_ok=True)
    summary = {  # read by experiments/detector_results.py for docs/results/detector.md
        "threads": args.threads,
        "batch": BATCH,
        "seconds_per_batch": {k: v["seconds"] for k, v in results.items()},
        "fast_vs_baseline": ratio,
    }
    DOC.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    DOC.write_text(
        f"""# Seizure detector inference speed

`benchmarks/detector_speed.py`: forward passes (inference mode, float32, CPU, {args.threads}
threads) on batches of {BATCH} windows of {N_CHANS} channels × {N_TIMES} samples (60 s at
{SFREQ} Hz). "s per hour of EEG" = {BATCHES_PER_HOUR:g} batches (60 windows, no overlap) ×
seconds per batch. Best of {args.repeats} timed passes after a warm-up (one timed pass for
models whose warm-up took over 10 s); the small models were measured in {args.rounds}
interleaved rounds and the best round kept. Peak MiB: maximum resident memory during the passes
minus the resident memory before them (each model in its own process; includes the output and
all activations of one batch).

Command: `{" ".join(["python", f"benchmarks/{Path(__file__).name}", *sys.argv[1:]])}` with
`THP_MEM_ALLOC_ENABLE={os.environ.get("THP_MEM_ALLOC_ENABLE", "")}`.
Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, Python
{platform.python_version()}; shared with other work: load average (1, 5, 15 min)
{load_before} before and {load_after} after ({wall:.0f} s in all), so absolute times are noisy
and the ratios (measured in the same runs) are the more reliable numbers.

{md}

## Parameters: bgb-v4 against the published ~30.5 M

{breakdown(results, "bgb-v4, mamba2")}

The published Brain-Go-Brr v4 count (31,475,722 in its repository) is about twice ours. By our
reading of that repository the difference is in modules our build does not have, not in the
components named in the description (we did not reproduce its count line by line): its detector
module also instantiates the v2 path's 6-layer
bidirectional Mamba-2 at d_model 512 (kept for the older architecture switch, unused by the v4
forward pass), a 1×1 512→512 channel projection between the TCN and the 16× downsampling conv
(a linear map followed by another linear map; we fold it into the downsampling conv), and a
wider 4-stage convolutional decoder. Our components follow the description: the TCN
(8 residual blocks, 64-128-256-512 twice, kernel 7, dilations 1…128, plus the 512→512 kernel-16
downsampling conv: {results["bgb-v4, mamba2"]["parts"]["encoder"]:,} parameters), the projection
to 19 × 64, the 6-layer node stream (d_model 64, d_state 16, headdim 8) and the 2-layer edge
stream (d_model 16, d_state 8). bgb-v4 is slow on a CPU for two reasons: the 512-channel TCN
runs at the full 256 Hz (about 0.9 T multiply-adds per batch of 8 windows), and the edge stream
scans 1,368 pair sequences × 960 steps with 8 heads each in pure PyTorch.

## The fast preset

Per electrode (weights shared, so the same weights run on 19, 22 or 23 electrodes): a stride-64
conv stem (two convs, stride 8 each) to 4 Hz, a 3-block TCN (kernel 7, dilations 1, 2, 4) at
4 Hz, 3 bidirectional SSM layers (d_model 32, d_state 16) over all electrodes as one batch; edge
stream on electrode-pair similarity pooled to 1 Hz (1 layer, d_model 8); top-3 adjacency,
heat-kernel PE (16 diffusion times every 5 steps), 2 SSGConv layers, gated fusion; mean+max readout
over electrodes; decoder ×4 ×4 ×4 (nearest + conv) back to one logit per sample.

Target: `fast, mamba2` at least 6x faster than the baseline. This run:
**{ratio:.2f}x, {verdict}**.

Where one forward pass of `fast, mamba2` goes (the same process, forward hooks on each
top-level module and on every Mamba-2 block, best of {args.repeats} extra passes; the hooks add
a little to the total):

{stage_table(results, "fast, mamba2")}

The eight Mamba-2 layers (3 bidirectional node-stream blocks over 152 sequences × 240 steps
at d_model 32 and 1 bidirectional edge-stream block over 1,368 pair sequences × 60 steps at
d_model 8, each direction one layer) take most of the time; inside them, the chunked SSD scan
and the projections around it (`in_proj`, the depthwise conv, the gated RMSNorm) are
memory-bound passes over small tensors. The rest (TCN front end, pair similarities, top-k
graph, one `eigh` for the PE of each of 384 19 × 19 graphs per batch, SSGConv, decoder) is what
`fast`'s own code can speed up. The baseline's time is dense convolutions and attention at
512 channels, which the CPU runs near its matrix throughput.

**Continuity.** With the heat-kernel PE the output is a continuous function of the edge
weights except at near-ties between two pair weights, where the top-3 selection decides which
edge survives; a last-bit change in the front end or the edge stream moves the probabilities by
round-off (see `docs/benchmarks/streaming.md`). The published eigenvector PE (`bgb-v4`,
`pe_kind="laplacian"`) is not continuous: where a graph has a repeated Laplacian eigenvalue,
`eigh` may return any basis of the eigenspace, and with it the checkpoints trained before the
switch moved by up to ~1e-2 after such a change.
"""
    )
    print(f"\nwrote {DOC}")


if __name__ == "__main__":
    main()
