"""WindowDataset over a built cache: items equal direct preprocessing, filters, lazy memmaps."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from eegssm.data.cache import build_cache
from eegssm.data.dataset import WindowDataset
from eegssm.data.manifest import Manifest, split_by_subject
from eegssm.data.sampling import BalancedSampler
from eegssm.data.synthetic import write_synthetic
from eegssm.io import read_recording
from eegssm.io.annotations import read_csv_bi
from eegssm.preprocessing import preprocess_windows

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
    rec = read_recording(data / f"{stem}.edf")
    rec = rec.copy_with(events=read_csv_bi(data / f"{stem}.csv_bi").events)
    return preprocess_windows(rec, "seizure")


def test_items_equal_direct_preprocess_windows(cache):
    data, root = cache
    ds = WindowDataset(root)
    expected = [direct(data, stem) for stem, *_ in sorted(RECORDINGS)]
    assert len(ds) == sum(len(w) for w in expected)
    i = 0
    for w in expected:
        for k in range(len(w)):
            x, y, mask = ds[i]
            assert x.dtype == torch.float32 and x.shape == (19, 15360)
            assert y.dtype == torch.float32 and mask.dtype == torch.bool
            np.testing.assert_array_equal(x.numpy(), w.x[k])
            np.testing.assert_array_equal(y.numpy(), w.y[k].astype(np.float32))
            np.testing.assert_array_equal(mask.numpy(), w.mask[k])
            assert ds.classes[i] == w.classes[k]
            i += 1
    x_last, _, _ = ds[-1]
    np.testing.assert_array_equal(x_last.numpy(), expected[-1].x[-1])
    assert not ds[-1][2].all()  # the last window of patB/rec1 runs past the end: padded
    with pytest.raises(IndexError):
        ds[len(ds)]


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


def test_memmaps_open_once_per_recording(cache, monkeypatch):
    _, root = cache
    ds = WindowDataset(root)
    assert ds._maps == {}  # nothing opened up front
    calls = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: calls.append(a[0]) or real_load(*a, **k))
    for _ in range(2):
        for i in range(len(ds)):
            ds[i]
    assert len(calls) == 3 * len(ds.entries)
    assert all(isinstance(m, np.memmap) for maps in ds._maps.values() for m in maps)
    clone = pickle.loads(pickle.dumps(ds))  # what a spawned DataLoader worker receives
    assert clone._maps == {}
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


def test_package_import_is_light():
    code = "import sys, eegssm.data; assert not {'torch', 'mne'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_window_info(cache):
    _, root = cache
    ds = WindowDataset(root)
    first_b = int(ds.cumulative_sizes[1])  # patA/rec1 and patA/rec2 come first
    info = ds.window_info(first_b + 2)
    assert info["subject"] == "patB" and info["window"] == 2 and info["start_s"] == 20.0
    assert info["class"] == ("none", "partial", "full")[ds.classes[first_b + 2]]
