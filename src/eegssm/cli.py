"""The ``eegssm`` command line.

Each sub-command lives in its own module under ``eegssm.commands`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returning an exit code). Modules import their heavy dependencies inside ``func`` so
that ``eegssm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import os
import sys
import threading
import warnings

from eegssm import __version__

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES = [
    "eegssm.commands.detect",
    "eegssm.commands.monitor",
    "eegssm.commands.demo",
    "eegssm.commands.bench",
    "eegssm.commands.score",
    "eegssm.commands.evaluate",
    "eegssm.commands.info",
    "eegssm.commands.build_cache",
    "eegssm.commands.cache_info",
    "eegssm.commands.train",
    "eegssm.commands.pretrain",
    "eegssm.commands.finetune",
    "eegssm.commands.config",
    "eegssm.commands.doctor",
    "eegssm.commands.classify",
]


def command_name(module: str) -> str:
    """Sub-command registered by a module: ``eegssm.commands.build_cache`` → ``build-cache``."""
    return module.rsplit(".", 1)[-1].replace("_", "-")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``eegssm`` parser; ``only``: import and register just that sub-command (its module
    alone is imported, e.g. for ``eegssm detect FILE``), instead of all of them."""
    parser = argparse.ArgumentParser(
        prog="eegssm",
        description="Long-sequence EEG modeling with state-space models. Every command has "
        "--help; commands that write take --out DIR, -q/--quiet turns progress bars off, "
        "--workers counts processes and --threads torch CPU threads.",
    )
    parser.add_argument("--version", action="version", version=f"eegssm {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        if only is None or command_name(name) == only:
            importlib.import_module(name).register(subparsers)
    return parser


def _check_single_values(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit with a usage error where a one-value positional came back as a list.

    Python 3.11's argparse turns ``eegssm score REF -- --`` into ``hyp=[]`` (a second ``--``
    after the first is swallowed); later versions pass ``"--"``. Neither is a usable path.
    """
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    command = sub.choices[args.command]
    for action in command._actions:
        if not action.option_strings and action.nargs is None:
            if isinstance(getattr(args, action.dest, None), list):
                command.error(f"argument {action.metavar or action.dest}: expected one value")


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line, ``warning: <message>`` (no source file, line or code); the
    category is named when it is not a plain user-facing warning."""
    stream = file if file is not None else sys.stderr
    kind = category.__name__
    prefix = "warning" if issubclass(category, UserWarning) else f"warning ({kind})"
    text = " ".join(str(message).split())  # one line, whatever the message holds
    try:
        stream.write(f"{prefix}: {text}\n")
    except (OSError, ValueError):  # stderr closed
        pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not os.environ.get("EEGSSM_DEBUG"):
        warnings.showwarning = show_warning
    known = {command_name(m) for m in COMMAND_MODULES}
    parser = build_parser(argv[0] if argv and argv[0] in known else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _check_single_values(parser, args)
    if not getattr(args, "resumes_gc", False):  # a command that imports on a thread resumes it
        resume_gc()
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as err:
        # A file that cannot be read or written, a value a command rejects: one clear line.
        # EEGSSM_DEBUG=1 shows the traceback instead.
        if os.environ.get("EEGSSM_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1


#: Whether :func:`pause_gc` paused the cyclic garbage collector (and :func:`resume_gc` has not
#: resumed it yet).
_gc_paused = False


def pause_gc() -> None:
    """Pause Python's cyclic garbage collector while the command starts.

    Importing PyTorch creates some hundred thousand objects, none of them garbage, and the
    collector walks them again and again meanwhile: a fresh ``import torch`` took 1.62 s with
    the collector off against 1.80 s with it on (medians of 8, in turn). Reference counting
    still frees everything that is not in a cycle. :func:`resume_gc` turns it back on."""
    global _gc_paused
    if gc.isenabled():
        gc.disable()
        _gc_paused = True


def resume_gc() -> None:
    """Undo :func:`pause_gc` (nothing when it did not pause): the objects made so far are
    frozen (``gc.freeze``: later collections do not walk them again), then the collector runs
    again. ``main`` calls it before a command runs, unless the command sets ``resumes_gc``
    (``eegssm detect``, whose model loads on a thread: it calls this once it is loaded)."""
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.freeze()
        gc.enable()


def run() -> None:
    """The ``eegssm`` console entry point: :func:`main`, then exit without tearing down the
    interpreter, which frees every object torch, scipy and mne created one by one (~0.3 s at
    the end of every command with PyTorch loaded, measured against a normal exit).

    What a normal exit does first still happens, in the same order: other threads are joined
    (thread pools shut down), ``atexit`` handlers run (temporary folders removed, logs
    flushed), then stdout and stderr are flushed. Where this Python lacks the hooks for that,
    the exit is the normal one.

    Freed memory is kept for reuse (:func:`eegssm.heap.retain_freed_memory`: fewer fresh pages
    for a model's chunk-by-chunk buffers), PyTorch's OpenMP and numpy's OpenBLAS workers spin
    less before they sleep (:mod:`eegssm.spin`: they leave the cores to the C kernels and to
    the forked child), and the cyclic garbage collector pauses while the command starts
    (:func:`pause_gc`)."""
    from eegssm.heap import retain_freed_memory
    from eegssm.spin import shorten_spin

    retain_freed_memory()
    shorten_spin()
    pause_gc()
    try:
        code = main()
    finally:
        resume_gc()
    gc.freeze()
    shutdown = getattr(threading, "_shutdown", None)
    exit_funcs = getattr(atexit, "_run_exitfuncs", None)
    if shutdown is None or exit_funcs is None:
        sys.exit(code)
    shutdown()
    exit_funcs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or replaced streams
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
