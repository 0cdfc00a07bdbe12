"""``eegssm monitor``: live seizure detection with a causal model that carries its state.

SOURCE is an EDF/BDF file played back in real time (``--speed 1``), faster (``--speed 10``) or as
fast as possible (``--speed 0``), or ``lsl:NAME``, a Lab Streaming Layer stream of that name
(needs the optional ``pylsl`` package; samples in µV).

Each chunk (``--chunk-s``) goes through the checkpoint's preprocessing in its causal online form
(causal resampling, one-pass band-pass/notch with carried filter state, running z-score; this
differs from the zero-phase offline preprocessing of ``eegssm detect``), then through the causal
detector, which carries its state from chunk to chunk (no past window is recomputed), then
through online post-processing (hysteresis on/off thresholds; an alarm once an event has lasted
the checkpoint's minimum duration). Alarms are printed with their latency in the signal (alarm
time − event onset, and − the annotated seizure onset when the file has annotations) and the
wall-clock processing latency; at the end, the CPU time per second of EEG.

examples:
  eegssm monitor patient01.edf                  # real time, bundled causal checkpoint
  eegssm monitor patient01.edf --speed 0        # as fast as possible
  eegssm monitor lsl:EEG --fa-per-24h 5         # a live LSL stream
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from eegssm.commands._args import HelpFormatter, add_threads, torch_device


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "monitor",
        help="live detection on an EDF played back in real time or an LSL stream",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    p.add_argument("source", metavar="SOURCE", help="EDF/BDF file, or lsl:NAME")
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="causal detector folder (default: the bundled 'causal' checkpoint)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="EDF playback speed in x real time (0 = as fast as possible)",
    )
    p.add_argument("--chunk-s", type=float, default=1.0, help="seconds per chunk")
    op = p.add_mutually_exclusive_group()
    op.add_argument("--threshold", type=float, help="probability threshold to start an event")
    op.add_argument(
        "--fa-per-24h", type=float, help="use the checkpoint's operating point for this FA/24h"
    )
    p.add_argument(
        "--freeze-after-s",
        type=float,
        default=None,
        help="stop updating the running z-score after this many seconds (calibration period)",
    )
    p.add_argument(
        "--device", type=torch_device, default="cpu", help="torch device, e.g. cpu, cuda"
    )
    add_threads(p, default=1)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from eegssm.detection import Detector
    from eegssm.preprocessing.online import OnlinePreprocessor
    from eegssm.streaming import OnlineAlarm, StreamingDetector

    if args.chunk_s <= 0 or args.speed < 0:
        print("error: --chunk-s must be > 0 and --speed >= 0", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    path = args.checkpoint
    if path is None:
        from eegssm.checkpoints import checkpoint_path

        path = checkpoint_path("causal")
    detector = Detector.from_checkpoint(path, device=args.device)
    if not detector.model.config.causal:
        print(f"error: {path} is not a causal checkpoint (config.causal is false)", file=sys.stderr)
        return 2
    pp = detector.postprocess_config(args.threshold, args.fa_per_24h)

    if args.source.startswith("lsl:"):
        source = lsl_chunks(args.source[4:], args.chunk_s, detector.preprocess_config)
    else:
        source = edf_chunks(Path(args.source), args.chunk_s, args.speed, detector.preprocess_config)
    if source is None:
        return 2
    sfreq_in, names, reference, chunks = source
    n_chans = len(names)

    pre = OnlinePreprocessor(detector.preprocess_config, sfreq_in, n_chans, args.freeze_after_s)
    order = detector.check_input(names, pre.sfreq, args.source)  # one-line error if it misfits
    if order is not None:
        chunks = ((chunk[order], arrived) for chunk, arrived in chunks)
    # the model in numpy and C where it can run (the same logits, less CPU per chunk)
    engine, why_not = detector.stream_engine()
    stream = StreamingDetector(engine or detector.model, args.device)
    runtime = "eegssm.stream_engine" if engine is not None else f"PyTorch ({why_not})"
    alarm = OnlineAlarm(pp, pre.sfreq)
    onsets = sorted(e.start for e in reference or [])
    print(
        f"monitoring {args.source} ({n_chans} channels, {sfreq_in:g} Hz) with {path} on "
        f"{runtime} (on {pp.on_threshold:g} / off {pp.off_threshold:g}, "
        f"min {pp.min_duration_s:g} s)"
    )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads or 1, user_api="blas"):  # numpy's, for the engine
        return _monitor(stream, pre, alarm, chunks, onsets)


def _monitor(stream, pre, alarm, chunks, onsets: list[float]) -> int:
    """Chunks through preprocessing, the model and the alarm; prints alarms and the CPU time."""
    cpu = 0.0
    n_alarms = 0
    for chunk, arrived in chunks:
        c0 = time.process_time()
        events = alarm.push(stream.push(pre.push(chunk)))
        cpu += time.process_time() - c0
        for kind, a in events:
            n_alarms += kind == "alarm"
            print(describe(kind, a, onsets, time.perf_counter() - arrived), flush=True)
    c0 = time.process_time()
    for kind, a in alarm.push(stream.flush()):
        n_alarms += kind == "alarm"
        print(describe(kind, a, onsets, 0.0))
    cpu += time.process_time() - c0
    seconds = stream.samples_out / pre.sfreq
    per_s = 1000.0 * cpu / max(seconds, 1e-9)
    print(f"{n_alarms} alarm(s) in {seconds:.1f} s of EEG")
    print(f"CPU time per second of EEG: {per_s:.2f} ms ({cpu:.2f} s CPU for {seconds:.1f} s)")
    return 0


def describe(kind: str, a, onsets: list[float], wall: float) -> str:
    """One line for an alarm (``kind="alarm"``) or the end of its event."""
    if kind == "end":
        return f"  end of event at {a.end:.2f} s (onset {a.onset:.2f} s, peak p {a.peak:.3f})"
    line = f"ALARM at {a.time:.2f} s: event onset {a.onset:.2f} s, latency {a.time - a.onset:.2f} s"
    before = [t for t in onsets if t <= a.time]
    if before:
        line += f", {a.time - before[-1]:.2f} s after the annotated onset at {before[-1]:.2f} s"
    return line + f"; processing latency {1000 * wall:.1f} ms (wall clock)"


def edf_chunks(path: Path, chunk_s: float, speed: float, config):
    """``(sfreq, channel names, reference events, iterator of (chunk (C, n) µV, wall arrival
    time))``.

    The file is read once and played back in chunks; the montage (an instantaneous channel mix)
    is applied up front. With ``speed > 0`` each chunk is released when its last sample would
    have been recorded at ``speed`` × real time.
    """
    from eegssm.data.recordings import reference_seizures
    from eegssm.io import read_recording
    from eegssm.preprocessing.montages import apply_montage

    if not path.is_file():
        print(f"error: {path}: no such file", file=sys.stderr)
        return None
    raw = read_recording(path)
    reference = reference_seizures(path, raw)
    rec = apply_montage(raw, config.montage, config.missing, config.ears)
    n = max(1, int(round(chunk_s * rec.sfreq)))

    def chunks():
        start = time.perf_counter()
        for s in range(0, rec.n_times, n):
            piece = rec.data[:, s : s + n]
            if speed > 0:
                due = start + (s + piece.shape[1]) / rec.sfreq / speed
                time.sleep(max(0.0, due - time.perf_counter()))
            yield piece, time.perf_counter()

    return float(rec.sfreq), list(rec.ch_names), reference, chunks()


def lsl_chunks(name: str, chunk_s: float, config):
    """The same for a Lab Streaming Layer stream (until interrupted with Ctrl-C)."""
    try:
        import pylsl
    except ImportError:
        print(
            "error: lsl: sources need the optional package pylsl (pip install pylsl)",
            file=sys.stderr,
        )
        return None
    import numpy as np

    from eegssm.io.types import Recording
    from eegssm.preprocessing.montages import apply_montage

    found = pylsl.resolve_byprop("name", name, timeout=10.0)
    if not found:
        print(f"error: no LSL stream named {name!r} found within 10 s", file=sys.stderr)
        return None
    inlet = pylsl.StreamInlet(found[0])
    info = inlet.info()
    sfreq = float(info.nominal_srate())
    names, ch = [], info.desc().child("channels").child("channel")
    for i in range(info.channel_count()):
        names.append(ch.child_value("label") or f"EEG{i}")
        ch = ch.next_sibling()
    probe = apply_montage(
        Recording(np.zeros((len(names), 1), np.float32), sfreq, names), config.montage
    )

    def chunks():
        n = max(1, int(round(chunk_s * sfreq)))
        while True:
            data, _ = inlet.pull_chunk(timeout=chunk_s, max_samples=n)
            if data:
                x = np.asarray(data, dtype=np.float32).T
                rec = apply_montage(Recording(x, sfreq, names), config.montage, config.missing)
                yield rec.data, time.perf_counter()

    return sfreq, list(probe.ch_names), None, chunks()
