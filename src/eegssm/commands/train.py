"""``eegssm train CONFIG.yaml``: train the seizure detector from a recipe file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eegssm.commands._args import (
    HelpFormatter,
    add_out,
    add_quiet,
    add_threads,
    key_value,
    thread_count,
    torch_device,
)

DESCRIPTION = """\
Train the seizure detector described by a YAML recipe. `recipe: detector_real`
(configs/detector_real.yaml, the bundled detector): real seizure-free EEG with real and synthetic
seizures, one model per fold for out-of-fold operating points, then the final model in
OUTPUT/model with its model card. `recipe: detector` (configs/detector_synthetic.yaml, or your
own TUSZ corpus):
generate the corpus if the recipe asks for one, build the cache, train with focal loss on
balanced windows (AdamW, warm-up + cosine, gradient clipping, NaN guard, early stopping on the
dev sensitivity at 10 FA/24h with OVERLAP scoring), then choose thresholds for 10 / 5 / 2.5 / 1
FA/24h on dev and store them in OUT/model/config.json beside model.safetensors and a model
card (README.md).

Everything goes under OUT (--out, else the recipe's output_dir): the generated corpus
(OUT/corpus) and window cache (OUT/cache) unless the recipe names other folders,
OUT/checkpoints/{last,best}, OUT/checkpoints/train_log.jsonl, the training curve
OUT/checkpoints/training_curve.png (loss; dev sensitivity at the FA/24h point), OUT/model and
OUT/summary.json. Unknown keys in the recipe are errors; --resume continues from last.
"""

EPILOG = """\
examples:
  eegssm train configs/detector_synthetic.yaml --out runs/det
  eegssm train configs/detector_synthetic.yaml --out runs/det --resume
  eegssm train configs/detector_synthetic.yaml --device cuda --set optim.max_steps=2000
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the seizure detector from a YAML recipe",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument("config", type=Path, metavar="CONFIG.yaml", help="recipe file")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last")
    p.add_argument("--device", type=torch_device, default="cpu", help="cpu, cuda, cuda:1, ...")
    add_out(p, None, "run folder (default: the recipe's output_dir)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        type=key_value,
        metavar="KEY=VALUE",
        help="override a recipe value (dotted key, YAML value), e.g. optim.max_steps=50",
    )
    add_threads(p)
    p.add_argument(
        "--workers",
        type=thread_count,
        default=None,
        metavar="N",
        help="data-loader worker processes (default: the recipe's sampling.num_workers)",
    )
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eegssm.config import ConfigError, DetectorRecipe, RealDetectorRecipe, load_config
    from eegssm.config.base import read_yaml

    try:
        overrides = dict(args.set)
        if args.out:
            overrides["output_dir"] = str(args.out)
        kind = read_yaml(args.config).get("recipe", "detector")
        schema = RealDetectorRecipe if kind == "detector_real" else DetectorRecipe
        if args.workers and schema is DetectorRecipe:
            overrides["sampling.num_workers"] = args.workers
        recipe = load_config(args.config, schema, overrides)
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    if isinstance(recipe, RealDetectorRecipe):
        from eegssm.recipes.detector_real import train_detector_real

        evidence = train_detector_real(recipe, progress=not args.quiet)
        print(json.dumps({k: v for k, v in evidence.items() if k != "curve"}, indent=2))
        return 0
    from eegssm.recipes.detector import train_detector
    from eegssm.train import distributed

    # Under torchrun (WORLD_SIZE > 1) join the process group: gloo on CPU, NCCL on GPUs, one
    # device per rank (docs/distributed.md); a plain run is unaffected.
    env = distributed.init_distributed(device=args.device)
    device = env.device if env.world_size > 1 else args.device
    try:
        summary = train_detector(
            recipe,
            resume=args.resume,
            device=device,
            progress=not args.quiet and distributed.is_main_process(),
        )
    finally:
        distributed.cleanup()
    if env.rank == 0:
        print(json.dumps(summary, indent=2))
    return 0
