"""Fuzzing the command line: ``eegssm.cli.main`` with random argument lists.

Tokens are drawn from the real sub-commands and their option strings, odd values (negative,
``nan``, huge, empty, unicode) and paths (missing, a directory, a junk file, a valid EDF and
csv_bi, a junk cache). Every call must end in one of three clean ways: ``SystemExit(0)`` (help,
version), ``SystemExit(2)`` with a usage message, or a return code (non-zero with an ``error``
line on stderr). A traceback (any other exception) fails. Commands that would run a benchmark
(``bench``, ``demo``) are parsed for real and their ``run`` replaced by a stub; the others run
for real in a temporary working directory.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eegssm import cli
from eegssm.data.synthetic import write_synthetic

N_DEFAULT, N_SLOW = 600, 10_000
STUBBED = {"bench"}  # would run a benchmark for real
#: Commands run for real by the fuzzer (the others are parsed only). Commands outside the
#: reliability work are added here once their tracebacks below are fixed.
RUN_FOR_REAL = {"info", "score", "build-cache", "cache-info", "bench", "config"}
#: Tracebacks this fuzzer once found in commands it only parses; each must now end cleanly
#: (see ``test_former_cli_tracebacks_end_cleanly``).
FORMER_TRACEBACKS = [
    (["detect", "rec.edf", "--workers", "-1"], "RuntimeError from torch.set_num_threads"),
    (["detect", "rec.edf", "--workers", "99999999999999999999"], "ValueError: overflow"),
    (["demo", "--device", ""], "SafetensorError: device is invalid"),
    (["monitor", "", "--checkpoint", ""], "FileNotFoundError for the folder '.'"),
    (["score", "a.csv_bi", "a.csv_bi", "--json", ""], "IsADirectoryError writing '.'"),
    (["score", "a.csv_bi", "a.csv_bi", "--json", "\x00"], "ValueError: embedded null byte"),
    (["train", ""], "IsADirectoryError reading the config '.'"),
    (["pretrain", "\x00"], "ValueError: embedded null byte"),
    (["finetune", "\x00"], "ValueError: embedded null byte"),
    (["score", "a.csv_bi", "--", "--"], "TypeError: argparse 3.11 gave HYP = []"),
]


def run_for_real(args: list[str]) -> bool:
    """False for calls that are only parsed (other commands, ``score --json``: open issues)."""
    if any(a in ("-h", "--help", "--version") for a in args):
        return True
    if not args or args[0] not in RUN_FOR_REAL:
        return False
    return not (args[0] == "score" and "--json" in args)


def _subparsers() -> dict:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return dict(sub.choices)


def _spec(parser) -> dict:
    """Positional count, options taking a value, and flags of one sub-command parser."""
    helps = ("_HelpAction", "_VersionAction")
    acts = [a for a in parser._actions if a.__class__.__name__ not in helps]
    return {
        "positionals": sum(1 for a in acts if not a.option_strings),
        "valued": sorted(o for a in acts if a.option_strings and a.nargs != 0
                         for o in a.option_strings),
        "flags": sorted(o for a in acts if a.option_strings and a.nargs == 0
                        for o in a.option_strings),
        "required": [a.option_strings[0] for a in acts if a.option_strings and a.required],
    }  # fmt: skip


SPECS = {name: _spec(p) for name, p in _subparsers().items()}
COMMANDS = {name: sorted(sp["valued"] + sp["flags"]) for name, sp in SPECS.items()}
OPTIONS = sorted({o for opts in COMMANDS.values() for o in opts} | {"--version", "-h"})
VALUES = [
    "", "0", "1", "-1", "2", "nan", "inf", "1e400", "99999999999999999999", "0.5", "-", "--",
    "é", "\x00", "a b", "seizure", "eegm2", "ref19", "tcp", "overlap", "taes", "epoch", "x=1",
]  # fmt: skip


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A working directory with path tokens, and the stubbed benchmark commands."""
    root = tmp_path_factory.mktemp("fuzz_cli")
    corpus = root / "corpus"
    write_synthetic(corpus / "rec", duration_s=12, n_seizures=1, seed=0,
                    seizure_duration_s=(3.0, 5.0), min_gap_s=1.0)  # fmt: skip
    (root / "junk.edf").write_bytes(b"not an edf\n" * 30)
    (root / "junk.csv_bi").write_text("hello,world\n")
    (root / "junk.yaml").write_text("model: [unclosed\n")
    (root / "cache").mkdir()
    (root / "cache" / "manifest.json").write_text("{not json")
    (root / "empty").mkdir()
    paths = [
        "missing.edf", "missing/", str(root / "empty"), str(root / "junk.edf"),
        str(root / "junk.csv_bi"), str(root / "junk.yaml"), str(root / "cache"),
        str(corpus), str(corpus / "rec.edf"), str(corpus / "rec.csv_bi"), "out/x.json",
    ]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for name in STUBBED:
            mp.setattr(f"eegssm.commands.{name}.run", lambda args: 0)
        yield paths


@st.composite
def argv(draw, paths: list[str]) -> list[str]:
    """Mostly well-formed calls with odd values (so that commands run), sometimes junk."""
    values = st.one_of(st.sampled_from(VALUES), st.sampled_from(paths), st.text(max_size=8))
    junk = st.one_of(values, st.sampled_from(OPTIONS), st.sampled_from(sorted(COMMANDS)))
    if draw(st.integers(0, 4)) == 0:  # free-form token soup
        return draw(st.lists(junk, max_size=8))
    cmd = draw(st.sampled_from(sorted(COMMANDS)))
    spec = SPECS[cmd]
    args = [cmd] + [draw(values) for _ in range(spec["positionals"])]
    for opt in spec["required"]:
        args += [opt, draw(values)]
    for opt in draw(st.lists(st.sampled_from(spec["valued"] or ["--x"]), max_size=3)):
        args += [opt, draw(values)]
    args += draw(st.lists(st.sampled_from(spec["flags"] or ["--x"]), max_size=2))
    if draw(st.integers(0, 3)) == 0:
        args.insert(draw(st.integers(1, len(args))), draw(junk))
    return args


def check_main(args: list[str], parse_only: bool = False) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if parse_only:
                    cli.build_parser().parse_args(args)
                    return
                code = cli.main(args)
            except SystemExit as exit_:
                code = exit_.code
                assert code in (0, 2), f"{args}: exit code {code!r}"
                if code == 2:
                    assert "usage:" in err.getvalue() or "error" in err.getvalue(), args
                return
    assert isinstance(code, int), f"{args}: returned {code!r}"
    if code != 0:  # an error line, or the usage (``eegssm`` without a command prints help)
        said = err.getvalue().lower() + out.getvalue()[:200].lower()
        assert "error" in said or "usage:" in said, f"{args}: exit {code} without a message"


SETTINGS = dict(
    deadline=20_000,  # ms: a build-cache or info run on the tiny corpus takes well under this
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.timeout(600)
@settings(max_examples=N_DEFAULT, **SETTINGS)
@given(data=st.data())
def test_fuzz_cli_arguments(sandbox, data):
    args = data.draw(argv(sandbox))
    check_main(args, parse_only=not run_for_real(args))


@pytest.mark.slow
@pytest.mark.timeout(7200)
@settings(max_examples=N_SLOW, **SETTINGS)
@given(data=st.data())
def test_fuzz_cli_arguments_large(sandbox, data):
    args = data.draw(argv(sandbox))
    check_main(args, parse_only=not run_for_real(args))


def test_every_command_is_fuzzed_and_errors_are_clean(sandbox, capsys):
    """Controls: the token source covers every command; known bad calls end cleanly."""
    assert {"info", "score", "build-cache", "cache-info"} <= set(COMMANDS)
    for args in (
        ["info", "missing.edf"],
        ["cache-info", sandbox[6]],  # a manifest that is not JSON
        ["score", "missing.csv_bi", sandbox[4]],
        ["build-cache", "--data-dir", "missing/", "--cache-dir", "c"],
        ["build-cache", "--data-dir", sandbox[7], "--cache-dir", sandbox[3]],  # a file: was
        # NotADirectoryError from build_cache
        ["no-such-command"],
        [],
    ):
        check_main(args)


@pytest.mark.parametrize(
    "args, what", FORMER_TRACEBACKS, ids=[" ".join(a) for a, _ in FORMER_TRACEBACKS]
)
def test_former_cli_tracebacks_end_cleanly(sandbox, args, what):
    """Each of these once ended in a traceback (``what``); now a usage error or an error line."""
    corpus = Path(sandbox[7])
    real = [a.replace("rec.edf", str(corpus / "rec.edf")).replace("a.csv_bi", sandbox[9])
            for a in args]  # fmt: skip
    check_main(real)
