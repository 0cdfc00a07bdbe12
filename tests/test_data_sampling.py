"""BalancedSampler: per-epoch proportions, determinism, epochs, ranks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eegssm.data.sampling import BalancedSampler


def make_classes(n_none: int, n_partial: int, n_full: int, seed: int = 0) -> np.ndarray:
    classes = np.array([0] * n_none + [1] * n_partial + [2] * n_full, dtype=np.int8)
    return classes[np.random.default_rng(seed).permutation(len(classes))]


def drawn_by_class(classes: np.ndarray, indices: list[int]) -> dict[int, list[int]]:
    out = {0: [], 1: [], 2: []}
    for i in indices:
        out[int(classes[i])].append(i)
    return out


def test_proportions_all_partial_share_of_full_more_background():
    classes = make_classes(1000, 20, 40)
    sampler = BalancedSampler(classes, partial=1.0, full=0.5, background_ratio=2.0, seed=0)
    indices = list(sampler)
    by = drawn_by_class(classes, indices)
    assert len(indices) == len(sampler) == 120
    assert sorted(by[1]) == np.flatnonzero(classes == 1).tolist()  # every partial window
    assert len(by[2]) == 20 and len(set(by[2])) == 20  # half of the full ones, no repeats
    assert len(by[0]) == 80 and len(set(by[0])) == 80  # twice the seizure windows drawn
    # shuffled: classes are interleaved, not in blocks
    assert classes[indices[:40]].tolist() != sorted(classes[indices[:40]].tolist())


def test_deterministic_for_seed_and_reseeded_each_epoch():
    classes = make_classes(500, 15, 30)
    a = BalancedSampler(classes, seed=7)
    b = BalancedSampler(classes, seed=7)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    second = list(a)
    assert second != first and sorted(second) != sorted(first)  # other full/background picks
    b.set_epoch(1)
    assert list(b) == second
    a.set_epoch(0)
    assert list(a) == first
    assert list(BalancedSampler(classes, seed=8)) != first
    state = a.state_dict()
    c = BalancedSampler(classes, seed=0)
    c.load_state_dict(state)
    assert list(c) == first


@pytest.mark.parametrize("share, per_item", [(2.0, {2}), (1.5, {1, 2}), (0.0, set())])
def test_shares_above_one_repeat_windows(share, per_item):
    classes = make_classes(200, 10, 0)
    sampler = BalancedSampler(classes, partial=share, full=0.0, background_ratio=0.0)
    counts = Counter(list(sampler))
    assert sum(counts.values()) == round(10 * share)
    if per_item:
        assert set(counts.values()) == per_item
        assert set(counts) == set(np.flatnonzero(classes == 1).tolist())


def test_background_is_capped_and_seizure_free_data_uses_all_background():
    classes = make_classes(30, 5, 5)
    capped = list(BalancedSampler(classes, background_ratio=100.0))
    assert Counter(classes[capped].tolist())[0] == 30 and len(set(capped)) == len(capped)
    with pytest.warns(UserWarning, match="no seizure window in the data"):
        only_bg = BalancedSampler(np.zeros(12, dtype=np.int8))
    assert sorted(only_bg) == list(range(12))


@pytest.mark.parametrize("num_replicas", [2, 3])
@pytest.mark.parametrize("drop_last", [False, True])
def test_ranks_partition_the_epoch(num_replicas, drop_last):
    classes = make_classes(300, 11, 20)
    kw = dict(partial=1.0, full=0.5, background_ratio=2.0, seed=5, drop_last=drop_last)
    whole = BalancedSampler(classes, **kw).draw()
    ranks = [
        list(BalancedSampler(classes, num_replicas=num_replicas, rank=r, **kw))
        for r in range(num_replicas)
    ]
    lengths = {len(r) for r in ranks}
    assert len(lengths) == 1  # every rank has the same number of steps
    n = lengths.pop()
    assert n == (len(whole) // num_replicas if drop_last else -(-len(whole) // num_replicas))
    interleaved = [ranks[i % num_replicas][i // num_replicas] for i in range(n * num_replicas)]
    expected = np.resize(whole, n * num_replicas).tolist()
    assert interleaved == expected
    if len(whole) % num_replicas == 0 or drop_last:
        flat = sum(ranks, [])
        assert len(set(flat)) == len(flat)  # disjoint across ranks


def test_class_names_and_bad_arguments():
    names = ["none"] * 6 + ["partial", "full", "full"]
    sampler = BalancedSampler(names, full=1.0, background_ratio=1.0)
    drawn = list(sampler)
    assert len(drawn) == 6 and {6, 7, 8} <= set(drawn)
    assert len(set(drawn) - {6, 7, 8}) == 3 and max(set(drawn) - {6, 7, 8}) < 6
    with pytest.raises(ValueError):
        BalancedSampler(["none", "ictal"])
    with pytest.raises(ValueError):
        BalancedSampler([0, 3])
    with pytest.raises(ValueError):
        BalancedSampler([0, 1], num_replicas=2, rank=2)
    with pytest.raises(ValueError):
        BalancedSampler([0, 1], full=-0.1)


@settings(max_examples=40, deadline=None)
@given(
    n=st.tuples(st.integers(0, 60), st.integers(0, 20), st.integers(0, 20)),
    partial=st.floats(0, 2.5),
    full=st.floats(0, 2.5),
    ratio=st.floats(0, 5),
    seed=st.integers(0, 2**31),
)
def test_counts_follow_the_shares(n, partial, full, ratio, seed):
    classes = make_classes(*n, seed=seed % 1000)
    if n[1] + n[2] == 0 and n[0]:
        return  # the seizure-free fallback, tested above
    sampler = BalancedSampler(classes, partial, full, ratio, seed=seed)
    counts = Counter(classes[list(sampler)].tolist())
    n_seizure = round(n[1] * partial) + round(n[2] * full)
    assert counts[1] == round(n[1] * partial) and counts[2] == round(n[2] * full)
    assert counts[0] == min(n[0], round(ratio * n_seizure))
    assert len(sampler) == sum(counts.values())
