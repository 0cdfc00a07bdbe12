"""detection.Prefetched: items produced one ahead on a thread (eegssm detect's long files)."""

from __future__ import annotations

import threading
import time

import pytest

from eegssm.detection import Prefetched


def test_items_in_order_and_produced_beside_the_caller():
    produced: list[int] = []
    where: set[str] = set()

    def items():
        for i in range(6):
            where.add(threading.current_thread().name)
            produced.append(i)
            yield i

    with Prefetched(items()) as ahead:
        assert list(ahead) == list(range(6))
    assert where == {"eegssm-prefetch"}
    assert list(Prefetched(iter(()))) == []


def test_one_item_ahead_and_close_stops_the_producer():
    produced: list[int] = []

    def items():
        for i in range(1000):
            produced.append(i)
            yield i

    ahead = Prefetched(items())
    assert next(ahead) == 0
    time.sleep(0.3)  # the producer runs ahead as far as it may
    assert len(produced) <= 3  # the item taken, one waiting, one in production
    ahead.close()
    assert len(produced) <= 3 and not ahead._thread.is_alive()
    with pytest.raises(StopIteration):
        next(ahead)


def test_an_error_while_producing_reaches_the_caller_in_its_place():
    def items():
        yield 1
        raise ValueError("bad block at 1740 s")

    ahead = Prefetched(items())
    assert next(ahead) == 1
    with pytest.raises(ValueError, match="bad block at 1740 s"):
        next(ahead)
    assert not ahead._thread.is_alive()
