"""``eegssm detect``: find seizures in EEG recordings.

For each EDF/BDF file (folders are searched recursively): read, preprocess with the checkpoint's
own settings, run the detector over the whole recording (in one pass; other models than a
SeizureDetector over overlapping windows), post-process, and write

    OUT/<stem>.csv_bi        TUSZ csv_bi (NEDC scorer input)
    OUT/<stem>_events.tsv    SzCORE events (onset, duration, eventType, confidence, channels,
                             dateTime = the file's start, recordingDuration) + BIDS trial_type
    OUT/<stem>.json          events, settings, timings, provenance (eegssm version, command
                             line, sha256 of the input and of the checkpoint's weights, montage,
                             operating point and threshold) and the OVERLAP score when the
                             recording has annotations

--bids-root DIR also writes a BIDS dataset (recording linked, or copied with --bids-copy;
dataset_description.json, _eeg.json, _channels.tsv, _events.tsv) that mne_bids.read_raw_bids
reads. Subject, session and task come from BIDS-style file names (sub-01_ses-1_task-x_eeg.edf)
or --subject/--session/--task; otherwise the subject is the file stem (letters and digits).

--rename OLD=NEW renames channels before anything else (repeat it, or separate pairs with
commas), for files whose labels the montage cannot recognise ("EEG 1=Fp1,EEG 2=Fp2"). The
checkpoint's input (montage, channels, rate) is checked after preprocessing; a recording that
does not fit gets an error naming both sides.

A recording's files appear together or not at all (temporary files, renamed when all are
written); a write error (disk full) stops the run with status 1. Inputs whose file names
collide (the same stem in two folders) get ``<stem>_<folder>`` names, listed at the end.

With no PATH, runs the embedded default: a fixed synthetic 19-channel recording (10 min,
2 seizures, seeded) through the bundled checkpoint, printed next to the ground truth with its
OVERLAP score, and an HTML report.

examples:
  eegssm detect                                  # embedded demo
  eegssm detect patient01.edf --report r.html    # one file, with an HTML report
  eegssm detect edf/eval --fa-per-24h 5 --out hyp
  eegssm detect sub-01_task-rest_eeg.edf --bids-root bids   # + a BIDS dataset
  eegssm detect odd.edf --rename "EEG 1=Fp1" --rename "EEG 2=Fp2"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eegssm.cli import resume_gc
from eegssm.commands._args import (
    HelpFormatter,
    add_out,
    add_quiet,
    add_threads,
    channel_rename,
    label_mapping,
    torch_device,
)

DEMO_SEED = 2026
DEMO_DURATION_S = 600.0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "detect",
        help="detect seizures in EDF/BDF recordings (no PATH: embedded demo)",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="EDF/BDF files or folders")
    add_options(p)
    b = p.add_argument_group("BIDS output")
    b.add_argument(
        "--bids-root", type=Path, default=None, metavar="DIR", help="also write a BIDS dataset"
    )
    b.add_argument("--subject", default=None, help="BIDS subject (default: from the file name)")
    b.add_argument("--session", default=None, help="BIDS session (default: from the file name)")
    b.add_argument(
        "--task", default=None, help="BIDS task (default: from the file name, else szMonitoring)"
    )
    b.add_argument(
        "--bids-copy", action="store_true", help="copy recordings into the dataset (not link)"
    )
    p.set_defaults(func=run, resumes_gc=True)  # once the model is loaded: see run


def add_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``detect`` and ``demo``."""
    p.add_argument(
        "--checkpoint",
        default=None,
        metavar="PATH_OR_REPO",
        help="detector folder or Hugging Face Hub repository id (default: the bundled one)",
    )
    add_out(p, Path("eegssm-out"), "output folder")
    p.add_argument(
        "--montage",
        choices=("auto", "referential", "bipolar"),
        default="auto",
        help="how to read the input channels: auto (default: decided from the labels and "
        "printed), referential (electrodes against a common reference, any label style: "
        "'EEG FP1-REF', 'Fp1', 'FP1-LE', 'Fp1-A1'), bipolar (derivations such as CHB-MIT's "
        "'FP1-F7'); the checkpoint's own montage is then derived from them",
    )
    op = p.add_mutually_exclusive_group()
    op.add_argument("--threshold", type=float, help="probability threshold to start an event")
    op.add_argument(
        "--fa-per-24h",
        type=float,
        help="use the operating point chosen on the dev split for this FA/24h target",
    )
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        help="write an HTML report (one file: this path; several: OUT/<stem>_report.html)",
    )
    p.add_argument(
        "--rename",
        action="append",
        type=channel_rename,
        default=[],
        metavar="OLD=NEW",
        help="rename a channel before preprocessing (repeatable; 'A=B,C=D' also works)",
    )
    p.add_argument(
        "--device", type=torch_device, default="cpu", help="torch device, e.g. cpu, cuda, cuda:1"
    )
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    p.add_argument(
        "--label-map",
        type=label_mapping,
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="map labels of reference files beside the recordings, e.g. siez=seiz (unknown "
        "labels are errors naming the file and line)",
    )
    add_threads(p, workers_alias=True)
    add_quiet(p)


def find_inputs(paths: list[str]) -> list[Path]:
    """EDF/BDF files named directly or found recursively under folders, sorted, unique.

    Folders that cannot be read and symlink loops are logged and skipped."""
    from eegssm.data.discovery import find_recordings

    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += find_recordings(path)
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return list(dict.fromkeys(found))


def write_outputs(
    out: Path, stem: str, result, reference, source: str, detector, provenance: dict | None = None
) -> dict:
    """The three output files of one recording; returns the JSON document.

    ``provenance``: what :func:`provenance` gives (command line, input sha256), merged into
    the JSON.
    """
    from eegssm import atomic
    from eegssm.io.annotations import write_bids_events, write_csv_bi

    out.mkdir(parents=True, exist_ok=True)
    duration = result.recording.duration
    start = result.recording.meta.get("start_time")
    write_csv_bi(out / f"{stem}.csv_bi", result.events, duration, bname=stem)
    write_bids_events(out / f"{stem}_events.tsv", result.events, duration, start)
    doc = result_document(result, source, detector, provenance)
    if reference is not None:
        doc["reference_events"] = [{"onset": e.start, "offset": e.stop} for e in reference]
        doc["overlap_score"] = overlap_score(reference, result.events, duration)
    atomic.write_json(out / f"{stem}.json", doc, indent=2, sort_keys=True)
    return doc


def result_document(result, source: str, detector, provenance: dict | None = None) -> dict:
    """The JSON document of one recording: events, settings, timings and provenance."""
    from eegssm import __version__

    rec = result.recording
    return {
        "file": source,
        "eegssm_version": __version__,
        "start_time": rec.meta.get("start_time"),
        "duration_s": rec.duration,
        "sfreq": rec.sfreq,
        "montage": {  # how the input was read, the montage the model saw, what was left out
            k: rec.meta.get(k)
            for k in ("input", "montage", "dropped", "flat_inputs", "interpolated")
        },
        "channels": rec.ch_names,
        "renamed_channels": rec.meta.get("renamed"),
        "model": detector.name,
        "checkpoint": {
            "path": str(detector.path) if detector.path is not None else None,
            "weights_sha256": detector.weights_sha256,
            "input": detector.input.to_json(),
        },
        "operating_point": result.operating_point,
        "threshold": result.postprocess.on_threshold,
        "postprocess": vars(result.postprocess),
        "events": [
            {"onset": e.start, "offset": e.stop, "duration": e.duration, "confidence": e.confidence}
            for e in result.events
        ],
        "runtime": result.runtime,
        "timings_s": result.timings,
        **(provenance or {}),
    }


def provenance(input_sha256: str | None) -> dict:
    """Command line and input checksum for the JSON output."""
    import shlex

    return {"command": shlex.join(["eegssm", *sys.argv[1:]]), "input_sha256": input_sha256}


def describe_montage(meta: dict) -> str:
    """One line: how the input was read and what the model saw, e.g. ``montage: bipolar (23
    derivations) → double_banana, 18 channels``."""
    text = f"montage: {meta.get('input', '?')} → {meta.get('montage', '?')}"
    notes = []
    if meta.get("dropped"):
        notes.append("left out: " + ", ".join(meta["dropped"]))
    if meta.get("flat_inputs"):
        notes.append("flat: " + ", ".join(meta["flat_inputs"]))
    if meta.get("interpolated"):
        notes.append("interpolated: " + ", ".join(meta["interpolated"]))
    return text + (f" ({'; '.join(notes)})" if notes else "")


def overlap_score(reference, events, duration: float) -> dict:
    """NEDC OVERLAP counts of ``events`` against ``reference`` for one recording."""
    from eegssm.scoring import overlap
    from eegssm.scoring.segments import seizure_track

    c = overlap.score(seizure_track(reference, duration), seizure_track(events, duration))
    return {
        "scorer": "NEDC OVERLAP",
        "targets": int(c.targets),
        "hits": int(c.hits),
        "false_alarms": int(c.false_alarms),
        "sensitivity": c.sensitivity,
        "fa_per_24h": c.fa_per_24h,
    }


def print_summary(rows: list[dict]) -> None:
    print(f"\n{'file':40s} {'duration':>10s} {'events':>6s}")
    for doc in rows:
        name = _printable(Path(doc["file"]).name)
        print(f"{name[:40]:40s} {doc['duration_s']:9.1f}s {len(doc['events']):6d}")
        for e in doc["events"]:
            print(
                f"    seizure {e['onset']:9.2f} – {e['offset']:9.2f} s "
                f"({e['duration']:6.1f} s, confidence {e['confidence']:.2f})"
            )


def shown(path: Path, channel_map: dict[str, str]):
    """The file the review page shows: the path, or with ``--rename`` the file opened with the
    renamed channels (the page picks its montages by name)."""
    if not channel_map:
        return path
    from eegssm.io import open_recording

    return open_recording(path, channel_map=channel_map)


def failure_line(err: Exception, path: Path, detector) -> str:
    """One line for a recording that failed: the file first (when the message does not name
    it), and for channels the montage cannot make, what the checkpoint takes."""
    from eegssm.preprocessing.montages import MissingChannelsError

    text = " ".join(str(err).split())
    if isinstance(err, MissingChannelsError):
        takes = f"it takes {detector.input.describe()}"
        text = f"does not fit {detector.checkpoint_label}: {takes}; {text}"
    if str(path) not in text and path.name not in text:
        text = f"{path}: {text}"
    return text


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` when given (imports PyTorch)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


#: Largest preprocessed recording handed back by the child process (float32 bytes; 2 h of 18
#: channels at 256 Hz is 133 MB): beyond it, the child's copy into shared memory and the memory
#: held twice meanwhile cost more than the overlap saves, and the file is read here.
CHILD_MAX_BYTES = 160 * 2**20


def prepare_in_child(detector, path: Path, channel_map: dict[str, str]):
    """Read and preprocess ``path`` in a forked child process while this one imports PyTorch and
    loads the model (two cores instead of one interpreter lock): a
    :class:`eegssm.forked.Child` whose ``result()`` is the file's
    :meth:`~eegssm.detection.Detector.prepare_file` (None when the child did not deliver, and
    the file is then read here). None where no child is forked: PyTorch already imported (no
    import left to overlap), or no fork here (see :func:`eegssm.forked.available`)."""
    if "torch" in sys.modules:
        return None
    from eegssm import forked

    return forked.start(detector.prepare_file, path, channel_map, CHILD_MAX_BYTES)


def run(args: argparse.Namespace) -> int:
    """The command. The garbage collector stays paused (:func:`eegssm.cli.pause_gc`) until
    the model has loaded, PyTorch's import included, which happens on a thread meanwhile
    (``detect_inputs`` resumes it; ``cli.run`` does on every other way out)."""
    from eegssm.detection import Detector

    channel_map = merge_renames(args.rename)
    label_map = merge_label_maps(getattr(args, "label_map", []))
    try:
        # The model loads (and PyTorch imports) on a thread while the first file is read and
        # preprocessed (in a child process where one can be forked: `prepare_in_child`); a
        # model that fails to load is reported when first needed, as here.
        detector = Detector.from_checkpoint(
            args.checkpoint, args.device, args.batch_size, background=True, defer_load=True
        )
        detector.set_input_montage(getattr(args, "montage", "auto"))
        detector.postprocess_config(args.threshold, args.fa_per_24h)  # validate early
        if not args.paths:
            set_threads(args.threads)
            detector.model  # noqa: B018 - the demo needs it at once: load errors are reported here
    except (FileNotFoundError, ImportError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.paths:
        return run_demo(args, detector)
    try:
        inputs = find_inputs(args.paths)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not inputs:
        print("error: no .edf or .bdf files found in " + ", ".join(args.paths), file=sys.stderr)
        return 2
    # The model runs without PyTorch (eegssm.engine) where the engine can run the checkpoint,
    # whatever the recordings' lengths: no torch import. PyTorch loads (on a thread) only for
    # a checkpoint the engine does not cover; then a child process reads the first file
    # meanwhile.
    first = None
    if detector.use_engine(args.threads) is not None:
        first = prepare_in_child(detector, inputs[0], channel_map)
        set_threads(args.threads)
        detector.start_loading()
    try:
        return detect_inputs(args, detector, inputs, first, channel_map, label_map)
    finally:
        if first is not None:  # an error before its result was collected: stop the child
            first.close()


def detect_inputs(args, detector, inputs: list[Path], first, channel_map, label_map) -> int:
    """Detection on every input, outputs written file by file; the exit code. ``first``: the
    child process reading ``inputs[0]`` (:func:`prepare_in_child`), or None."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from eegssm import atomic
    from eegssm.data.discovery import output_stems, safe_stem
    from eegssm.data.recordings import reference_seizures
    from eegssm.detection import sha256_file
    from eegssm.io import EEGReadError

    bids = None
    if args.bids_root is not None:
        bids = bids_entities(inputs, args)
    rows, failed = [], 0
    stems = output_stems(inputs)
    hasher = ThreadPoolExecutor(1)
    for path in inputs:
        # The input's SHA-256 (for the JSON) is computed on a thread while the file is analysed:
        # a day-long EDF takes ~2 s to hash (hashlib releases the GIL).
        digest = hasher.submit(sha256_file, path)
        try:
            prepared, waited = None, 0.0
            if first is not None and path == inputs[0]:
                t = time.perf_counter()
                prepared, waited = first.result(), time.perf_counter() - t
            loading = 0.0
            if detector.engine is None:  # PyTorch: wait for the model (a load error is
                _, loading = detector.model_when_loaded()  # handled below)
            resume_gc()
            result = detector.run_file(
                path,
                args.threshold,
                args.fa_per_24h,
                progress=not args.quiet and path.name,
                channel_map=channel_map,
                prepared=prepared,
            )
            if prepared is not None:
                result.timings["waiting for the child process (read + preprocess)"] = waited
            if loading:
                result.timings["waiting for the model to load"] = loading
            reference = reference_seizures(path, result.recording, label_map)
        except Exception as err:
            if (load_error := detector.load_error()) is not None:  # the checkpoint, not the file
                print(f"error: {load_error}", file=sys.stderr)
                hasher.shutdown(cancel_futures=True)
                return 2
            if not isinstance(err, (EEGReadError, ValueError)):
                raise
            print(f"error: {_printable(failure_line(err, path, detector))}", file=sys.stderr)
            failed += 1
            continue
        if not args.quiet:
            print(f"{_printable(path.name)}: {describe_montage(result.recording.meta)}")
        stem = stems[path]
        try:
            with atomic.together():  # a recording's outputs appear together or not at all
                doc = write_outputs(
                    args.out, stem, result, reference, str(path), detector,
                    provenance(digest.result()),
                )  # fmt: skip
                if bids is not None:
                    _write_bids(args, path, result, bids[path])
                if args.report:
                    target = args.report if len(inputs) == 1 else args.out / f"{stem}_report.html"
                    _write_report(target, result, reference, detector, raw=shown(path, channel_map))
        except OSError as err:  # disk full, no permission: stop, the next would fail too
            where = _printable(str(path))
            print(f"error: {err}; stopped (nothing written for {where})", file=sys.stderr)
            failed = len(inputs) - len(rows)
            break
        rows.append(doc)
    hasher.shutdown(cancel_futures=True)
    print_summary(rows)
    renamed = {p: s for p, s in stems.items() if s != safe_stem(p.stem)}
    for p, s in renamed.items():
        print(f"note: {_printable(str(p))} has a file name used by another input: outputs {s}.*")
    print(
        f"\nwrote {len(rows)} recording(s) to {args.out}/"
        + (f"; {failed} failed" if failed else "")
        + (f"; BIDS dataset: {args.bids_root}/" if bids is not None else "")
    )
    return 1 if failed else 0


def _printable(text: str) -> str:
    """``text`` with control characters escaped (a file name may hold a newline)."""
    return text if text.isprintable() else repr(text)[1:-1]


def merge_renames(items: list[dict[str, str]]) -> dict[str, str]:
    """One ``channel_map`` from repeated ``--rename`` values (each a dict)."""
    out: dict[str, str] = {}
    for item in items:
        for old, new in item.items():
            if old in out and out[old] != new:
                raise ValueError(f"--rename: {old!r} is renamed twice ({out[old]}, {new})")
            out[old] = new
    return out


def merge_label_maps(items: list[dict[str, str]]) -> dict[str, str]:
    """One label map from repeated ``--label-map`` values."""
    out: dict[str, str] = {}
    for item in items:
        out.update(item)
    return out


def bids_entities(inputs: list[Path], args: argparse.Namespace) -> dict:
    """BIDS entities per input (from names or flags; runs number recordings that clash)."""
    from eegssm.io.bids_dataset import assign_runs, entities_for

    ents = [entities_for(p, args.subject, args.session, args.task) for p in inputs]
    return dict(zip(inputs, assign_runs(ents)))


def _write_bids(args: argparse.Namespace, path: Path, result, entities) -> None:
    from eegssm.io.bids_dataset import write_recording

    rec = result.recording
    native = rec.meta.get("native_sfreq") or {}
    sfreq = max(native.values()) if native else None
    write_recording(
        args.bids_root,
        path,
        entities,
        result.events,
        rec.duration,
        rec.meta.get("start_time"),
        sfreq=sfreq,
        copy=args.bids_copy,
    )


def _write_report(target: Path, result, reference, detector, raw=None) -> None:
    """The review page; ``raw`` (the file or the recording as read, µV) is the EEG shown."""
    from eegssm.report.html import write_report

    write_report(
        target,
        result.recording,
        result.probs,
        result.recording.sfreq,
        result.events,
        reference,
        threshold=result.postprocess.on_threshold,
        model_name=detector.name,
        raw=raw,
    )
    print(f"report: {target}")


def run_demo(args: argparse.Namespace, detector) -> int:
    """The embedded default: a seeded synthetic recording with known seizures."""
    from eegssm.data.synthetic import make_recording
    from eegssm.io.annotations import is_seizure

    recording = make_recording(DEMO_DURATION_S, sfreq=256.0, n_seizures=2, seed=DEMO_SEED)
    recording.meta["source"] = f"synthetic-demo-seed{DEMO_SEED}"
    truth = [e for e in recording.events if is_seizure(e.label)]
    print(
        f"Embedded demo: synthetic 19-channel recording, {DEMO_DURATION_S / 60:.0f} min at 256 Hz, "
        f"{len(truth)} seizures (seed {DEMO_SEED}); model: {detector.name}"
    )
    result = detector.run(recording, args.threshold, args.fa_per_24h, progress=not args.quiet)
    stem = "demo"
    doc = write_outputs(
        args.out, stem, result, truth, recording.meta["source"], detector, provenance(None)
    )
    print("\nground truth:")
    for e in truth:
        print(f"    seizure {e.start:9.2f} – {e.stop:9.2f} s ({e.duration:6.1f} s)")
    print("detected:")
    for e in result.events:
        print(
            f"    seizure {e.start:9.2f} – {e.stop:9.2f} s ({e.duration:6.1f} s, "
            f"confidence {e.confidence:.2f})"
        )
    if not result.events:
        print("    none")
    s = doc["overlap_score"]
    print(
        f"\nNEDC OVERLAP: {s['hits']}/{s['targets']} seizures detected "
        f"(sensitivity {100 * s['sensitivity']:.0f} %), {s['false_alarms']} false alarm(s) "
        f"= {s['fa_per_24h']:.1f} FA/24h on this {DEMO_DURATION_S / 60:.0f}-minute recording"
    )
    print("timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items()))
    report = args.report or args.out / "demo_report.html"
    _write_report(report, result, truth, detector, raw=recording)
    print(f"outputs: {args.out}/{stem}.csv_bi, {stem}_events.tsv, {stem}.json")
    return 0
