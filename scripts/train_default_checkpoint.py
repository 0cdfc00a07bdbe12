"""Train the bundled seizure detector (``src/eegssm/checkpoints/default``) from one config.

Runs ``configs/detector_real.yaml`` (:mod:`eegssm.recipes.detector_real`): the out-of-fold models
(one per chb01 seizure, ``--jobs`` at a time), the operating points chosen on their out-of-fold
scores of real seizure-free EEG, then the final model on everything; copies the final model
(``model.safetensors``, ``config.json``) into the package and writes its model card
(``README.md``). From the repository root, with ``../shared/data`` beside it::

    .venv/bin/python scripts/train_default_checkpoint.py --jobs 2      # 8 models, ~1 h on 2 cores

Options: ``--config``; ``--jobs N`` folds in parallel (each with ``threads / jobs`` torch threads);
``--threads N``; ``--skip-training`` only re-copies an existing run; ``--set KEY=VALUE`` recipe
overrides (e.g. ``optim.max_steps=50`` for a smoke run); ``--quiet``. A killed run resumes where it
stopped (finished folds are kept, the training in progress continues from its last checkpoint).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "detector_real.yaml"
PACKAGE = ROOT / "src" / "eegssm" / "checkpoints" / "default"
MAX_BYTES = 20 * 1024 * 1024


def _fold(config: Path, overrides: dict, fold: int | None, threads: int, progress: bool):
    """Train out-of-fold model ``fold``, or (``None``) the final model's weights on everything."""
    import torch

    from eegssm.recipes.detector_real import (
        cross_validate,
        load_corpus,
        load_real_recipe,
        train_model,
    )

    torch.set_num_threads(threads)
    recipe = load_real_recipe(config, overrides)
    segments, bonn = load_corpus(recipe)
    if fold is None:
        out = Path(recipe.output_dir) / "final"
        train_model(recipe, segments, bonn, out, recipe.optim.seed, progress)
        return "final model"
    cross_validate(recipe, segments, bonn, progress=progress, only=[fold])
    return f"fold {fold}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--jobs", type=int, default=1, help="folds trained in parallel")
    ap.add_argument("--threads", type=int, default=2, help="torch threads in all")
    ap.add_argument("--skip-training", action="store_true", help="only copy an existing run")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument(
        "--package", type=Path, default=PACKAGE, help="where the checkpoint goes (default: bundled)"
    )
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    package = args.package

    import torch

    from eegssm.commands._args import key_value
    from eegssm.recipes.detector_real import (
        choose_points,
        cross_validate,
        load_corpus,
        load_real_recipe,
        train_final,
        write_model_card,
    )
    from eegssm.train.checkpoint import write_json_atomic

    overrides = dict(key_value(item) for item in args.set)
    recipe = load_real_recipe(args.config, overrides)
    out = Path(recipe.output_dir)
    progress = not args.quiet
    t0 = time.perf_counter()
    if not args.skip_training:
        jobs = max(1, args.jobs)
        threads = max(1, args.threads // jobs)
        # The final model's weights train beside the folds (its operating points, chosen on the
        # folds' out-of-fold scores, are attached afterwards; its training then just resumes).
        jobs_list = [None, *range(recipe.evaluation.folds)]
        with ProcessPoolExecutor(jobs) as pool:
            for done in pool.map(
                _fold, *zip(*[(args.config, overrides, i, threads, progress) for i in jobs_list])
            ):
                print(f"{done} done ({time.perf_counter() - t0:.0f} s)", flush=True)
        torch.set_num_threads(args.threads)
        segments, bonn = load_corpus(recipe)
        probs = cross_validate(recipe, segments, bonn)
        evidence = choose_points(recipe, segments, probs)
        write_json_atomic(out / "evidence.json", evidence)
        train_final(recipe, segments, bonn, evidence, progress)
    src = out / "model"
    meta = json.loads((src / "config.json").read_text())
    meta["trained_on"] = {
        "recipe_file": str(
            args.config.relative_to(ROOT) if args.config.is_absolute() else args.config
        ),
        "script": "scripts/train_default_checkpoint.py",
        "threads": args.threads,
        "jobs": args.jobs,
    }
    meta["recipe"]["output_dir"] = "<run folder>"
    package.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "model.safetensors", package / "model.safetensors")
    (package / "config.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    write_model_card(package, meta)
    size = sum(p.stat().st_size for p in package.iterdir())
    if size > MAX_BYTES:
        sys.exit(f"{package}: {size / 1e6:.1f} MB is over the 20 MB budget")
    print(f"wrote {package} ({size / 1e6:.2f} MB) in {time.perf_counter() - t0:.0f} s")
    for op in meta["operating_points"]:
        print(
            f"  {op['target_fa_per_24h']:>5g} FA/24h: threshold {op['threshold']:.3f} "
            f"(out of fold: {op['seizures_flagged']}/{op['seizures']} chb01 onsets flagged, "
            f"{op['false_alarms']} false alarms in {meta['evidence']['negative_hours']:.2f} h)"
        )


if __name__ == "__main__":
    main()
