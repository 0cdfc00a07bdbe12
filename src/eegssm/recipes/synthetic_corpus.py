"""A seizure-detection corpus: synthetic seizures on real eegmat backgrounds (EDF + csv_bi).

Real seizure-free EEG is the better background (real recordings are few, and a detector must keep
its false alarms low on real EEG); synthetic seizures (evolving rhythmic discharges with focal onset
and spread, :func:`eegssm.data.synthetic.add_seizures`) supply the positives. The corpus holds, per
split:

- **real + synthetic seizures**: each eegmat recording of the split's subjects (19 scalp channels,
  500 Hz; ``_1`` rest ~182 s, ``_2`` task ~62 s), ``copies`` times with different seizures;
- **real seizure-free**: each of those recordings once, unchanged (the negative class, and the
  false alarms per 24 h on real EEG);
- **fully synthetic**: ``synthetic_per_split[split]`` subjects with one recording each
  (:func:`eegssm.data.synthetic.make_recording`).

Subjects are assigned to ``train`` / ``dev`` / ``eval`` with :func:`eegssm.data.split_by_subject`
(eegmat and synthetic subjects separately), so the three are disjoint; every split draws its
seizures from its own seed stream. Files are written as ``<out>/<split>/<subject>/<name>.edf``
with ``<name>.csv_bi`` beside them; :func:`eegssm.data.build_cache` reads the split and the
subject back from that path. ``corpus.json`` lists every file with its split, subject, kind and
seed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eegssm import atomic
from eegssm.config.data import CorpusConfig
from eegssm.preprocessing.montages import REFERENTIAL_19

SPLITS = ("train", "dev", "eval")
CORPUS_INDEX = "corpus.json"


def eegmat_subjects(eegmat_dir: str | Path) -> dict[str, list[Path]]:
    """eegmat subject id (``Subject00``) → its EDF files, sorted."""
    out: dict[str, list[Path]] = {}
    for path in sorted(Path(eegmat_dir).glob("Subject*_*.edf")):
        out.setdefault(path.stem.split("_")[0], []).append(path)
    return out


def _seed(*parts: int | str) -> int:
    """A stable 32-bit seed from mixed parts (strings hashed with sha1, not ``hash``)."""
    import hashlib

    text = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "little")


def read_eegmat(path: str | Path):
    """An eegmat recording as 19 referential channels named ``Fp1`` … ``Pz`` (µV, 500 Hz)."""
    from eegssm.io.read import read_recording

    rec = read_recording(path, channels=[f"EEG {n}" for n in REFERENTIAL_19])
    return rec.copy_with(ch_names=list(REFERENTIAL_19))


def write_edf_csv_bi(stem: str | Path, recording) -> tuple[Path, Path]:
    """Write ``recording`` (µV) as ``<stem>.edf`` + ``<stem>.csv_bi`` (its seizure events)."""
    import mne

    from eegssm.io.annotations.csv_bi import write_csv_bi

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    info = mne.create_info(list(recording.ch_names), recording.sfreq, ch_types="eeg")
    raw = mne.io.RawArray(recording.data.astype(np.float64) * 1e-6, info, verbose="error")
    edf = stem.with_name(stem.name + ".edf")
    mne.export.export_raw(edf, raw, fmt="edf", overwrite=True, verbose="error")
    csv = write_csv_bi(stem.with_name(stem.name + ".csv_bi"), recording.events, recording.duration)
    return edf, csv


def assign_splits(subjects: Sequence[str], fractions: dict[str, float], seed: int):
    """Subject → split, with :func:`eegssm.data.split_by_subject` (whole subjects only)."""
    from eegssm.data.manifest import split_by_subject

    if not subjects:
        return {}
    splits = split_by_subject([{"subject": s} for s in subjects], dict(fractions), seed)
    return {s: name for name, members in splits.items() for s in members}


def generate_corpus(
    out_dir: str | Path, config: CorpusConfig | None = None, progress: bool = True
) -> dict[str, Any]:
    """Write the corpus described by ``config`` into ``out_dir`` (see the module docstring).

    Files already present (from an earlier run with the same config) are kept, so an interrupted
    run resumes; a different config in ``corpus.json`` raises instead of mixing two corpora.

    Returns:
        The ``corpus.json`` contents: ``config`` and ``files`` (one dict per recording: ``edf``
        relative path, ``split``, ``subject``, ``kind`` in {``"real+synthetic"``,
        ``"real-seizure-free"``, ``"synthetic"``}, ``seed``, ``n_seizures``, ``duration_s``).
    """
    from eegssm.data.synthetic import add_seizures, make_recording

    cfg = config or CorpusConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index_path = out / CORPUS_INDEX
    if index_path.is_file():
        old = json.loads(index_path.read_text())
        if old.get("config") != cfg.model_dump(mode="json"):
            raise ValueError(f"{out}: corpus generated with another config; use a new folder")
    real = eegmat_subjects(cfg.eegmat_dir) if cfg.eegmat_dir else {}
    if cfg.eegmat_dir and not real:
        raise FileNotFoundError(f"{cfg.eegmat_dir}: no eegmat SubjectNN_*.edf files")
    names = sorted(real)[: cfg.max_eegmat_subjects]
    real_split = assign_splits(names, cfg.fractions, cfg.split_seed)
    synth_names = [f"synth{i:03d}" for i in range(cfg.synthetic_subjects)]
    synth_split = assign_splits(synth_names, cfg.fractions, cfg.split_seed + 1)

    jobs: list[dict[str, Any]] = []
    for subject in names:
        split = real_split[subject]
        for path in real[subject]:
            task = path.stem.endswith("_2")
            n_seiz = cfg.seizures_task if task else cfg.seizures_rest
            base = {"split": split, "subject": f"eegmat-{subject}", "source": path}
            jobs.append({**base, "name": path.stem, "kind": "real-seizure-free", "seed": None})
            for copy in range(cfg.copies.get(split, 0)):
                seed = _seed(cfg.seed, split, path.stem, copy)
                name = f"{path.stem}_sz{copy}"
                jobs.append({**base, "name": name, "kind": "real+synthetic", "seed": seed})
                jobs[-1]["n_seizures"] = n_seiz
    for subject in synth_names:
        seed = _seed(cfg.seed, synth_split[subject], subject)
        jobs.append(
            {"split": synth_split[subject], "subject": subject, "name": f"{subject}_r0",
             "kind": "synthetic", "seed": seed, "n_seizures": cfg.synthetic_seizures}
        )  # fmt: skip

    from tqdm.auto import tqdm

    files = []
    for job in tqdm(jobs, desc="corpus", unit="rec", disable=not progress):
        stem = out / job["split"] / job["subject"] / job["name"]
        if job["kind"] == "synthetic":
            rec = make_recording(
                cfg.synthetic_duration_s,
                n_seizures=job["n_seizures"],
                seed=job["seed"],
                seizure_duration_s=cfg.seizure_duration_s,
                seizure_amplitude_uv=cfg.seizure_amplitude_uv,
                min_gap_s=cfg.min_gap_s,
            )
        else:
            rec = read_eegmat(job["source"])
            if job["kind"] == "real+synthetic":
                rec = add_seizures(
                    rec,
                    n_seizures=job["n_seizures"],
                    seed=job["seed"],
                    seizure_duration_s=_fit(cfg.seizure_duration_s, rec.duration),
                    seizure_amplitude_uv=cfg.seizure_amplitude_uv,
                    min_gap_s=cfg.min_gap_s,
                )
        if not stem.with_name(stem.name + ".edf").is_file():
            write_edf_csv_bi(stem, rec)
        files.append(
            {
                "edf": stem.with_name(stem.name + ".edf").relative_to(out).as_posix(),
                "split": job["split"],
                "subject": job["subject"],
                "kind": job["kind"],
                "seed": job["seed"],
                "n_seizures": sum(e.label == "seiz" for e in rec.events),
                "duration_s": rec.duration,
            }
        )
    index = {"config": cfg.model_dump(mode="json"), "files": files}
    atomic.write_json(index_path, index)  # last: its presence means the corpus is complete
    return index


def _fit(duration_range: tuple[float, float], total_s: float) -> tuple[float, float]:
    """Clip a seizure-duration range to at most 60 % of a (short) recording."""
    hi = min(duration_range[1], 0.6 * total_s)
    lo = min(duration_range[0], hi)
    return (lo, hi)


def summarize_corpus(index: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per split: recordings, subjects, hours and seizures, by kind."""
    out: dict[str, dict[str, Any]] = {}
    for f in index["files"]:
        empty = {"subjects": set(), "hours": 0.0, "seizures": 0, "kinds": {}}
        s = out.setdefault(f["split"], empty)
        s["subjects"].add(f["subject"])
        s["hours"] += f["duration_s"] / 3600
        s["seizures"] += f["n_seizures"]
        s["kinds"][f["kind"]] = s["kinds"].get(f["kind"], 0) + 1
    return {k: {**v, "subjects": len(v["subjects"])} for k, v in sorted(out.items())}
