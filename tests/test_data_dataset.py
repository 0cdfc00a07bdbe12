"""WindowDataset over a built cache: windows cut when read equal direct preprocessing and windowing
for any window and stride, window classes from the manifest equal those of the arrays, filters,
lazy memmaps, DataLoader workers, DDP ranks; ArrayWindows; recording-level targets."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from eegssm.data.cache import build_cache
from eegssm.data.dataset import ArrayWindows, WindowDataset
from eegssm.data.manifest import Manifest, entry_window_classes, split_by_subject, window_starts
from eegssm.data.recordings import cached_recordings, recordings_from_cache
from eegssm.data.sampling import BalancedSampler
from eegssm.data.synthetic import write_synthetic
from eegssm.io import read_recording
from eegssm.io.annotations import read_csv_bi
from eegssm.preprocessing import make_windows, preprocess, window_classes
from eegssm.preprocessing.windowing import n_windows

#: (relative stem, duration s, seizures, seed): two subjects, one with two recordings.
RECORDINGS = [
    ("patA/rec1", 130, 1, 11),
    ("patA/rec2", 90, 0, 12),
    ("patB/rec1", 155, 1, 13),
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> tuple[Path, Path]:
    data = tmp_path_factory.mktemp("data")
    for stem, duration, n, seed in RECORDINGS:
        write_synthetic(
            data / stem, duration_s=duration, n_seizures=n, seed=seed,
            seizure_duration_s=(20.0, 70.0), min_gap_s=5.0,
        )  # fmt: skip
    out = tmp_path_factory.mktemp("cache")
    report = build_cache(data, out, progress=False)
    assert len(report.built) == 3
    return data, out


def direct(data: Path, stem: str):
    """The preprocessed recording without the cache (what ``eegssm detect`` computes)."""
    rec = read_recording(data / f"{stem}.edf")
    rec = rec.copy_with(events=read_csv_bi(data / f"{stem}.csv_bi").events)
    return preprocess(rec, "seizure")


def test_items_equal_direct_windows_at_the_preset(cache):
    data, root = cache
    ds = WindowDataset(root)
    assert (ds.window_samples, ds.stride_samples) == (15360, 2560)
    expected = [make_windows(direct(data, stem), 60.0, 10.0) for stem, *_ in sorted(RECORDINGS)]
    assert len(ds) == sum(len(w) for w in expected)
    i = 0
    for w in expected:
        for k in range(len(w)):
            x, y, mask = ds[i]
            assert x.dtype == torch.float32 and x.shape == (19, 15360)
            assert y.dtype == torch.float32 and mask.dtype == torch.bool
            assert x.numpy().tobytes() == w.x[k].tobytes()  # bit for bit
            np.testing.assert_array_equal(y.numpy(), w.y[k].astype(np.float32))
            np.testing.assert_array_equal(mask.numpy(), w.mask[k])
            assert ds.classes[i] == w.classes[k]
            i += 1
    x_last, _, _ = ds[-1]
    np.testing.assert_array_equal(x_last.numpy(), expected[-1].x[-1])
    assert not ds[-1][2].all()  # the last window of patB/rec1 runs past the end: padded
    with pytest.raises(IndexError):
        ds[len(ds)]


@pytest.mark.parametrize("seed", range(4))
def test_any_window_and_stride_without_rebuilding(cache, seed):
    """Random (awkward) window lengths and strides, padded or not, against make_windows on the
    directly preprocessed recording (the slow obviously-correct reference)."""
    data, root = cache
    rng = np.random.default_rng(seed)
    window_s = float(rng.choice([0.5, 3.3, 17.0, 60.0, 140.0]))
    stride_s = float(rng.choice([0.25, 1.7, window_s, 45.0]))
    pad_end = bool(seed % 2 == 0)
    ds = WindowDataset(root, window_s, stride_s, pad_end=pad_end)
    w_n, s_n = round(window_s * 256), round(stride_s * 256)
    assert (ds.window_samples, ds.stride_samples) == (w_n, s_n)
    offset = 0
    for stem, *_ in sorted(RECORDINGS):
        rec = direct(data, stem)
        ref = make_windows(rec, window_s, stride_s)
        if pad_end:
            n = n_windows(rec.n_times, w_n, s_n)
        else:
            n = max(0, 1 + (rec.n_times - w_n) // s_n)
        for k in rng.choice(n, size=min(n, 6), replace=False) if n else []:
            x, y, mask = ds[offset + int(k)]
            assert x.numpy().tobytes() == ref.x[k].tobytes()
            np.testing.assert_array_equal(y.numpy(), ref.y[k])
            np.testing.assert_array_equal(mask.numpy(), ref.mask[k])
        np.testing.assert_array_equal(ds.classes[offset : offset + n], ref.classes[:n])
        offset += n
    assert offset == len(ds)


@pytest.mark.parametrize("seed", range(30))
def test_window_classes_from_the_manifest_equal_those_of_the_arrays(seed):
    """entry_window_classes (interval arithmetic on seizure runs and gaps) against
    window_classes on materialised labels and masks, on random recordings."""
    rng = np.random.default_rng(seed)
    n_times = int(rng.integers(1, 3000))
    labels = np.zeros(n_times, np.uint8)
    for _ in range(rng.integers(0, 5)):
        a = int(rng.integers(0, n_times))
        labels[a : a + int(rng.integers(1, 800))] = 1
    gaps = []
    for _ in range(rng.integers(0, 3)):
        a = float(rng.uniform(0, n_times))
        gaps.append([a, a + float(rng.uniform(0, 400))])
    entry = {"n_times": n_times, "sfreq": 1.0, "gaps": gaps, "seizure_runs": []}
    from eegssm.data.manifest import label_runs

    entry["seizure_runs"] = label_runs(labels)
    valid = np.ones(n_times, bool)
    for a, b in gaps:
        valid[max(0, round(a)) : max(0, round(b))] = False
    window, stride = int(rng.integers(1, 900)), int(rng.integers(1, 500))
    for pad_end in (True, False):
        starts = window_starts(n_times, window, stride, pad_end)
        y = np.zeros((len(starts), window), np.uint8)
        mask = np.zeros((len(starts), window), bool)
        for i, s in enumerate(starts):
            n = min(window, n_times - s)
            y[i, :n], mask[i, :n] = labels[s : s + n], valid[s : s + n]
        np.testing.assert_array_equal(
            entry_window_classes(entry, window, stride, pad_end), window_classes(y, mask)
        )


def test_subject_filter_and_split(cache):
    _, root = cache
    ds_a = WindowDataset(root, subjects=["patA"])
    assert {e["subject"] for e in ds_a.entries} == {"patA"} and len(ds_a.entries) == 2
    assert len(ds_a) + len(WindowDataset(root, subjects={"patB"})) == len(WindowDataset(root))
    splits = split_by_subject(Manifest.load(root), {"train": 0.5, "eval": 0.5}, seed=0)
    parts = [WindowDataset(root, subjects=s) for s in splits.values()]
    assert sum(len(p) for p in parts) == len(WindowDataset(root))
    with pytest.raises(ValueError, match="split_by_subject"):
        WindowDataset(root, split="train")  # no TUSZ split in this corpus
    assert len(WindowDataset(root, subjects=["nobody"])) == 0
    ds = WindowDataset(root)
    held = ds.of_subjects(["patB"])
    rest = ds.of_subjects(["patB"], exclude=True)
    assert set(held.subject) == {"patB"} and set(rest.subject) == {"patA"}
    assert len(held) + len(rest) == len(ds)
    torch.testing.assert_close(held[0][0], ds[len(rest)][0])


def test_recordings_of_different_channels_are_refused_naming_them(cache, tmp_path):
    """``missing="drop"`` can leave different channels per recording: a dataset of windows needs
    one layout, so it says which differ instead of failing in collate."""
    import json
    import shutil

    _, root = cache
    copy = tmp_path / "cache"
    shutil.copytree(root, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["recordings"][1]["ch_names"] = manifest["recordings"][1]["ch_names"][:-1]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"different channels \(18: .* vs 19: "):
        WindowDataset(copy)
    assert len(WindowDataset(copy, subjects=["patB"]))  # one layout among those selected


def test_memmaps_open_once_per_recording(cache, monkeypatch):
    _, root = cache
    ds = WindowDataset(root)
    assert all(r._maps is None for r in ds.recordings)  # nothing opened up front
    calls = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: calls.append(a[0]) or real_load(*a, **k))
    for _ in range(2):
        for i in range(len(ds)):
            ds[i]
    assert len(calls) == 2 * len(ds.recordings)  # signal + labels, once per recording
    assert all(isinstance(m, np.memmap) for r in ds.recordings for m in r._maps)
    clone = pickle.loads(pickle.dumps(ds))  # what a spawned DataLoader worker receives
    assert all(r._maps is None for r in clone.recordings)
    torch.testing.assert_close(clone[5][0], ds[5][0])


def test_dataloader_workers_and_balanced_sampler(cache):
    _, root = cache
    ds = WindowDataset(root)
    sampler = BalancedSampler(ds.classes, partial=1.0, full=1.0, background_ratio=1.0, seed=3)
    loader = DataLoader(ds, batch_size=4, sampler=sampler, num_workers=2)
    order = list(sampler)
    xs, ys, masks = zip(*loader)
    x, y = torch.cat(xs), torch.cat(ys)
    assert x.shape == (len(order), 19, 15360)
    for row, index in enumerate(order):
        torch.testing.assert_close(x[row], ds[index][0], rtol=0, atol=0)
        seizure = y[row][torch.cat(masks)[row]]
        expected = ds.classes[index]
        assert (seizure.sum() > 0) == (expected != 0)
        assert bool(seizure.all()) == (expected == 2)


WORLD = 2


def _ddp_worker(rank: int, port: int, root: str, out: str) -> None:
    from eegssm.train import distributed as D

    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )  # fmt: skip
    torch.set_num_threads(1)
    env = D.init_distributed(device="cpu", timeout_s=60)
    ds = WindowDataset(root, 20.0, 7.0)  # a window the cache was never built for
    sampler = BalancedSampler(ds.classes, seed=5, **D.sampler_kwargs(env))
    loader = DataLoader(ds, batch_size=3, sampler=sampler, num_workers=1)
    xs = torch.cat([x for x, _, _ in loader])
    torch.save({"order": list(sampler), "x": xs}, Path(out) / f"rank{rank}.pt")
    D.barrier()
    D.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(180)
def test_ddp_ranks_with_workers_read_their_share_from_the_memory_maps(cache, tmp_path):
    """Two gloo ranks, each a DataLoader with a worker over the memory-mapped cache: every
    rank reads its interleaved share of the same balanced epoch, and the windows are right."""
    _, root = cache
    torch.multiprocessing.spawn(
        _ddp_worker, args=(_free_port(), str(root), str(tmp_path)), nprocs=WORLD, join=True
    )
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    ds = WindowDataset(root, 20.0, 7.0)
    full = BalancedSampler(ds.classes, seed=5).draw().tolist()  # the epoch over all ranks
    assert set(ranks[0]["order"]) | set(ranks[1]["order"]) == set(full)
    for rank, r in enumerate(ranks):
        assert r["order"] == list(BalancedSampler(ds.classes, seed=5, num_replicas=2, rank=rank))
        expected = torch.stack([ds[i][0] for i in r["order"]])
        torch.testing.assert_close(r["x"], expected, rtol=0, atol=0)


def test_recording_targets_labels_subjects_and_complete_windows(tmp_path):
    data = tmp_path / "data"
    for k in (1, 2, 3):  # _3 has no class: unlabelled (pretraining only)
        write_synthetic(data / f"Subj07_{k}", duration_s=25.0, sfreq=128.0, n_seizures=0, seed=k)
    build_cache(data, tmp_path / "cache", "eegm2", progress=False)
    ds = WindowDataset(
        tmp_path / "cache", 4.0, target="recording", labels={"_1": 0, "_2": 1},
        subject_regex=r"^(.*?)(?:_\d+)?$", pad_end=False,
    )  # fmt: skip
    assert (ds.window_samples, ds.stride_samples) == (512, 512)  # no overlap by default
    assert len(ds) == 3 * 6  # 25 s: six complete 4-s windows each, the rest dropped
    assert ds.targets.tolist() == [0] * 6 + [1] * 6 + [-1] * 6
    assert set(ds.subject) == {"Subj07"}
    x, label = ds[7]
    assert x.shape == (19, 512) and label.dtype == torch.int64 and int(label) == 1
    rec = preprocess(read_recording(data / "Subj07_2.edf"), "eegm2")
    np.testing.assert_array_equal(x.numpy(), rec.data[:, 512:1024])
    assert len(ds.labelled()) == 12
    arrays = ArrayWindows.from_dataset(ds)
    np.testing.assert_array_equal(arrays.x[7], x.numpy())
    assert arrays.y.tolist() == ds.targets.tolist()
    assert (arrays.n_channels, arrays.window_samples) == (19, 512)
    by_fn = WindowDataset(tmp_path / "cache", 4.0, target="recording", labels=lambda e: 3)
    assert set(by_fn.targets) == {3}


def test_array_windows():
    x = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    ws = ArrayWindows(x, [0, 1, -1, 1, 0], ["a", "a", "b", "c", "c"], 100.0)
    assert len(ws) == 5 and ws.n_channels == 2 and ws.window_samples == 3
    xb, yb = next(iter(DataLoader(ws, batch_size=5)))
    torch.testing.assert_close(xb, torch.from_numpy(x))
    assert yb.tolist() == [0, 1, -1, 1, 0]
    assert ws.of_subjects(["a"]).y.tolist() == [0, 1]
    assert ws.of_subjects(["a"], exclude=True).subject.tolist() == ["b", "c", "c"]
    assert ws.labelled().y.tolist() == [0, 1, 1, 0]
    with pytest.raises(ValueError, match="differ in length"):
        ArrayWindows(x, [0], ["a"], 1.0)


def test_cached_recording_reads_normalised_and_microvolts(cache):
    data, root = cache
    for r in cached_recordings(root):
        raw = read_recording(data / r.name)
        rec = preprocess(raw, "seizure")
        uv = preprocess(raw, "seizure", normalize=False)
        assert r.read(100, 5000).tobytes() == rec.data[:, 100:5000].tobytes()
        np.testing.assert_allclose(r.read(100, 5000, normalized=False), uv.data[:, 100:5000],
                                   rtol=1e-6, atol=1e-4)  # fmt: skip
        assert r.read(-5, 10**9).shape == (19, r.n_times)  # clipped to the recording
    (ev,) = recordings_from_cache(cached_recordings(root), max_recordings=1)
    assert ev.data.shape == (19, ev.labels.shape[0])


def test_package_import_is_light():
    code = "import sys, eegssm.data; assert not {'torch', 'mne'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_window_info(cache):
    _, root = cache
    ds = WindowDataset(root)
    first_b = int(np.flatnonzero(ds.rec == 2)[0])  # patA/rec1 and patA/rec2 come first
    info = ds.window_info(first_b + 2)
    assert info["subject"] == "patB" and info["window"] == 2 and info["start_s"] == 20.0
    assert info["relpath"] == "patB/rec1.edf"
    assert info["class"] == ("none", "partial", "full")[ds.classes[first_b + 2]]
