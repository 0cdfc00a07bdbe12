"""Bit-reproducible training on CPU (case 9 of issue 20): ``eegssm train`` built its model
before seeding, so two runs with the same seed gave different models. ``train``, ``pretrain``
and ``finetune`` now seed python, numpy and torch before building the model and the data
order; each is run twice in one process (the global RNGs in different states in between) and
the weights must be equal bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from eegssm.recipes import eegm2 as R

pytestmark = [pytest.mark.timeout(900), pytest.mark.faults]

TINY = {
    "stem_channels": [8, 8], "tcn_channels": [8], "tcn_dilations": [1], "d_node": 8,
    "node_layers": 1, "node_headdim": 8, "edge_layers": 1, "d_edge": 4, "edge_headdim": 4,
    "readout_dim": 8, "decoder_channels": [8, 8, 8],
}  # fmt: skip


def _recipe(root: Path, output: str) -> dict:
    return {
        "output_dir": str(root / output),
        "data": {
            "corpus_dir": str(root / "corpus"),
            "cache_dir": str(root / "cache"),
            "generate": {
                "eegmat_dir": None,
                "fractions": {"train": 0.5, "dev": 0.5, "eval": 0.0},
                "synthetic_subjects": 4,
                "synthetic_duration_s": 80.0,
                "synthetic_seizures": 1,
                "seizure_duration_s": [10.0, 20.0],
                "seizure_amplitude_uv": [150.0, 250.0],
            },
        },
        "model": {"preset": "fast", "overrides": TINY},
        "sampling": {"batch_size": 2, "crop_s": 10.0},
        "optim": {"max_steps": 3, "eval_every": 3, "warmup_steps": 1, "seed": 7},
        "evaluation": {"stride_s": 30.0, "n_thresholds": 9},
    }


def _disturb() -> None:
    """Move every global RNG, as other work in the same process would."""
    torch.rand(11)
    np.random.rand(5)  # noqa: NPY002 (the global state is the point)


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_train_twice_with_the_same_seed_gives_the_same_model(tmp_path):
    from eegssm.config import DetectorRecipe, parse_config
    from eegssm.recipes.detector import train_detector

    weights = []
    for run in ("first", "second"):
        _disturb()
        train_detector(parse_config(_recipe(tmp_path, run), DetectorRecipe), progress=False)
        weights.append(load_file(str(tmp_path / run / "model" / "model.safetensors")))
    assert _same(*weights)


@pytest.fixture(scope="module")
def windows():
    from eegssm.data.dataset import ArrayWindows

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 19, 512)).astype(np.float32)
    y = np.arange(16) % 2
    return ArrayWindows(x, y, np.array(["s1", "s2"] * 8), 128.0)


def test_pretrain_twice_with_the_same_seed_gives_the_same_model(windows):
    cfg = R.PretrainConfig(
        mask={"enabled": True, "span_s": 0.5, "ratio": 0.5},
        train={"max_steps": 3, "batch_size": 4, "eval_every": 0, "warmup_steps": 1, "seed": 3},
    )
    states = []
    for _ in range(2):
        _disturb()
        model, _ = R.pretrain(cfg, windows, progress=False, output_dir=None)
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    assert _same(*states)


def test_finetune_twice_with_the_same_seed_gives_the_same_model(windows):
    cfg = R.FinetuneConfig(
        head="fine",
        train={"max_steps": 3, "batch_size": 4, "eval_every": 0, "warmup_steps": 1, "seed": 3},
    )
    states = []
    for _ in range(2):
        _disturb()
        model, _ = R.finetune(cfg, windows, progress=False, output_dir=None)
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    assert _same(*states)


def test_real_detector_recipe_twice_with_the_same_seed_gives_the_same_model(tmp_path):
    """``eegssm train`` with ``recipe: detector_real``: one model trained twice (the global RNGs
    moved in between) from the same seed, in two folders."""
    from eegssm.config import RealDetectorRecipe
    from eegssm.data.seizure_examples import Segment
    from eegssm.preprocessing.montages import CHBMIT_NAMES_23
    from eegssm.recipes.detector_real import train_model

    rng = np.random.default_rng(0)
    segs = [
        Segment(f"r{i}", f"s{i}", "x", (rng.standard_normal((18, 40 * 256)) * 10).astype("f4"),
                np.zeros(40 * 256, np.uint8), 256.0, list(CHBMIT_NAMES_23[:18]), "recording", "")
        for i in range(2)
    ]  # fmt: skip
    recipe = RealDetectorRecipe(
        output_dir=str(tmp_path),
        examples={"lengths_s": [10.0], "length_weights": [1.0]},
        optim={"max_steps": 2, "steps_per_epoch": 2, "batch_size": 1, "checkpoint_every": 10},
    )
    states = []
    for run in ("first", "second"):
        _disturb()
        model, _ = train_model(recipe, segs, None, tmp_path / run, seed=5)
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    assert _same(*states)
