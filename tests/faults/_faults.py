"""Helpers of the fault-injection suite: a small scratch file system, resource limits, and
hostile or odd input files.

* :func:`run_on_small_fs` runs a command with a fresh ``tmpfs`` of a few kB or MB mounted on a
  folder inside a private mount namespace (``unshare -m``, root only): writes there end in
  ``ENOSPC`` exactly as on a full disk. The test is skipped where ``unshare`` or ``tmpfs`` is not
  available.
* :func:`run_limited` runs ``eegssm`` (or a Python snippet) in a subprocess under
  ``RLIMIT_AS`` and reports its exit status, output and peak resident memory.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

PYTHON = sys.executable
PAGE = 4096


@dataclass
class Run:
    """What a subprocess did.

    Attributes:
        rc: exit status (negative: killed by that signal, e.g. -7 for SIGBUS).
        stdout, stderr: its output.
        files: for :func:`run_on_small_fs`, the files left on the scratch file system
            (path relative to it → size in bytes); the filler file is not listed.
        maxrss_mb: peak resident memory of the command (MiB), when measured.
        cpu_s: CPU time of the command (user + system seconds), when measured: unlike the wall
            time it does not grow when other jobs share the machine.
    """

    rc: int
    stdout: str
    stderr: str
    files: dict[str, int]
    maxrss_mb: float | None = None
    cpu_s: float | None = None

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error")]


@functools.cache
def tmpfs_available() -> bool:
    """Whether this process may mount a tmpfs in a private mount namespace."""
    if shutil.which("unshare") is None or shutil.which("mount") is None or os.geteuid() != 0:
        return False
    with tempfile.TemporaryDirectory() as folder:
        probe = ["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "-o",
                 "size=64k", "tmpfs", folder]  # fmt: skip
        try:
            return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


def require_tmpfs() -> None:
    if not tmpfs_available():
        pytest.skip("needs root, unshare and tmpfs for a small scratch file system")


# The driver runs inside the private mount namespace: mount, fill, run, list, report.
_DRIVER = r"""
import json, os, subprocess, sys
a = json.loads(sys.argv[1])
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % a["size"], "tmpfs", a["mount"]],
               check=True)
for d in a["mkdirs"]:
    os.makedirs(os.path.join(a["mount"], d), exist_ok=True)
if a["free"] is not None:
    st = os.statvfs(a["mount"])
    fill = st.f_bavail * st.f_frsize - a["free"]
    with open(os.path.join(a["mount"], ".filler"), "wb") as f:
        f.write(b"\0" * max(fill, 0))
try:
    r = subprocess.run(a["argv"], capture_output=True, text=True, timeout=a["timeout"],
                       cwd=a["cwd"], env=a["env"])
    rc, out, err = r.returncode, r.stdout, r.stderr
except subprocess.TimeoutExpired as e:
    rc, out, err = 124, "", "timeout\n"
files = {}
for dp, _, fs in os.walk(a["mount"]):
    for f in fs:
        p = os.path.join(dp, f)
        if f != ".filler":
            files[os.path.relpath(p, a["mount"])] = os.path.getsize(p)
json.dump({"rc": rc, "stdout": out, "stderr": err, "files": files}, open(a["result"], "w"))
"""


def run_on_small_fs(
    mount: Path,
    size: int,
    argv: list[str],
    free: int | None = None,
    mkdirs: tuple[str, ...] = (),
    timeout: float = 300,
    cwd: Path | None = None,
) -> Run:
    """Run ``argv`` with a ``size``-byte tmpfs mounted on ``mount`` (an empty folder).

    Args:
        mount: the folder to mount on (it stays empty outside the namespace).
        size: the tmpfs size in bytes (rounded up to pages).
        argv: the command.
        free: fill the tmpfs first so that only this many bytes stay free.
        mkdirs: folders to create on the tmpfs before the command runs.
        timeout: seconds.
    """
    require_tmpfs()
    mount.mkdir(parents=True, exist_ok=True)
    result = mount.parent / f".{mount.name}-result.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    spec = dict(mount=str(mount), size=size, argv=argv, free=free, mkdirs=list(mkdirs))
    spec.update(timeout=timeout, cwd=str(cwd) if cwd else None, env=env, result=str(result))
    outer = ["unshare", "-m", "--propagation", "private", PYTHON, "-c", _DRIVER, json.dumps(spec)]
    done = subprocess.run(outer, capture_output=True, text=True, timeout=timeout + 60)
    assert done.returncode == 0, f"driver failed: {done.stderr[-2000:]}"
    got = json.loads(result.read_text())
    return Run(got["rc"], got["stdout"], got["stderr"], got["files"])


_MEASURE = r"""
import resource, sys
{setup}
try:
    {body}
finally:
    use = resource.getrusage(resource.RUSAGE_SELF)
    print("MAXRSS_KB=%d" % use.ru_maxrss, file=sys.stderr)
    print("CPU_S=%.3f" % (use.ru_utime + use.ru_stime), file=sys.stderr)
"""


def run_limited(
    argv: list[str] | None = None,
    *,
    code: str | None = None,
    address_space: int | None = 2 << 30,
    timeout: float = 300,
    cwd: Path | None = None,
) -> Run:
    """Run ``eegssm ARGV`` (through ``eegssm.cli.main``) or a Python snippet in a subprocess
    with an address-space limit, measuring its peak resident memory.

    Args:
        argv: arguments of ``eegssm``; or
        code: a Python snippet (its exceptions end the process with a traceback).
        address_space: ``RLIMIT_AS`` in bytes (None: no limit).
        timeout: seconds; a run past it fails the test.
    """
    if argv is not None:
        body = f"sys.exit(__import__('eegssm.cli').cli.main({argv!r}))"
    else:
        body = "exec(compile(" + repr(code) + ", '<snippet>', 'exec'))"
    script = _MEASURE.format(setup="", body=body)

    def limit() -> None:
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    done = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limit, cwd=cwd)  # fmt: skip
    peak = cpu = None
    lines = []
    for line in done.stderr.splitlines():
        if line.startswith("MAXRSS_KB="):
            peak = int(line.split("=")[1]) / 1024
        elif line.startswith("CPU_S="):
            cpu = float(line.split("=")[1])
        else:
            lines.append(line)
    return Run(done.returncode, done.stdout, "\n".join(lines), {}, peak, cpu)


# -- files ---------------------------------------------------------------------------------------


def edf_header(
    ns: int,
    spr: int | list[int],
    n_records: int,
    record_s: str,
    labels: list[str] | None = None,
    reserved: bytes = b"",
) -> bytes:
    """An EDF header of ``ns`` signals (``spr`` samples per record each), as bytes."""
    spr = [spr] * ns if isinstance(spr, int) else spr
    labels = labels or [f"EEG{i}" for i in range(ns)]
    head = b"0".ljust(8) + b"X X X X".ljust(80) + b"Startdate X X X X".ljust(80)
    head += b"01.01.20" + b"00.00.00" + str(256 * (ns + 1)).encode().ljust(8)
    head += reserved.ljust(44) + str(n_records).encode().ljust(8)
    head += record_s.encode().ljust(8) + str(ns).encode().ljust(4)
    fields = [
        [lbl.encode() for lbl in labels], [b""] * ns, [b"uV"] * ns, [b"-3200"] * ns,
        [b"3200"] * ns, [b"-32768"] * ns, [b"32767"] * ns, [b""] * ns,
        [str(n).encode() for n in spr], [b""] * ns,
    ]  # fmt: skip
    for values, width in zip(fields, [16, 80, 8, 8, 8, 8, 8, 80, 8, 32]):
        head += b"".join(v.ljust(width) for v in values)
    return head


TEN_TWENTY = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz", "C4", "T4", "T5",
              "P3", "Pz", "P4", "T6", "O1", "O2"]  # fmt: skip


def write_edf_d(
    path: Path,
    data: np.ndarray,
    sfreq: int,
    onsets: list[float],
    annotations: list[tuple[float, float, str]] = (),
    labels: list[str] | None = None,
) -> Path:
    """An EDF+D file: ``data`` (C, R·sfreq) µV in R one-second records placed at ``onsets``
    (seconds), with an annotation signal holding each record's time-keeping TAL; the
    ``annotations`` ``(onset, duration, text)`` go into the first record."""
    c, t = data.shape
    n_rec = t // sfreq
    assert n_rec == len(onsets) and n_rec * sfreq == t
    ann_bytes = 512
    labels = list(labels or [f"EEG{i}" for i in range(c)])
    head = edf_header(c + 1, [sfreq] * c + [ann_bytes // 2], n_rec, "1",
                      labels=[*labels, "EDF Annotations"], reserved=b"EDF+D")  # fmt: skip
    digital = np.clip(np.round(data / 3200 * 32767), -32768, 32767).astype("<i2")
    body = bytearray()
    for r, onset in enumerate(onsets):
        body += digital[:, r * sfreq : (r + 1) * sfreq].tobytes()
        tal = f"+{onset:g}\x14\x14\x00".encode()
        if r == 0:
            for a_on, a_dur, text in annotations:
                tal += f"+{a_on:g}\x15{a_dur:g}\x14{text}\x14\x00".encode()
        assert len(tal) <= ann_bytes
        body += tal.ljust(ann_bytes, b"\x00")
    path.write_bytes(head + bytes(body))
    return path
