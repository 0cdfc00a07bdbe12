#!/usr/bin/env python
"""End-to-end `eegssm detect` timing on a synthetic 1-hour 19-channel EDF at 256 Hz.

Stages: read (EDF → µV float32), preprocess (the checkpoint's preset), model (windows + overlap
averaging), post-process; plus the whole command (`eegssm detect FILE`) in a fresh process.
Prints a table and writes ``docs/benchmarks/detect_e2e.md``. Target: 1 h of EEG in <= 10 s on
2 CPU cores.

    python benchmarks/detect_e2e.py [--hours 1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from eegssm import atomic

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "detect_e2e.md"


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", type=Path, default=DOC)
    args = p.parse_args()

    from eegssm.data.synthetic import write_synthetic
    from eegssm.detection import Detector
    from eegssm.io import read_recording

    load = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        edf, _ = write_synthetic(
            Path(tmp) / "hour", duration_s=3600 * args.hours, n_seizures=4, seed=7
        )
        print(f"generated {edf.name} in {time.perf_counter() - t:.1f} s", flush=True)
        detector = Detector.from_checkpoint()
        rows = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            rec = read_recording(edf)
            t1 = time.perf_counter()
            result = detector.run(rec)
            row = {"read": t1 - t0, **result.timings}
            row["total"] = sum(row.values())
            rows.append(row)
            print("  ".join(f"{k} {v:.2f} s" for k, v in row.items()), flush=True)
        best = min(rows, key=lambda r: r["total"])
        cli = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "eegssm.cli",
                    "detect",
                    str(edf),
                    "--out",
                    f"{tmp}/out",
                    "--quiet",
                ],
                check=True,
                capture_output=True,
            )
            cli.append(time.perf_counter() - t)
        hours = rec.duration / 3600

    lines = [
        "# `eegssm detect` end to end",
        "",
        f"Produced by `python benchmarks/detect_e2e.py`: a synthetic {hours:.2f}-hour, "
        f"19-channel EDF at 256 Hz (4 seizures), the bundled checkpoint ({detector.name}; "
        f"windows {detector.window_s:g} s every {detector.stride_s:g} s), "
        f"{torch.get_num_threads()} CPU threads, "
        f"load average before the run {' '.join(load)}. Best of {args.repeats} runs per row.",
        "",
        "| stage | seconds | share |",
        "|---|---:|---:|",
    ]
    for k in ("read", "preprocess", "model", "postprocess"):
        lines.append(f"| {k} | {best[k]:.2f} | {100 * best[k] / best['total']:.0f} % |")
    lines += [
        f"| **total (in process)** | **{best['total']:.2f}** | |",
        "| whole command in a fresh process (`eegssm detect FILE`: start-up, all stages, "
        f"writing outputs) | {min(cli):.2f} | |",
        "",
        f"Throughput: {hours * 3600 / best['total']:.0f}x real time in process; "
        f"{hours / min(cli) * 3600:.0f}x for the whole command. Target (1 h in <= 10 s): "
        f"{'met' if min(cli) <= 10 * hours else 'NOT met'}.",
    ]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    atomic.write_text(args.out, text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
