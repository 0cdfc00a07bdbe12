"""Size and writing time of the review page (``eegssm detect --report``) for 1 and 24 hours.

The EEG is real where the development data is present: the PhysioNet eegmat recordings
(19 referential channels at 500 Hz, Zyma et al. 2019, ODC-By) joined end to end up to one hour,
repeated for longer records; otherwise the synthetic generator's signal (stated in the output).
The probability is a per-sample trace at 256 Hz (smoothed noise, the worst case for compression)
with detected and reference events spread over the record. Each case runs in a fresh process:
wall time and peak resident memory (``ru_maxrss``) of writing the page, the file's size, the EEG
stored, and bits per stored sample. Writes ``docs/benchmarks/report_size.md``.

``python benchmarks/report_size.py`` (about a minute on 2 cores).
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks" / "report_size.md"
EEGMAT = Path(os.environ.get("EEGSSM_SHARED_DATA", ROOT.parent / "shared" / "data")) / "eegmat"


def one_hour_of_eeg():
    """``(data (C, T) µV, sfreq, ch_names, what)``: an hour of real EEG, or synthetic."""
    import warnings

    from eegssm.io import read_recording

    files = sorted(EEGMAT.glob("*.edf"))
    if not files:
        from eegssm.data.synthetic import make_recording

        rec = make_recording(3600.0, sfreq=256.0, n_seizures=0, seed=0)
        return rec.data, rec.sfreq, rec.ch_names, "synthetic (eegmat not found)"
    parts, total, names, sfreq = [], 0, None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in files:
            rec = read_recording(f)
            names, sfreq = names or rec.ch_names, sfreq or rec.sfreq
            parts.append(rec.data)
            total += rec.n_times
            if total >= 3600 * sfreq:
                break
    data = np.concatenate(parts, axis=1)
    reps = int(np.ceil(3600 * sfreq / data.shape[1]))
    data = np.tile(data, (1, reps))[:, : int(3600 * sfreq)]
    return data, sfreq, names, f"real: PhysioNet eegmat, {len(parts)} recordings joined"


def write_case(hours: float, out: Path) -> dict:
    """Write one page (in this process) and describe it."""
    from scipy import signal

    from eegssm.io.types import Event, Recording
    from eegssm.preprocessing.blockwise import LazySignal
    from eegssm.report.html import page_data, write_report

    data, sfreq, names, what = one_hour_of_eeg()
    hour = data.shape[1]
    n_times = int(hours * 3600 * sfreq)

    def read(a: int, b: int) -> np.ndarray:  # the hour repeated, never held whole
        idx = np.arange(a, b) % hour
        return data[:, idx]

    raw = Recording(LazySignal(read, (len(names), n_times)), sfreq, list(names))  # type: ignore[arg-type]
    duration = n_times / sfreq
    rng = np.random.default_rng(0)
    prob_sfreq = 256.0
    noise = rng.standard_normal(int(duration * prob_sfreq)).astype(np.float32)
    probs = np.abs(signal.lfilter([0.02], [1, -0.98], noise)).astype(np.float32) * 0.3
    onsets = np.linspace(0.05, 0.95, 10) * duration
    detected = [Event(t, t + 45.0, confidence=0.9) for t in onsets]
    reference = [Event(t - 5.0, t + 50.0) for t in onsets[::2]]
    for e in detected:
        probs[int(e.start * prob_sfreq) : int(e.stop * prob_sfreq)] = 0.95
    t0 = time.perf_counter()
    path = write_report(out, raw, probs, prob_sfreq, detected, reference, threshold=0.8, raw=raw)
    wall = time.perf_counter() - t0
    eeg = page_data(path.read_text())["eeg"]
    stored_samples = eeg["stored_s"] * eeg["sfreq"] * eeg["n_channels"]
    eeg_bytes = sum(len(b) for b in eeg["blocks"] if b) * 3 / 4  # base64 → bytes
    return {
        "hours": hours,
        "signal": what,
        "channels_stored": eeg["n_channels"],
        "display_hz": eeg["sfreq"],
        "stored_h": eeg["stored_s"] / 3600,
        "file_mb": path.stat().st_size / 1e6,
        "eeg_bits_per_sample": 8 * eeg_bytes / stored_samples,
        "write_s": wall,
    }


def run_case(hours: float) -> dict:
    """:func:`write_case` in a fresh process, with its peak memory."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "page.html"
        cmd = [sys.executable, __file__, "--case", str(hours), str(out)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"case {hours} h failed:\n{stdout}\n{stderr}")
        row = json.loads(stdout.strip().splitlines()[-1])
        row["peak_mib"] = usage.ru_maxrss / 1024
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 24.0])
    parser.add_argument("--case", nargs=2, metavar=("HOURS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(write_case(float(args.case[0]), Path(args.case[1]))))
        return
    from eegssm import atomic
    from eegssm.report import display

    rows = []
    for hours in args.hours:
        row = run_case(hours)
        rows.append(row)
        print(
            f"{hours:5.1f} h: {row['file_mb']:6.1f} MB, EEG stored {row['stored_h']:.2f} h of "
            f"{row['channels_stored']} ch at {row['display_hz']:g} Hz, "
            f"{row['eeg_bits_per_sample']:.2f} bits/sample, written in {row['write_s']:.1f} s, "
            f"peak {row['peak_mib']:.0f} MiB"
        )
    plain = 19 * display.DISPLAY_SFREQ * 3600 * 2 * 4 / 3 / 1e6
    lines = [
        "# Review page size (`eegssm detect --report`)",
        "",
        "Generated by `python benchmarks/report_size.py` on "
        f"{platform.machine()} / Python {platform.python_version()}, {os.cpu_count()} CPUs.",
        "",
        f"Signal: {rows[0]['signal']}. The page stores the display signal: "
        f"{display.DISPLAY_SFREQ:g} Hz, {display.LSB_UV:g} µV steps, per-channel first "
        "differences, zlib, base64 "
        f"(`eegssm.report.display`). At most {display.MAX_EEG_HOURS:g} h of 19-channel EEG is "
        "stored (the stretches around events first, then the earliest); every page of the record "
        "is still reachable, with the probability and events, and says when its EEG is not stored.",
        "",
        "| record | EEG stored | file | EEG bits / sample | write time | peak memory |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['hours']:g} h, {r['channels_stored']} ch | {r['stored_h']:.2f} h | "
            f"{r['file_mb']:.1f} MB | {r['eeg_bits_per_sample']:.2f} | {r['write_s']:.1f} s | "
            f"{r['peak_mib']:.0f} MiB |"
        )
    lines += [
        "",
        f"For comparison, plain int16 base64 at {display.DISPLAY_SFREQ:g} Hz would be "
        f"{plain:.1f} MB per hour of 19 channels. Peak memory includes the hour of source EEG "
        "this benchmark holds (its 24 h record repeats that hour lazily).",
        "",
    ]
    atomic.write_text(DOC, "\n".join(lines))
    print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
