"""Cache builder: manifest contents, arrays equal to direct preprocessing (in memory and block by
block, as ``eegssm detect``), size, failures, resume, crash safety, write errors, shards,
discovery, commands."""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from eegssm import atomic
from eegssm.data.cache import CacheWriteError, build_cache, in_shard, merge_shards, parse_shard
from eegssm.data.discovery import identify, recording_key, sidecar_annotations
from eegssm.data.manifest import (
    Manifest,
    entry_window_classes,
    fragment_path,
    split_by_subject,
    summarize,
)
from eegssm.data.recordings import cached_recording
from eegssm.data.synthetic import write_synthetic
from eegssm.io import read_recording
from eegssm.io.annotations import read_csv_bi, write_bids_events
from eegssm.io.types import Event
from eegssm.preprocessing import preprocess, preprocess_windows
from eegssm.preprocessing.windowing import sample_labels

TUSZ = "edf/{split}/{patient}/s001_2020/01_tcp_ar/{patient}_s001_t00{n}"
RECORDINGS = [
    # (relative stem, duration s, seizures, seizure length range s, seed)
    (TUSZ.format(split="train", patient="aaaaaaaa", n=0), 150, 1, (65.0, 75.0), 1),
    (TUSZ.format(split="train", patient="aaaaaaab", n=0), 120, 1, (15.0, 25.0), 2),
    (TUSZ.format(split="dev", patient="aaaaaaac", n=0), 100, 0, (10.0, 20.0), 3),
]
CORRUPT = TUSZ.format(split="dev", patient="aaaaaaac", n=1) + ".edf"


def write_corpus(root: Path) -> Path:
    """3 short synthetic TUSZ-layout recordings (EDF + csv_bi) and one corrupt EDF."""
    for stem, duration, n, length, seed in RECORDINGS:
        write_synthetic(
            root / stem, duration_s=duration, n_seizures=n, seed=seed,
            seizure_duration_s=length, min_gap_s=5.0, tusz_labels=True,
        )  # fmt: skip
    (root / CORRUPT).write_bytes(b"this is not an EDF file\n" * 20)
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    build_cache(corpus, cache, workers=1, progress=False)
    return cache


def direct(edf: Path, preset: str = "seizure"):
    """The preprocessed recording computed without the cache: read, add the csv_bi events,
    preprocess (what ``eegssm detect`` does to a file that fits in memory)."""
    rec = read_recording(edf)
    csv = edf.with_suffix(".csv_bi")
    if csv.exists():
        rec = rec.copy_with(events=read_csv_bi(csv).events)
    return preprocess(rec, preset)


def direct_windows(edf: Path, preset: str = "seizure"):
    rec = read_recording(edf)
    csv = edf.with_suffix(".csv_bi")
    if csv.exists():
        rec = rec.copy_with(events=read_csv_bi(csv).events)
    return preprocess_windows(rec, preset)


def mtimes(cache: Path) -> dict[str, int]:
    return {
        p.relative_to(cache).as_posix(): p.stat().st_mtime_ns
        for p in sorted(cache.rglob("*"))
        if p.is_file() and p.name not in ("manifest.json", ".lock")
    }


def test_manifest_lists_recordings_and_failure_with_reason(built, corpus):
    m = Manifest.load(built)
    assert [r["subject"] for r in m.recordings] == ["aaaaaaac", "aaaaaaaa", "aaaaaaab"]
    assert [r["split"] for r in m.recordings] == ["dev", "train", "train"]
    assert [r["session"] for r in m.recordings] == ["s001_2020"] * 3
    assert len(m.failed) == 1
    failed = m.failed[0]
    assert failed["relpath"] == CORRUPT and failed["subject"] == "aaaaaaac"
    assert (
        failed["reason"].startswith("EEGReadError:")
        and "not an EDF or BDF file" in failed["reason"]
    )
    assert not failed["retryable"]
    assert m.header["preset"] == "seizure" and m.header["config"]["window_s"] == 60.0
    assert m.header["dtype"] == "float32" and m.header["complete"]
    for entry in m.recordings:
        edf = corpus / entry["relpath"]
        assert entry["source_sha256"] == hashlib.sha256(edf.read_bytes()).hexdigest()
        assert entry["montage"] == "ref19" and entry["blockwise"] is False
        csv = read_csv_bi(edf.with_suffix(".csv_bi"))
        assert [(e["start"], e["stop"], e["label"]) for e in entry["events"]] == [
            (e.start, e.stop, e.label) for e in csv.events
        ]


def test_cache_holds_the_detect_input_once_and_windows_match(built, corpus):
    m = Manifest.load(built)
    for entry in m.recordings:
        edf = corpus / entry["relpath"]
        rec = direct(edf)
        cached = cached_recording(built, entry["relpath"])
        assert entry["n_times"] == rec.n_times and entry["sfreq"] == rec.sfreq == 256.0
        assert entry["ch_names"] == rec.ch_names
        # the normalised signal is bit for bit what preprocess() gives
        np.testing.assert_array_equal(cached.signal(), rec.data)
        assert cached.signal().tobytes() == rec.data.tobytes()
        labels = sample_labels(rec.events, rec.n_times, rec.sfreq)
        np.testing.assert_array_equal(cached.labels, labels)
        # stored once: (C, T) float32 signal and (T,) uint8 labels, nothing per window
        signal = np.load(built / entry["files"]["signal"], mmap_mode="r")
        assert signal.dtype == np.float32 and signal.shape == (19, rec.n_times)
        assert np.load(built / entry["files"]["labels"]).shape == (rec.n_times,)
        # the windows of the preset, cut when read, have the classes of the old cache
        w = direct_windows(edf)
        classes = entry_window_classes(entry, 15360, 2560)
        np.testing.assert_array_equal(classes, w.classes)
        csv = read_csv_bi(edf.with_suffix(".csv_bi"))
        assert entry["duration_s"] == pytest.approx(csv.duration)
        seizure_s = sum(e.duration for e in csv.events if e.label == "seiz")
        assert entry["seizure_s"] == pytest.approx(seizure_s, abs=2 / 256)
        assert entry["annotation_sources"] == [f"csv_bi:{edf.stem}.csv_bi"]
        # by key, relpath or stem
        assert cached_recording(built, entry["key"]).name == entry["relpath"]
        assert cached_recording(built, Path(entry["relpath"]).stem).name == entry["relpath"]
    with pytest.raises(KeyError, match="failed to cache"):
        cached_recording(built, CORRUPT)
    with pytest.raises(KeyError, match="no recording"):
        cached_recording(built, "nobody")


def test_cache_size_is_one_float32_signal(built):
    m = Manifest.load(built)
    for entry in m.recordings:
        signal_bytes = 4 * 19 * entry["n_times"]
        total = sum(entry["file_sizes"].values())
        assert total == sum((built / f).stat().st_size for f in entry["files"].values())
        assert signal_bytes < total <= signal_bytes * (1 + 1 / 76) + 512  # labels + 2 headers
    info = summarize(m)
    assert 1.0 < info["bytes_vs_float32"] < 1.02


def test_float16_cache_is_half_the_size_and_close(built, corpus, tmp_path):
    cache = tmp_path / "cache16"
    build_cache(corpus, cache, progress=False, dtype="float16")
    m16, m32 = Manifest.load(cache), Manifest.load(built)
    assert (
        m16.header["dtype"] == "float16" and m16.header["preset_hash"] != m32.header["preset_hash"]
    )
    assert m16.nbytes() < 0.53 * m32.nbytes()
    for e16, e32 in zip(m16.recordings, m32.recordings):
        a = cached_recording(cache, e16["key"])
        b = cached_recording(built, e32["key"])
        assert a.stored.dtype == np.float16
        np.testing.assert_allclose(a.signal(), b.signal(), rtol=0, atol=1e-2)
        uv_a, uv_b = a.signal(normalized=False), b.signal(normalized=False)
        np.testing.assert_allclose(uv_a, uv_b, rtol=0, atol=1e-3 * np.abs(uv_b).max())
        np.testing.assert_array_equal(a.labels, b.labels)


def test_blockwise_build_equals_detect_blockwise(corpus, tmp_path):
    """Recordings too long for memory are preprocessed in blocks: the cache holds what
    ``Detector.run_file`` computes block by block (statistics pass, then normalised blocks)."""
    from eegssm.io import open_recording
    from eegssm.preprocessing.blockwise import BlockwisePreprocessor

    cache = tmp_path / "cache"
    build_cache(corpus, cache, progress=False, block_s=40.0)
    for entry in Manifest.load(cache).recordings:
        assert entry["blockwise"] is True
        pre = BlockwisePreprocessor(open_recording(corpus / entry["relpath"]), "seizure", 40.0)
        assert pre.n_blocks > 1
        expected = np.concatenate(list(pre.blocks()), axis=1)
        got = cached_recording(cache, entry["key"])
        assert got.signal().tobytes() == expected.tobytes()
        unnormalised = np.concatenate(list(pre.blocks(normalize=False)), axis=1)
        np.testing.assert_allclose(got.signal(normalized=False), unnormalised, rtol=1e-6, atol=1e-4)


def test_resume_skips_finished_entries(corpus, tmp_path, caplog):
    corpus = Path(shutil.copytree(corpus, tmp_path / "data"))  # its mtimes are changed below
    cache = tmp_path / "cache"
    first = build_cache(corpus, cache, progress=False)
    assert len(first.built) == 3 and len(first.failed) == 1
    before = mtimes(cache)
    with caplog.at_level(logging.INFO, logger="eegssm.data.cache"):
        again = build_cache(corpus, cache, progress=False)
    assert again.built == [] and again.failed == [] and len(again.skipped) == 4
    assert sum("skip " in r.getMessage() for r in caplog.records) == 4
    assert mtimes(cache) == before

    # a newer source file, a lost array and a stale preset hash are each rebuilt
    edf0, edf1, edf2 = (corpus / (stem + ".edf") for stem, *_ in RECORDINGS)
    os.utime(edf0, ns=(edf0.stat().st_atime_ns, edf0.stat().st_mtime_ns + 10**9))
    entries = {e["relpath"]: e for e in Manifest.load(cache).recordings}
    (cache / entries[str(edf1.relative_to(corpus))]["files"]["labels"]).unlink()
    frag = fragment_path(cache, recording_key(str(edf2.relative_to(corpus))))
    data = json.loads(frag.read_text())
    frag.write_text(json.dumps({**data, "preset_hash": "0" * 16}))
    third = build_cache(corpus, cache, progress=False)
    assert sorted(third.built) == sorted(str(p.relative_to(corpus)) for p in (edf0, edf1, edf2))
    assert third.skipped == [CORRUPT]
    assert len(Manifest.load(cache).recordings) == 3
    # failures are retried on request only
    assert build_cache(corpus, cache, progress=False, retry_failed=True).failed[0]["relpath"] == (
        CORRUPT
    )


class SimulatedCrash(BaseException):
    """Stands for a kill: not an ``Exception``, so the builder does not record it as a failure."""


@pytest.mark.parametrize("crash_on", [".labels.npy", "fragment"])
def test_crash_mid_write_leaves_no_entry_and_rerun_completes(
    corpus, built, tmp_path, monkeypatch, crash_on
):
    cache = tmp_path / "cache"
    victim = recording_key(RECORDINGS[1][0] + ".edf")
    real_commit = atomic.commit

    def crashing_commit(tmp: Path, path: Path) -> None:
        is_fragment = path.parent.name == "entries" and path.stem == victim
        if path.name == victim + crash_on or (crash_on == "fragment" and is_fragment):
            raise SimulatedCrash  # after the temporary file was fully written
        real_commit(tmp, path)

    monkeypatch.setattr(atomic, "commit", crashing_commit)
    with pytest.raises(SimulatedCrash):
        build_cache(corpus, cache, progress=False)
    assert not fragment_path(cache, victim).exists()
    # an interrupted recording leaves none of its files (a kill -9 may leave temporaries:
    # test_crash_safety.py; the next run removes them)
    assert not list(cache.rglob(f"{victim}*"))
    listed = [r["key"] for r in Manifest.load(cache).to_json()["recordings"]]
    assert victim not in listed

    monkeypatch.setattr(atomic, "commit", real_commit)
    report = build_cache(corpus, cache, progress=False)
    assert RECORDINGS[1][0] + ".edf" in report.built
    assert not list(cache.rglob("*.tmp"))
    m, ref = Manifest.load(cache), Manifest.load(built)
    assert [r["key"] for r in m.recordings] == [r["key"] for r in ref.recordings]
    for ours, theirs in zip(m.recordings, ref.recordings):
        for k in ("signal", "labels"):
            assert (cache / ours["files"][k]).read_bytes() == (
                built / theirs["files"][k]
            ).read_bytes()


def test_crash_while_replacing_an_entry_drops_the_old_entry(corpus, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    cache = tmp_path / "cache"
    build_cache(data, cache, progress=False)
    stem = RECORDINGS[0][0]
    key = recording_key(stem + ".edf")
    edf = data / (stem + ".edf")
    os.utime(edf, ns=(edf.stat().st_atime_ns, edf.stat().st_mtime_ns + 10**9))

    def crash(tmp: Path, path: Path) -> None:
        raise SimulatedCrash

    monkeypatch.setattr(atomic, "commit", crash)
    with pytest.raises(SimulatedCrash):
        build_cache(data, cache, progress=False)
    # the old fragment is gone before its arrays are touched: nothing points at mixed arrays
    assert not fragment_path(cache, key).exists()


def test_parallel_build_equals_serial(corpus, built, tmp_path):
    cache = tmp_path / "cache"
    seen = []
    report = build_cache(corpus, cache, workers=2, progress=False, on_entry=seen.append)
    assert len(report.built) == 3 and len(report.failed) == 1 and len(seen) == 4
    m, ref = Manifest.load(cache), Manifest.load(built)
    strip = ("created",)
    assert {k: v for k, v in m.header.items() if k not in strip} == {
        k: v for k, v in ref.header.items() if k not in strip
    }
    for ours, theirs in zip(m.recordings, ref.recordings):
        assert ours == theirs
        assert (cache / ours["files"]["signal"]).read_bytes() == (
            built / theirs["files"]["signal"]
        ).read_bytes()


@pytest.mark.skipif(
    multiprocessing.get_start_method() != "fork", reason="the patched worker must be forked"
)
def test_dead_worker_is_listed_as_retryable_and_retried(corpus, built, tmp_path, monkeypatch):
    from eegssm.data import cache as cache_module

    real = cache_module._preprocess_and_write
    victim = RECORDINGS[1][0] + ".edf"

    def dying(job, *args):
        if job.relpath == victim:
            os._exit(1)  # a worker killed mid-recording (e.g. by the out-of-memory killer)
        return real(job, *args)

    monkeypatch.setattr(cache_module, "_preprocess_and_write", dying)
    cache = tmp_path / "cache"
    report = build_cache(corpus, cache, workers=2, progress=False)
    reasons = {f["relpath"]: f["reason"] for f in report.failed}
    assert "worker process died" in reasons[victim]
    failed = {f["relpath"]: f for f in Manifest.load(cache).failed}
    assert failed[victim]["retryable"]

    monkeypatch.setattr(cache_module, "_preprocess_and_write", real)
    again = build_cache(corpus, cache, workers=1, progress=False)
    assert victim in again.built
    assert [r["key"] for r in Manifest.load(cache).recordings] == [
        r["key"] for r in Manifest.load(built).recordings
    ]


@pytest.mark.parametrize(
    "path, subject, split",
    [
        ("edf/train/aaaaaajy/s001_2002/02_tcp_le/aaaaaajy_s001_t000.edf", "aaaaaajy", "train"),
        ("edf/dev/01_tcp_ar/000/00000258/s002_2003/00000258_s002_t000.edf", "00000258", "dev"),
        ("edf/eval/01_tcp_ar/012/00001234/s001/renamed.edf", "00001234", "eval"),
        ("chb01/chb01_03.edf", "chb01", None),
        ("chb17/chb17a_04.edf", "chb17", None),
        ("eegmat/Subject07_2.edf", "Subject07", None),
        ("S001/S001R03.edf", "S001", None),
        ("PN00/PN00-1.edf", "PN00", None),
        ("sub-03/ses-01/eeg/sub-03_ses-01_task-szMonitoring_run-00_eeg.edf", "sub-03", None),
        ("ward7/night2/recording.edf", "night2", None),
    ],
)
def test_identify_subject_and_split(path, subject, split):
    ident = identify(Path("/corpus") / path, "/corpus")
    assert (ident.subject, ident.split) == (subject, split)


def test_sidecar_bids_events_and_chbmit_summary(tmp_path):
    edf = tmp_path / "sub-01_ses-01_task-x_run-00_eeg.edf"
    write_bids_events(
        tmp_path / "sub-01_ses-01_task-x_run-00_events.tsv", [Event(5.0, 9.5, "sz")], 60.0
    )
    ann = sidecar_annotations(edf)
    assert [(e.start, e.stop) for e in ann.events] == [(5.0, 9.5)]
    assert ann.sources == ["bids:sub-01_ses-01_task-x_run-00_events.tsv"]
    chb = tmp_path / "chb99"
    chb.mkdir()
    (chb / "chb99-summary.txt").write_text(
        "Data Sampling Rate: 256 Hz\n\nFile Name: chb99_01.edf\nFile Start Time: 10:00:00\n"
        "File End Time: 11:00:00\nNumber of Seizures in File: 1\n"
        "Seizure Start Time: 100 seconds\nSeizure End Time: 130 seconds\n"
    )
    assert [(e.start, e.stop) for e in sidecar_annotations(chb / "chb99_01.edf").events] == [
        (100.0, 130.0)
    ]
    unlisted = sidecar_annotations(chb / "chb99_02.edf")
    assert unlisted.events == [] and "does not list chb99_02.edf" in unlisted.notes[0]


def test_build_uses_folder_level_chbmit_summary(tmp_path):
    edf, csv = write_synthetic(tmp_path / "data" / "chb99" / "chb99_01", 70, n_seizures=0)
    csv.unlink()
    (edf.parent / "chb99-summary.txt").write_text(
        "File Name: chb99_01.edf\nNumber of Seizures in File: 1\n"
        "Seizure 1 Start Time: 20 seconds\nSeizure 1 End Time: 45 seconds\n"
    )
    report = build_cache(tmp_path / "data", tmp_path / "cache", progress=False)
    assert report.built == ["chb99/chb99_01.edf"]
    (entry,) = Manifest.load(tmp_path / "cache").recordings
    assert entry["subject"] == "chb99" and entry["split"] is None
    assert entry["annotation_sources"] == ["chbmit:chb99-summary.txt"]
    assert entry["seizure_s"] == pytest.approx(25.0) and entry["n_seizure_events"] == 1
    # windows 0-60 s and 10-70 s: both partly seizure
    assert entry_window_classes(entry, 60 * 256, 10 * 256).tolist() == [1, 1]


def test_sidecar_real_chbmit_and_siena_lists(shared_data):
    formats = shared_data / "annotation_formats"
    chb = sidecar_annotations(formats / "chbmit" / "chb05" / "chb05_06.edf")
    assert chb.sources == ["chbmit:chb05-summary.txt"]
    assert [(e.start, e.stop) for e in chb.events] == [(417.0, 532.0)]
    siena = sidecar_annotations(formats / "siena" / "PN00" / "PN00-1.edf")
    assert siena.sources == ["siena:Seizures-list-PN00.txt"] and len(siena.events) == 1


def test_split_by_subject_is_disjoint_deterministic_and_covers_all():
    entries = [{"subject": f"S{i:02d}"} for i in range(20) for _ in range(2)]
    a = split_by_subject(entries, {"train": 0.6, "dev": 0.2, "eval": 0.2}, seed=1)
    assert {k: len(v) for k, v in a.items()} == {"train": 12, "dev": 4, "eval": 4}
    assert sorted(sum(a.values(), [])) == sorted({e["subject"] for e in entries})
    assert split_by_subject(entries, {"train": 0.6, "dev": 0.2, "eval": 0.2}, seed=1) == a
    assert split_by_subject(entries, {"train": 0.6, "dev": 0.2, "eval": 0.2}, seed=2) != a
    few = split_by_subject(entries[:6], {"train": 0.9, "dev": 0.05, "eval": 0.05}, seed=0)
    assert [len(v) for v in few.values()] == [1, 1, 1]
    with pytest.raises(ValueError):
        split_by_subject(entries, {"train": -1.0})


def _run_command(module, argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    rc = args.func(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_build_cache_and_cache_info_commands(corpus, tmp_path, capsys):
    from eegssm.commands import build_cache as build_cmd
    from eegssm.commands import cache_info as info_cmd

    cache = tmp_path / "cache"
    argv = ["build-cache", "--data-dir", str(corpus), "--cache-dir", str(cache), "--workers", "1"]
    rc, out, _ = _run_command(build_cmd, [*argv, "--no-progress"], capsys)
    assert rc == 0 and "3 cached, 0 already cached, 1 failed" in out

    rc, out, _ = _run_command(info_cmd, ["cache-info", str(cache), "--json"], capsys)
    info = json.loads(out)
    assert rc == 0
    assert info == json.loads(json.dumps(summarize(Manifest.load(cache))))
    assert info["recordings"] == 3 and info["failed"] == 1 and info["n_subjects"] == 3
    assert info["hours"] == pytest.approx(370 / 3600)
    m = Manifest.load(cache)
    seizure_s = sum(r["seizure_s"] for r in m.recordings)
    assert info["seizure_ratio"] == pytest.approx(seizure_s / 370)
    assert info["splits"]["train"]["recordings"] == 2 and info["splits"]["dev"]["subjects"] == 1
    per_class = info["windows_per_class"]
    n_windows = sum(len(direct_windows(corpus / r["relpath"])) for r in m.recordings)
    assert sum(per_class.values()) == info["windows"] == n_windows
    assert (info["window_s"], info["stride_s"]) == (60.0, 10.0)

    rc, out, _ = _run_command(info_cmd, ["cache-info", str(cache)], capsys)
    assert rc == 0
    assert "3 cached, 1 failed" in out and f"{CORRUPT}: EEGReadError" in out
    assert f"windows:     {info['windows']} of 60 s every 10 s: none {per_class['none']}" in out
    assert "split train  2 recordings" in out and "x the float32 signal" in out
    rc, out, _ = _run_command(info_cmd, ["cache-info", str(cache), "--window-s", "30"], capsys)
    assert rc == 0 and "of 30 s every 30 s" in out  # any window, no rebuild

    rc, _, err = _run_command(info_cmd, ["cache-info", str(tmp_path / "nothing")], capsys)
    assert rc == 1 and "build-cache" in err
    rc, _, err = _run_command(
        build_cmd, ["build-cache", "--data-dir", str(tmp_path / "no"), "--cache-dir", str(cache)],
        capsys,
    )  # fmt: skip
    assert rc == 1 and "not found" in err
    rc, _, err = _run_command(build_cmd, [*argv, "--montage", "nonsense"], capsys)
    assert rc == 1 and "unknown montage 'nonsense'" in err


def test_commands_are_registered_with_examples(capsys):
    from eegssm.cli import COMMAND_MODULES
    from eegssm.commands import build_cache as build_cmd

    assert {"eegssm.commands.build_cache", "eegssm.commands.cache_info"} <= set(COMMAND_MODULES)
    with pytest.raises(SystemExit):
        _run_command(build_cmd, ["build-cache", "--help"], capsys)
    assert "eegssm build-cache --data-dir" in capsys.readouterr().out


def test_real_eegmat_recordings(shared_data, tmp_path):
    data = tmp_path / "eegmat"
    data.mkdir()
    for name in ("Subject00_2.edf", "Subject01_2.edf"):  # the short (62 s) task recordings
        (data / name).symlink_to(shared_data / "eegmat" / name)
    report = build_cache(data, tmp_path / "cache", preset="eegm2", progress=False)
    assert len(report.built) == 2 and not report.failed
    m = Manifest.load(tmp_path / "cache")
    assert m.subjects == ["Subject00", "Subject01"]
    for entry in m.recordings:
        rec = direct(data / entry["relpath"], "eegm2")
        assert entry["sfreq"] == 128.0 and entry["n_channels"] == 19
        assert entry["seizure_s"] == 0.0 and entry["seizure_runs"] == []
        assert entry["duration_s"] == pytest.approx(62.0, abs=1.0)
        got = cached_recording(tmp_path / "cache", entry["key"])
        assert got.signal().tobytes() == rec.data.tobytes()  # p95 scaling, bit for bit


def test_two_eegmat_recordings_take_at_most_1_25x_float32(shared_data, tmp_path):
    """The issue's size target: ``Subject00_{1,2}`` cached at defaults (seizure preset: 19
    channels at 256 Hz) take at most 1.25x the float32 signal (the windowed cache took 4.0x)."""
    data = tmp_path / "eegmat"
    data.mkdir()
    for name in ("Subject00_1.edf", "Subject00_2.edf"):
        (data / name).symlink_to(shared_data / "eegmat" / name)
    cache = tmp_path / "cache"
    build_cache(data, cache, progress=False)
    m = Manifest.load(cache)
    float32 = sum(4 * 19 * 256 * r["duration_s"] for r in m.recordings)
    on_disk = sum(p.stat().st_size for p in (cache / "arrays").iterdir())
    assert on_disk == m.nbytes()
    assert on_disk <= 1.25 * float32
    assert on_disk / float32 == pytest.approx(1 + 1 / 76, abs=0.002)  # signal + uint8 labels


# -- write errors ------------------------------------------------------------------------------
def _enospc_after(monkeypatch, n_ok: int) -> None:
    """``os.pwrite`` fails with ENOSPC after ``n_ok`` successful calls (a disk filling up)."""
    real, calls = os.pwrite, {"n": 0}

    def pwrite(fd, data, offset):
        calls["n"] += 1
        if calls["n"] > n_ok:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)


def test_write_error_stops_the_build_and_leaves_no_partial_file(corpus, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    _enospc_after(monkeypatch, 60)  # the first recording fits, a later one does not
    with pytest.raises(CacheWriteError) as err:
        build_cache(corpus, cache, progress=False)
    assert "cannot write (No space left on device)" in str(err.value)
    assert "arrays" in str(err.value) and isinstance(err.value, OSError)
    assert not list(cache.rglob("*.tmp"))
    # finished recordings stay cached, complete; the interrupted one left nothing
    fragments = sorted(p.stem for p in (cache / "entries").glob("*.json"))
    arrays = sorted((cache / "arrays").iterdir())
    assert 1 <= len(fragments) < 4
    ok = [json.loads((cache / "entries" / f"{k}.json").read_text()) for k in fragments]
    assert len(arrays) == 2 * sum(e["status"] == "ok" for e in ok)
    monkeypatch.undo()
    report = build_cache(corpus, cache, progress=False)  # resumes
    assert len(report.skipped) == len(fragments) and len(Manifest.load(cache).recordings) == 3


def test_write_error_in_the_command_is_one_line_and_exit_1(corpus, tmp_path, monkeypatch, capsys):
    from eegssm.commands import build_cache as build_cmd

    _enospc_after(monkeypatch, 0)
    cache = tmp_path / "cache"
    argv = ["build-cache", "--data-dir", str(corpus), "--cache-dir", str(cache), "--workers", "1"]
    rc, out, err = _run_command(build_cmd, [*argv, "--no-progress"], capsys)
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and "No space left" in err
    assert not list(cache.rglob("*.tmp")) and not list((cache / "arrays").iterdir())


FULL_DISK = """
set -e
mount -t tmpfs -o size=2m tmpfs "$1"
cd "$2"
"$3" -m eegssm.cli build-cache --data-dir "$4" --cache-dir "$1/cache" --workers 1 --no-progress \
    && echo EXIT=0 || echo EXIT=$?
ls -R "$1/cache"
"""


def test_full_disk_is_an_error_not_sigbus(corpus, tmp_path):
    """A real full disk: a 2 MiB tmpfs in a private mount namespace (root only). The build must
    stop with exit status 1 and a one-line error, not die of SIGBUS, and leave no temporary."""
    import shutil as sh
    import subprocess
    import sys

    if os.geteuid() != 0 or sh.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to mount a small tmpfs")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare -m not permitted here: {probe.stderr.decode().strip()}")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = tmp_path / "full.sh"
    script.write_text(FULL_DISK)
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        ["unshare", "-m", "sh", str(script), str(mnt), str(repo), sys.executable, str(corpus)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "EXIT=1" in proc.stdout, (proc.stdout, proc.stderr[-2000:])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and ".tmp" not in proc.stdout.split("EXIT=1")[1]


# -- shards ------------------------------------------------------------------------------------
def test_shards_are_disjoint_and_cover():
    rels = [f"edf/train/s{i:03d}/rec{i}.edf" for i in range(200)]
    for n in (1, 2, 3, 7):
        parts = [[r for r in rels if in_shard(r, (k, n))] for k in range(1, n + 1)]
        assert sorted(sum(parts, [])) == sorted(rels)
        if n > 1:
            assert min(len(p) for p in parts) > 0.5 * len(rels) / n
    assert parse_shard("3/16") == (3, 16)
    for bad in ("0/4", "5/4", "1", "a/b", "1/0"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def test_sharded_build_merges_to_the_full_cache(corpus, built, tmp_path, capsys):
    from eegssm.commands import build_cache as build_cmd

    cache = tmp_path / "cache"
    n = 3
    reports = [build_cache(corpus, cache, progress=False, shard=(k, n)) for k in (1, 2)]
    assert not any(r.merged for r in reports)
    with pytest.raises(FileNotFoundError, match="--merge"):
        Manifest.load(cache)  # not merged yet
    with pytest.raises(ValueError, match="3-of-3"):
        merge_shards(cache)
    last = build_cache(corpus, cache, progress=False, shard="3/3")
    assert last.merged  # the last shard to finish writes manifest.json
    counts = [r.n_found for r in [*reports, last]]
    assert sum(counts) == 4  # disjoint parts of the 4 files
    m, ref = Manifest.load(cache), Manifest.load(built)
    assert m.recordings == ref.recordings and m.failed == ref.failed
    assert m.header["shards"] == 3
    for ours in m.recordings:
        assert (cache / ours["files"]["signal"]).read_bytes() == (
            built / ours["files"]["signal"]
        ).read_bytes()
    (cache / "manifest.json").unlink()
    rc, out, _ = _run_command(build_cmd, ["build-cache", "--merge", "--cache-dir", str(cache)],
                              capsys)  # fmt: skip
    assert rc == 0 and "3 recordings, 1 failed, from 3 shards" in out
    assert Manifest.load(cache).recordings == ref.recordings
    # a shard re-run resumes (skips what it cached) and keeps the merged manifest
    again = build_cache(corpus, cache, progress=False, shard=(2, 3))
    assert again.built == [] and again.merged
