"""`eegssm detect` on long recordings: peak memory and throughput.

For each length (default 1, 6 and 24 hours) a synthetic 19-channel 256 Hz EDF with one seizure
per hour is generated (``write_synthetic_long``: one hour at a time, with its csv_bi beside it),
then ``eegssm detect FILE`` runs on it in a fresh process with the bundled checkpoint. Recorded
per file: wall time of the whole command, peak resident memory of that process (``ru_maxrss``
from ``wait4``), throughput, the per-stage timings the command writes into its JSON, and the
NEDC OVERLAP score against the generated annotations. Target: a 24-hour recording in under
2 GB. Writes ``docs/benchmarks/detect_long.md``.

Run it on a quiet machine: ``python benchmarks/detect_long.py`` (about 10 minutes on 2 cores;
``--hours 1 3`` for a quick check; ``--keep DIR`` keeps the generated files).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from eegssm import atomic

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks" / "detect_long.md"
TARGET_GB = 2.0


def run_detect(edf: Path, out: Path) -> dict:
    """``eegssm detect EDF`` in a fresh process: wall seconds, peak RSS (MiB), its JSON."""
    cmd = [sys.executable, "-m", "eegssm.cli", "detect", str(edf), "--out", str(out), "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"eegssm detect failed on {edf}:\n{stdout}\n{stderr}")
    doc = json.loads((out / f"{edf.stem}.json").read_text())
    return {"wall_s": wall, "peak_mib": usage.ru_maxrss / 1024, "doc": doc}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--hours", type=float, nargs="+", default=[1.0, 6.0, 24.0])
    p.add_argument("--keep", type=Path, default=None, help="keep the generated EDFs here")
    p.add_argument("--out", type=Path, default=DOC)
    args = p.parse_args()

    from eegssm.data.synthetic import write_synthetic_long

    load = Path("/proc/loadavg").read_text().split()[:3]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        for hours in args.hours:
            stem = folder / f"synthetic_{hours:g}h"
            edf = stem.with_name(stem.name + ".edf")
            if not edf.exists():
                t = time.perf_counter()
                write_synthetic_long(stem, hours, seizures_per_hour=1, seed=11)
                print(f"generated {edf.name} in {time.perf_counter() - t:.0f} s", flush=True)
            res = run_detect(edf, Path(tmp) / f"out_{hours:g}h")
            doc = res["doc"]
            score = doc.get("overlap_score", {})
            row = {
                "hours": hours,
                "edf_mib": edf.stat().st_size / 2**20,
                "wall_s": res["wall_s"],
                "peak_mib": res["peak_mib"],
                "timings": doc["timings_s"],
                "hits": score.get("hits"),
                "targets": score.get("targets"),
                "fa": score.get("false_alarms"),
            }
            rows.append(row)
            print(
                f"{hours:g} h: {row['wall_s']:.1f} s, peak {row['peak_mib']:.0f} MiB, "
                f"{row['hits']}/{row['targets']} seizures, {row['fa']} FA",
                flush=True,
            )

    lines = [
        "# `eegssm detect` on long recordings",
        "",
        "Produced by `python benchmarks/detect_long.py`: synthetic 19-channel EDFs at 256 Hz with "
        "one seizure per hour (`eegssm.data.synthetic.write_synthetic_long`), `eegssm detect FILE` "
        "with the bundled checkpoint in a fresh process per file, "
        f"{torch.get_num_threads()} CPU threads ({platform.machine()}, torch {torch.__version__}), "
        f"load average before the run {' '.join(load)}. Peak memory is the process's maximum "
        "resident set (`ru_maxrss`), start-up and imports included.",
        "",
        "Recordings longer than one block (~1.9 h of 19 channels at 256 Hz) are read, "
        "preprocessed and scored block by block (`Detector.run_file`, "
        "`eegssm.preprocessing.blockwise`): one pass for the normalisation statistics, one for "
        "the model; shorter ones are read whole.",
        "",
        "| recording | EDF size | whole command | x real time | peak memory | stages (s) | "
        "OVERLAP hits / seizures, FA |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["timings"].items())
        lines.append(
            f"| {r['hours']:g} h | {r['edf_mib']:.0f} MiB | {r['wall_s']:.1f} s | "
            f"{r['hours'] * 3600 / r['wall_s']:.0f}x | {r['peak_mib']:.0f} MiB | {stages} | "
            f"{r['hits']}/{r['targets']}, {r['fa']} |"
        )
    longest = max(rows, key=lambda r: r["hours"])
    met = longest["peak_mib"] / 1024 <= TARGET_GB
    lines += [
        "",
        f"Target: a 24-hour recording needs no more than {TARGET_GB:g} GB. "
        f"Longest here: {longest['hours']:g} h in {longest['peak_mib'] / 1024:.2f} GiB peak, "
        f"{longest['wall_s'] / 60:.1f} min ({'met' if met else 'NOT met'}).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(args.out, text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
