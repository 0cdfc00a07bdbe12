"""``eegssm pretrain CONFIG.yaml``: self-supervised EEGM2 reconstruction pretraining."""

from __future__ import annotations

import argparse

from eegssm.commands._args import HelpFormatter, add_out, add_quiet, add_threads, torch_device

DESCRIPTION = """\
Pretrain EEGM2 by reconstructing windows of EEG (temporal L1 + spectral loss), optionally with
masked spans (mask: {enabled: true, span_s: 1.0, ratio: 0.5, loss_on: hidden}).

Recordings under data.data_dir are read, resampled to 128 Hz on 19 referential channels, scaled
per recording and channel by the 95th percentile of |x|, and cut into non-overlapping windows.
Subjects in data.val_subjects are held out; their reconstruction loss picks OUTPUT/best.
Everything goes under OUT (--out, else the config's output_dir): checkpoints (safetensors
weights + JSON config/state) in OUT/last and OUT/best, OUT/train_log.jsonl and the training
curve OUT/training_curve.png; --resume continues from OUT/last. Unknown keys in CONFIG are
errors.

Under torchrun (one process per GPU, or gloo processes on CPU) train.batch_size is the global
batch, shared out among the ranks; rank 0 alone writes checkpoints, the log and progress bars
(docs/distributed.md).
"""

EPILOG = """\
examples:
  eegssm pretrain configs/eegm2_pretrain_cpu.yaml
  eegssm pretrain configs/eegm2_pretrain_cpu.yaml --data-dir ~/eegmat --out runs/pt --resume
  torchrun --standalone --nproc_per_node=gpu -m eegssm.cli pretrain CONFIG.yaml --device cuda
"""


def add_common(p: argparse.ArgumentParser) -> None:
    """Options shared by ``pretrain`` and ``finetune``."""
    p.add_argument("config", metavar="CONFIG", help="YAML configuration file")
    p.add_argument("--data-dir", help="override data.data_dir")
    add_out(p, None, "run folder: checkpoints, train_log.jsonl (default: the config's output_dir)")
    p.add_argument("--device", type=torch_device, help="override device (cpu, cuda, cuda:1, ...)")
    p.add_argument("--max-steps", type=int, help="override train.max_steps")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last if present")
    add_threads(p)
    add_quiet(p)


def cli_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The command-line options that replace configuration values, as dotted keys."""
    options = {
        "data.data_dir": args.data_dir,
        "output_dir": str(args.out) if args.out else None,
        "device": args.device,
        "train.max_steps": args.max_steps,
        "pretrained": getattr(args, "pretrained", None),
    }
    return {key: value for key, value in options.items() if value}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pretrain",
        help="pretrain EEGM2 (masked) reconstruction from a YAML config",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_recipe(args, "pretrain")


def run_recipe(args: argparse.Namespace, kind: str) -> int:
    """Shared body of ``pretrain`` and ``finetune``: load, override, run, print a JSON summary.

    Under ``torchrun`` (``WORLD_SIZE > 1``) it joins the process group first (gloo on CPU, NCCL on
    GPUs, ``cuda:LOCAL_RANK`` per rank); rank 0 alone shows progress and prints the summary.
    """
    import json
    import sys

    from eegssm.config import ConfigError, FinetuneConfig, PretrainConfig, load_config

    cls = PretrainConfig if kind == "pretrain" else FinetuneConfig
    try:
        cfg = load_config(args.config, cls, cli_overrides(args))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: device cuda but CUDA is not available", file=sys.stderr)
        return 2
    from eegssm.recipes import eegm2
    from eegssm.train import distributed

    env = distributed.init_distributed(device=cfg.device)
    if env.distributed:
        cfg = cfg.model_copy(update={"device": env.device})
    fn = eegm2.run_pretrain if kind == "pretrain" else eegm2.run_finetune
    try:
        summary = fn(cfg, resume=args.resume, progress=not args.quiet and env.is_main)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        distributed.cleanup()
    if env.is_main:
        print(json.dumps(summary, indent=2))
    return 0
