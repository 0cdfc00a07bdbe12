"""``eegssm.forked``: work in a forked child that only ever accelerates (any failure → None, and
the caller does the work itself), with the child's warnings replayed in the parent.

A fork is refused beside another Python thread, and a test session has several (thread pools of
earlier tests), so the checks run in a fresh interpreter, as ``eegssm detect`` does."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="eegssm forks on Linux only")

CHECKS = """
import json, threading, warnings
import numpy as np
from eegssm import forked

def array_and_warning(n):
    warnings.warn(f"from the child {n}", UserWarning, stacklevel=1)
    return np.arange(n, dtype=np.float32)

def fails():
    warnings.warn("never replayed", UserWarning, stacklevel=1)
    raise ValueError("in the child")

def unpicklable():
    return threading.Lock()

def nothing():
    warnings.warn("never replayed", UserWarning, stacklevel=1)

out = {"available": forked.available()}
child = forked.start(array_and_warning, 1_000_003)  # larger than a pipe's buffer
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    value = child.result()
out["value_ok"] = bool(np.array_equal(value, np.arange(1_000_003, dtype=np.float32)))
out["warnings"] = [str(w.message) for w in caught]
out["collected_once"] = child.result() is value
for fn in (fails, unpicklable, nothing):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out[fn.__name__] = [forked.start(fn).result(), len(caught)]
child = forked.start(array_and_warning, 2_000_000)
child.close()
out["closed"] = child.result()
stop = threading.Event()
other = threading.Thread(target=stop.wait)
other.start()
out["beside_a_thread"] = [forked.available(), forked.start(nothing)]
stop.set()
other.join()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def results() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHECKS)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_value_comes_back_with_the_warnings(results):
    assert results["available"] and results["value_ok"] and results["collected_once"]
    assert results["warnings"] == ["from the child 1000003"]


@pytest.mark.parametrize("fn", ["fails", "unpicklable", "nothing"])
def test_a_child_that_does_not_deliver_gives_none_and_no_warnings(results, fn):
    assert results[fn] == [None, 0]


def test_close_discards_a_result_not_collected(results):
    assert results["closed"] is None


def test_no_fork_beside_another_thread(results):
    assert results["beside_a_thread"] == [False, None]
