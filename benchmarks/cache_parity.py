"""Do the windows read from the one cache equal those the former pipelines fed the models?

The results in ``docs/results`` were computed before the cache stored continuous recordings:

- EEGM2 (``docs/results/eegm2.md``): every eegmat recording read, preprocessed with the
  ``eegm2`` preset (whole-recording p95 scaling) and cut in memory into complete windows
  (``recipes/eegm2.py``: ``load_recordings`` + ``cut_windows``, removed);
- the detector (``docs/results/detector.md``): 60-s windows every 10 s of the ``seizure``
  preset (``preprocessing.make_windows`` of ``preprocess``), stored window by window.

This script rebuilds those inputs with the same reference code (``preprocess`` and a sliding
window; ``make_windows``) and compares them, window by window and in order, with what
:class:`eegssm.data.WindowDataset` reads from a cache built by ``build_cache``: signal values,
per-sample labels and masks (detector), recording classes and subjects (EEGM2). Equal inputs in
equal order under the same seeds give the same training batches (``EpochShuffle`` depends only on
the number of windows and the seed), hence the same models and numbers.

Writes ``docs/benchmarks/cache_parity.md`` (and prints it).

Usage (from the repository root)::

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cache_parity.py
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EEGMAT = ROOT.parent / "shared" / "data" / "eegmat"
DOC = ROOT / "docs" / "benchmarks" / "cache_parity.md"


def compare(ref: np.ndarray, new: np.ndarray) -> dict:
    """Equality of two float arrays: ``identical`` (bit for bit) and the largest difference."""
    same_shape = ref.shape == new.shape
    diff = float(np.abs(ref - new).max(initial=0.0)) if same_shape else float("inf")
    return {
        "shape": ref.shape,
        "identical": bool(same_shape and np.array_equal(ref, new)),
        "max_abs_diff": diff,
    }


def eegm2_parity(tmp: Path, n: int | None, window_s: float) -> dict:
    """The former EEGM2 windows (reference code inline) against the cache's."""
    from eegssm.config import EEGM2DataConfig
    from eegssm.data.discovery import label_of, subject_of
    from eegssm.io import read_recording
    from eegssm.preprocessing.pipeline import get_preset, preprocess
    from eegssm.recipes.eegm2 import prepare_windows

    cfg = EEGM2DataConfig(data_dir=str(EEGMAT), window_s=window_s, max_recordings=n)
    paths = sorted(Path(cfg.data_dir).rglob(cfg.pattern))[: cfg.max_recordings]
    preset = get_preset("eegm2", sfreq=cfg.sfreq)
    xs, ys, subs = [], [], []
    for path in paths:  # former load_recordings + cut_windows
        data = preprocess(read_recording(path), preset).data
        w = int(round(window_s * cfg.sfreq))
        k = 0 if data.shape[1] < w else 1 + (data.shape[1] - w) // w
        view = np.lib.stride_tricks.sliding_window_view(data, w, axis=1)[:, ::w][:, :k]
        xs.append(np.ascontiguousarray(view.transpose(1, 0, 2)))
        label = label_of(path.stem, cfg.labels)
        ys.append(np.full(k, -1 if label is None else label, dtype=np.int64))
        subs.append(np.full(k, subject_of(path.stem, cfg.subject_regex), dtype=object))
    ref_x = np.concatenate(xs).astype(np.float32)
    windows = prepare_windows(cfg, tmp / "eegm2_cache")
    new_x = np.stack([windows[i][0].numpy() for i in range(len(windows))])
    return {
        "recordings": len(paths),
        "window_s": window_s,
        "x": compare(ref_x, new_x),
        "targets_equal": bool(np.array_equal(np.concatenate(ys), windows.targets)),
        "subjects_equal": bool(np.array_equal(np.concatenate(subs), windows.subject)),
    }


def detector_parity(tmp: Path, names: list[Path]) -> dict:
    """The former detector windows (``make_windows`` of ``preprocess``) against the cache's, on
    real eegmat recordings and on a synthetic TUSZ-style recording with seizures."""
    from eegssm.data import WindowDataset, build_cache
    from eegssm.data.discovery import sidecar_annotations
    from eegssm.data.synthetic import write_synthetic
    from eegssm.io import read_recording
    from eegssm.preprocessing.pipeline import get_preset, preprocess
    from eegssm.preprocessing.windowing import make_windows

    data = tmp / "detector_data"
    data.mkdir()
    for p in names:
        (data / p.name).symlink_to(p)
    write_synthetic(data / "synthetic_seizures", 600.0, sfreq=250.0, n_seizures=2, seed=3)
    build_cache(data, tmp / "detector_cache", progress=False, workers=1)
    ds = WindowDataset(tmp / "detector_cache")
    preset = get_preset("seizure")
    ref_x, ref_y, ref_m = [], [], []
    for r in ds.recordings:  # the cache's order (by relative path)
        path = data / r.name
        rec = read_recording(path)
        rec = rec.copy_with(events=sorted([*rec.events, *sidecar_annotations(path).events],
                                          key=lambda e: (e.start, e.stop)))  # fmt: skip
        win = make_windows(preprocess(rec, preset), preset.window_s, preset.stride_s)
        ref_x.append(win.x)
        ref_y.append(win.y)
        ref_m.append(win.mask)
    items = [ds.window(i) for i in range(len(ds))]
    ref_y = np.concatenate(ref_y)
    return {
        "recordings": len(ds.recordings),
        "windows": len(ds),
        "seizure_samples": int(ref_y.sum()),
        "x": compare(np.concatenate(ref_x), np.stack([it[0] for it in items])),
        "labels_equal": bool(np.array_equal(ref_y, np.stack([it[1] for it in items]))),
        "masks_equal": bool(
            np.array_equal(np.concatenate(ref_m), np.stack([it[2] for it in items]))
        ),
    }


def report(eegm2: list[dict], det: dict, seconds: float) -> str:
    def row(c: dict) -> str:
        return f"{'**yes**' if c['identical'] else 'no'} | {c['max_abs_diff']:.3g}"

    lines = [
        "# Cache parity: the windows the former pipelines produced, read from the one cache",
        "",
        f"`benchmarks/cache_parity.py` ({seconds:.0f} s; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores). The reference is the former "
        "code path written out inline: `preprocess` of the whole recording, then a sliding "
        "window (EEGM2, complete windows) or `make_windows` (detector, 60 s every 10 s, padded "
        "last window). The cache stores the filtered signal in µV and the normalisation "
        "statistics; `WindowDataset` normalises each window when it reads it.",
        "",
        "## EEGM2 (eegmat, `eegm2` preset: 19 channels, 128 Hz, p95 scaling per recording)",
        "",
        "| recordings | window | windows | bit-identical | max abs diff | classes equal | "
        "subjects equal |",
        "|---:|---:|---:|---|---:|---|---|",
    ]
    for e in eegm2:
        lines.append(
            f"| {e['recordings']} | {e['window_s']:g} s | {e['x']['shape'][0]} | {row(e['x'])} | "
            f"{e['targets_equal']} | {e['subjects_equal']} |"
        )
    lines += [
        "",
        "## Detector (`seizure` preset: 19 channels, 256 Hz, z-score, 60-s windows every 10 s)",
        "",
        "| recordings | windows | seizure samples | bit-identical | max abs diff | labels equal "
        "| masks equal |",
        "|---:|---:|---:|---|---:|---|---|",
        f"| {det['recordings']} | {det['windows']} | {det['seizure_samples']} | {row(det['x'])} "
        f"| {det['labels_equal']} | {det['masks_equal']} |",
        "",
        "Same windows in the same order, same classes and subjects: with the recipes' seeds "
        "(`EpochShuffle(n_windows, seed)`, the fold split by subject) training sees the same "
        "batches, so the numbers in `docs/results/` reproduce from the new layer. The detector's "
        "evaluation reads whole recordings through `data.recordings` (tested equal to "
        "`preprocess` in `tests/test_data_cache.py`).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recordings", type=int, default=None, help="eegmat recordings (all)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if not EEGMAT.is_dir():
        raise SystemExit(f"{EEGMAT}: eegmat not found (../shared/data/eegmat)")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        eegm2 = [eegm2_parity(Path(tmp), args.recordings, w) for w in (10.0, 30.0)]
        names = [EEGMAT / "Subject00_1.edf", EEGMAT / "Subject00_2.edf"]
        det = detector_parity(Path(tmp), names)
    text = report(eegm2, det, time.perf_counter() - t0)
    print(text)
    if not args.no_write:
        DOC.write_text(text)
        print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
