"""Resource use of the hostile and large inputs of issue 20, measured in fresh subprocesses.

    python benchmarks/reliability.py        # writes docs/benchmarks/reliability.md

Each command runs through ``eegssm.cli.main`` in its own process under a 2 GB address-space limit
(``RLIMIT_AS``; 3 GB for ``info``), with its exit status, CPU time (user + system: unlike the
wall time it does not grow when other jobs share the machine) and peak resident memory. The
inputs are generated here (seeded); the helpers are those of the fault-injection suite
(``tests/faults/_faults.py``).
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "faults"))

from test_hostile_files import hostile_edf, sparse_edf  # noqa: E402
from test_scoring_limits import _pair  # noqa: E402

from eegssm import atomic  # noqa: E402

from _faults import run_limited  # noqa: E402

OUT = ROOT / "docs" / "benchmarks" / "reliability.md"


def main() -> None:
    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = [
            ("`info` on a 2 GB EDF (58 h, 19 ch, 256 Hz; 8 GB as float64)",
             ["info", str(sparse_edf(tmp / "long.edf", 58.0))], 3 << 30),
            ("`detect` on the 24 KB EDF claiming 1e6-s records",
             ["detect", str(hostile_edf(tmp / "hostile.edf")), "--out", str(tmp / "o"), "-q"],
             2 << 30),
            ("`score`, 20 000 vs 20 000 events, all methods",
             ["score", *_pair(tmp / "a", 20_000, 20_000)], 2 << 30),
            ("`score`, 20 000 vs 10 000 events, all methods (DPALIGN's widest band)",
             ["score", *_pair(tmp / "b", 20_000, 10_000)], 2 << 30),
            ("`score /dev/zero`", ["score", "/dev/zero", str(tmp / "a" / "hyp.csv_bi")], 2 << 30),
        ]  # fmt: skip
        for name, argv, limit in cases:
            run = run_limited(argv, address_space=limit, timeout=1200)
            rows.append((name, run.rc, run.cpu_s, run.maxrss_mb))
            print(f"{name}: exit {run.rc}, {run.cpu_s:.1f} s CPU, {run.maxrss_mb:.0f} MiB")
    lines = [
        "# Reliability: resource use of hostile and large inputs",
        "",
        f"`python benchmarks/reliability.py` ({platform.machine()}, Python "
        f"{platform.python_version()}; each command in a fresh process under a 2 GB "
        "`RLIMIT_AS`, 3 GB for `info`). CPU = user + system seconds of the process; peak = its "
        "maximum resident set (Python, numpy and, for `detect`, torch included). Load average "
        f"{load:.1f} on {os.cpu_count()} cores when it started (a shared machine): CPU time and "
        "peak memory do not depend on it, wall time would.",
        "",
        "| command | exit | CPU | peak memory |",
        "|---|---|---|---|",
        *(f"| {n} | {rc} | {cpu:.1f} s | {rss:.0f} MiB |" for n, rc, cpu, rss in rows),
        "",
        "Limits checked by `tests/faults` (see `docs/reliability.md`): `info` < 500 MB, every "
        "scorer < 60 s CPU and < 1 GB at 20 000 events per side, hostile inputs < 1 GB.",
        "",
    ]
    atomic.write_text(OUT, "\n".join(lines))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
