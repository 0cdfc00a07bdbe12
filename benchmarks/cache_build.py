"""Cache size and build rate of ``eegssm build-cache`` (one worker process).

1. **Size**: eegmat ``Subject00_1`` + ``Subject00_2`` (PhysioNet eegmat, 500 Hz, 21 signals)
   cached at defaults (``seizure`` preset: 19 channels at 256 Hz, float32), against the float32
   size of 19 channels at 256 Hz for their duration; the same for ``--dtype float16``; and the
   size the former windowed cache (60-s windows every 10 s, x float32 + y uint8 + mask bool per
   window) had for the same recordings, computed from its layout.
2. **Build rate** in hours of EEG per minute per worker, cold (a new cache folder, sources in
   the page cache), for: the first ``--eegmat`` eegmat recordings (500 Hz → 256 Hz), and a
   synthetic TUSZ-like recording (``--synthetic-hours`` h, 19 channels at 250 Hz → 256 Hz), read
   whole and, forced, block by block (the path of recordings over ~2 h).

Writes ``docs/benchmarks/cache.md`` (and prints it). The machine may be shared: each build is run
``--repeats`` times and the fastest kept.

Usage (from the repository root)::

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cache_build.py
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from eegssm.data.cache import build_cache
from eegssm.data.manifest import Manifest

ROOT = Path(__file__).resolve().parents[1]
EEGMAT = ROOT.parent / "shared" / "data" / "eegmat"
DOC = ROOT / "docs" / "benchmarks" / "cache.md"


def link(names: list[str], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).symlink_to(EEGMAT / name)
    return folder


def old_windowed_bytes(duration_s: float, n_times: int) -> int:
    """Bytes the former cache (format 1) wrote for one recording: N windows of 60 s every 10 s,
    x (N, 19, 15360) float32 + y (N, 15360) uint8 + mask (N, 15360) bool (+ 3 .npy headers)."""
    window, stride = 15360, 2560
    n = 1 + -(-max(n_times - window, 0) // stride)
    return n * window * (19 * 4 + 1 + 1) + 3 * 128


def sizes(tmp: Path) -> dict:
    data = link(["Subject00_1.edf", "Subject00_2.edf"], tmp / "size_data")
    out = {}
    for dtype in ("float32", "float16"):
        cache = tmp / f"size_{dtype}"
        build_cache(data, cache, progress=False, dtype=dtype)
        m = Manifest.load(cache)
        on_disk = sum(p.stat().st_size for p in (cache / "arrays").iterdir())
        out[dtype] = {
            "bytes": on_disk,
            "folder_bytes": sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()),
            "float32_bytes": sum(4 * 19 * 256 * r["duration_s"] for r in m.recordings),
            "hours": sum(r["duration_s"] for r in m.recordings) / 3600,
            "old_bytes": sum(
                old_windowed_bytes(r["duration_s"], r["n_times"]) for r in m.recordings
            ),
        }
    return out


def timed_build(data: Path, cache: Path, repeats: int, **kw) -> tuple[float, float]:
    """(best seconds, hours of EEG) of a cold one-worker build of ``data``."""
    best, hours = float("inf"), 0.0
    for _ in range(repeats):
        shutil.rmtree(cache, ignore_errors=True)
        for f in data.rglob("*.edf"):  # sources in the page cache, as in a long build
            f.read_bytes()
        t0 = time.perf_counter()
        report = build_cache(data, cache, workers=1, progress=False, **kw)
        best = min(best, time.perf_counter() - t0)
        assert not report.failed, report.failed
        hours = report.hours_built
    return best, hours


def rates(tmp: Path, n_eegmat: int, synthetic_hours: float, repeats: int) -> list[dict]:
    from eegssm.data.synthetic import write_synthetic_long

    rows = []
    names = sorted(p.name for p in EEGMAT.glob("*.edf"))[:n_eegmat]
    data = link(names, tmp / "rate_eegmat")
    s, h = timed_build(data, tmp / "rate_eegmat_cache", repeats)
    rows.append({"what": f"eegmat, {len(names)} recordings, 500 → 256 Hz, whole", "s": s, "h": h})

    synth = tmp / "rate_synth"
    synth.mkdir()
    t0 = time.perf_counter()
    write_synthetic_long(synth / "long", synthetic_hours, sfreq=250.0, seizures_per_hour=2)
    written = time.perf_counter() - t0
    s, h = timed_build(synth, tmp / "rate_synth_cache", repeats)
    label = f"synthetic {synthetic_hours:g} h, 19 ch, 250 → 256 Hz"
    rows.append({"what": f"{label}, whole", "s": s, "h": h})
    s, h = timed_build(synth, tmp / "rate_synth_cache", repeats, block_s=1800.0)
    rows.append({"what": f"{label}, block by block (30-min blocks)", "s": s, "h": h})
    for r in rows:
        r["rate"] = r["h"] / (r["s"] / 60)
    rows.append({"written_s": written})
    return rows


def report(size: dict, rows: list[dict], args: argparse.Namespace) -> str:
    f32, f16 = size["float32"], size["float16"]
    written = rows.pop()["written_s"]
    lines = [
        "# Cache size and build rate",
        "",
        "`benchmarks/cache_build.py` (one worker process; "
        f"{platform.machine()}, {os.cpu_count()} cores shared with other work, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; best of {args.repeats}; "
        f"1-min load average {args.load[0]:.1f} at the start and {args.load[1]:.1f} at the end: "
        "the rates below are lower bounds for an idle core).",
        "",
        "## Size: eegmat Subject00_1 + Subject00_2 at defaults",
        "",
        f"{f32['hours'] * 60:.2f} min of EEG; the float32 size of 19 channels at 256 Hz for that "
        f"duration is {f32['float32_bytes'] / 1e6:.2f} MB.",
        "",
        "| cache | arrays on disk | × float32 signal |",
        "|---|---:|---:|",
        f"| continuous, float32 (default) | {f32['bytes'] / 1e6:.2f} MB | "
        f"**{f32['bytes'] / f32['float32_bytes']:.3f}** |",
        f"| continuous, float16 (`--dtype float16`) | {f16['bytes'] / 1e6:.2f} MB | "
        f"{f16['bytes'] / f16['float32_bytes']:.3f} |",
        f"| former windowed cache (60 s every 10 s; computed from its layout) | "
        f"{f32['old_bytes'] / 1e6:.2f} MB | {f32['old_bytes'] / f32['float32_bytes']:.3f} |",
        "",
        f"With the manifest and fragments the default cache folder holds "
        f"{f32['folder_bytes'] / 1e6:.2f} MB ({f32['folder_bytes'] / f32['float32_bytes']:.3f}×). "
        f"Target: ≤ 1.25× ({'met' if f32['bytes'] <= 1.25 * f32['float32_bytes'] else 'NOT met'}). "
        "The labels add 1/76 (uint8 per sample beside 19 float32).",
        "",
        "## Build rate (one worker, cold cache folder, sources in the page cache)",
        "",
        "| input | hours of EEG | seconds | **h of EEG per minute per worker** |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['what']} | {r['h']:.3f} | {r['s']:.1f} | **{r['rate']:.2f}** |")
    lines += [
        "",
        f"(The synthetic EDF was written in {written:.0f} s, not timed.) A build reads, montages, "
        "resamples, filters (0.5–120 Hz + 60/120 Hz notch, zero-phase), computes the "
        "normalisation statistics and writes the signal and labels once; `--workers N` runs N "
        "recordings at a time, and `--shard K/N` splits a corpus over N jobs, so a corpus of H "
        "hours takes about H / (rate × workers × jobs) minutes. At "
        f"{min(r['rate'] for r in rows):.1f} h/min per worker, TUSZ v2.0.3 (~1,470 h) "
        f"is ~{1470 / min(r['rate'] for r in rows) / 60:.1f} CPU-hours.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eegmat", type=int, default=8, help="eegmat recordings to build (rate)")
    ap.add_argument("--synthetic-hours", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if not EEGMAT.is_dir():
        raise SystemExit(f"{EEGMAT}: eegmat not found (../shared/data/eegmat)")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        size = sizes(Path(tmp))
        rows = rates(Path(tmp), args.eegmat, args.synthetic_hours, args.repeats)
    args.load = (load, os.getloadavg()[0])
    text = report(size, rows, args)
    print(text)
    if not args.no_write:
        DOC.write_text(text)
        print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
