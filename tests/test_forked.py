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
import json, os, signal, sys, threading, time, warnings
import numpy as np
from eegssm import forked
sys.path.insert(0, sys.argv[1])
import childmod  # a module of the test's own: its warnings are filtered by module name

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
out["handed_over"] = child.result() is None
big = forked.start(np.ones, (8, 4_000_000), np.float32)  # 128 MB, out of band
value = big.result()
out["big_ok"] = bool(value.shape == (8, 4_000_000) and value.all() and value.flags.writeable)
def several():  # buffers of odd sizes, one empty, one a view: each lands at its own offset
    return {"a": np.arange(5, dtype=np.int8), "b": np.zeros((0, 3)), "c": np.arange(10_001.0),
            "d": np.arange(12.0).reshape(3, 4)[:, 1], "e": np.full(3, 7, np.int16)}
value, want = forked.start(several).result(), several()
out["several_ok"] = sorted(value) == sorted(want) and all(
    value[k].dtype == want[k].dtype and np.array_equal(value[k], want[k]) for k in want)
value["c"][0] = 1  # the arrays own writable memory of their own
out["several_ok"] &= bool(value["c"][0] == 1 and value["c"][1] == 1)
warnings.filterwarnings("ignore", category=UserWarning, module="childmod")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    warnings.filterwarnings("ignore", category=UserWarning, module="childmod")
    value = forked.start(childmod.warns).result()
out["module_filter"] = [value, [str(w.message) for w in caught]]
for fn in (fails, unpicklable, nothing):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out[fn.__name__] = [forked.start(fn).result(), len(caught)]
child = forked.start(time.sleep, 30)
t = time.perf_counter()
child.close()
out["closed"] = [child.result(), time.perf_counter() - t < 5]
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reaped by the kernel
out["sigchld_ignored"] = int(forked.start(len, "abc").result())
signal.signal(signal.SIGCHLD, signal.SIG_DFL)
stdout, sys.stdout = sys.stdout, None  # no stdout (closed by the caller)
out["no_stdout"] = forked.start(len, "abcd").result()
sys.stdout = stdout
real_fork = os.fork
def no_fork():
    raise BlockingIOError(11, "Resource temporarily unavailable")
os.fork = no_fork
out["fork_fails"] = forked.start(len, "abc")
os.fork = real_fork
stop = threading.Event()
other = threading.Thread(target=stop.wait)
other.start()
out["beside_a_thread"] = [forked.available(), forked.start(nothing)]
stop.set()
other.join()
print(json.dumps(out))
"""


CHILDMOD = """
import warnings

def warns():
    warnings.warn("from childmod", UserWarning, stacklevel=1)
    return 7
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("childmod")
    (folder / "childmod.py").write_text(textwrap.dedent(CHILDMOD))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHECKS), str(folder)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_value_comes_back_with_the_warnings(results):
    assert results["available"] and results["value_ok"] and results["handed_over"]
    assert results["warnings"] == ["from the child 1000003"]
    assert results["big_ok"]


def test_several_buffers_come_back_intact(results):
    """Arrays of odd sizes (one empty, one a strided view) travel through the shared file."""
    assert results["several_ok"]


def test_replayed_warnings_keep_their_module(results):
    """A filter on the module that raised a warning applies to its replay as in-process."""
    assert results["module_filter"] == [7, []]


def test_odd_parents_still_get_the_value_or_none(results):
    """SIGCHLD ignored (the kernel reaps the child), no stdout: the value still comes back; a
    fork that fails (process limit) gives None, and the caller does the work itself."""
    assert results["sigchld_ignored"] == 3 and results["no_stdout"] == 4
    assert results["fork_fails"] is None


@pytest.mark.parametrize("fn", ["fails", "unpicklable", "nothing"])
def test_a_child_that_does_not_deliver_gives_none_and_no_warnings(results, fn):
    assert results[fn] == [None, 0]


def test_close_stops_a_child_at_work(results):
    assert results["closed"] == [None, True]


def test_no_fork_beside_another_thread(results):
    assert results["beside_a_thread"] == [False, None]
