"""``eegssm train CONFIG.yaml``: train the seizure detector from a recipe file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eegssm.commands._args import key_value, thread_count, torch_device

DESCRIPTION = """\
Train the seizure detector described by a YAML recipe. `recipe: detector_real`
(configs/detector_real.yaml, the bundled detector): real seizure-free EEG with real and synthetic
seizures, one model per fold for out-of-fold operating points, then the final model in
OUTPUT/model with its model card. `recipe: detector` (configs/detector_synthetic.yaml, or your
own TUSZ corpus):
generate the corpus if the recipe asks for one, build the window cache, train with focal loss on
balanced windows (AdamW, warm-up + cosine, gradient clipping, NaN guard, early stopping on the
dev sensitivity at 10 FA/24h with OVERLAP scoring), then choose thresholds for 10 / 5 / 2.5 / 1
FA/24h on dev and store them in OUTPUT/model/config.json beside model.safetensors.

Unknown keys in the recipe are errors. Checkpoints go to OUTPUT/checkpoints/{last,best};
--resume continues from last.
"""

EPILOG = """\
examples:
  eegssm train configs/detector_synthetic.yaml
  eegssm train configs/detector_synthetic.yaml --resume
  eegssm train configs/detector_synthetic.yaml --device cuda --set optim.max_steps=2000
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the seizure detector from a YAML recipe",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", type=Path, metavar="CONFIG.yaml", help="recipe file")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoints/last")
    p.add_argument(
        "--device", type=torch_device, default="cpu", help="cpu (default), cuda, cuda:1, ..."
    )
    p.add_argument("--output-dir", default=None, help="override the recipe's output_dir")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        type=key_value,
        metavar="KEY=VALUE",
        help="override a recipe value (dotted key, YAML value), e.g. optim.max_steps=50",
    )
    p.add_argument("--threads", type=thread_count, default=None, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eegssm.config import ConfigError, DetectorRecipe, RealDetectorRecipe, load_config
    from eegssm.config.base import read_yaml

    try:
        overrides = dict(args.set)
        if args.output_dir:
            overrides["output_dir"] = str(args.output_dir)
        kind = read_yaml(args.config).get("recipe", "detector")
        schema = RealDetectorRecipe if kind == "detector_real" else DetectorRecipe
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
