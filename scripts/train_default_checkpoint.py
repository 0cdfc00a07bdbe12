"""Train the bundled default seizure-detector checkpoint (``src/eegssm/checkpoints/default``).

Runs the recipe ``configs/detector_synthetic.yaml`` (synthetic seizures on real eegmat backgrounds,
``fast`` preset) and copies the final model (``model.safetensors`` + ``config.json`` with the
dev-chosen operating points) into the package. Rerun from the repository root::

    .venv/bin/python scripts/train_default_checkpoint.py --threads 2            # ~5 min
    .venv/bin/python scripts/train_default_checkpoint.py --threads 2 --causal   # ~3 min

Options: ``--causal`` trains the causal (live-monitoring) variant into ``checkpoints/causal``;
``--device cuda``; ``--threads N``; ``--max-steps N``; ``--resume``; ``--skip-training`` only
copies an existing run.
Needs ``../shared/data/eegmat`` (PhysioNet eegmat) for the backgrounds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "detector_synthetic.yaml"
PACKAGE = ROOT / "src" / "eegssm" / "checkpoints"
MAX_BYTES = 20 * 1024 * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--causal", action="store_true", help="train the causal variant")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--skip-training", action="store_true")
    ap.add_argument("--max-steps", type=int, default=None, help="override optim.max_steps")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    from eegssm.config import DetectorRecipe, load_config
    from eegssm.detection import Detector
    from eegssm.recipes.detector import train_detector

    torch.set_num_threads(args.threads)
    name = "causal" if args.causal else "default"
    overrides = {"output_dir": f"experiments/.cache/detector/{name}_run"}
    if args.causal:
        overrides["model.causal"] = True
    if args.max_steps:
        overrides["optim.max_steps"] = args.max_steps
    recipe = load_config(args.config, DetectorRecipe, overrides)
    run = Path(recipe.output_dir)
    t0 = time.perf_counter()
    if not args.skip_training:
        train_detector(recipe, resume=args.resume, device=args.device, progress=not args.quiet)
    src = run / "model"
    meta = json.loads((src / "config.json").read_text())
    meta["trained_on"] = {
        "summary": (
            recipe.description.replace("bidirectional", "causal")
            if args.causal
            else recipe.description
        ),
        "recipe_file": str(
            args.config.relative_to(ROOT) if args.config.is_absolute() else args.config
        ),
        "backgrounds": "PhysioNet eegmat 1.0.0 (Zyma et al. 2019, ODC-By 1.0), seizure-free",
        "seizures": "synthetic (eegssm.data.synthetic.seizure_field), not real patient seizures",
        "train_hours": meta["training"]["train_hours"],
        "train_subjects": meta["training"]["train_subjects"],
        "dev_hours": meta["dev"]["hours"],
        "dev_seizures": meta["dev"]["seizures"],
        "script": "scripts/train_default_checkpoint.py",
        "threads": args.threads,
        "device": args.device,
    }
    meta["training"].pop("cache", None)
    meta["recipe"]["output_dir"] = "<run folder>"
    dst = PACKAGE / name
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "model.safetensors", dst / "model.safetensors")
    (dst / "config.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    size = sum(p.stat().st_size for p in dst.iterdir())
    if size > MAX_BYTES:
        raise SystemExit(f"{dst}: {size / 1e6:.1f} MB is over the 20 MB budget")
    model = Detector.from_checkpoint(dst).model
    x = torch.randn(1, model.n_chans, 256 * 10)
    with torch.no_grad():
        p = torch.sigmoid(model(x))
    assert torch.isfinite(p).all(), "the bundled model gives non-finite probabilities"
    print(f"wrote {dst} ({size / 1e6:.2f} MB) in {time.perf_counter() - t0:.0f} s")
    for op in meta["operating_points"]:
        print(
            f"  {op['target_fa_per_24h']:>5g} FA/24h: threshold {op['threshold']:.3f} "
            f"(dev sensitivity {op['sensitivity']:.2f}, FA/24h {op['fa_per_24h']:.1f})"
        )


if __name__ == "__main__":
    main()
