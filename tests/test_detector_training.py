"""Seizure-detector recipe: config validation, a tiny end-to-end run, resume, operating points,
and the bundled checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eegssm.config import ConfigError, DetectorRecipe, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]

# A few thousand parameters: the run checks the wiring, not the accuracy.
TINY = {
    "stem_channels": [8, 8],
    "tcn_channels": [8],
    "tcn_dilations": [1],
    "d_node": 8,
    "node_layers": 1,
    "node_headdim": 8,
    "edge_layers": 1,
    "d_edge": 4,
    "edge_headdim": 4,
    "readout_dim": 8,
    "decoder_channels": [8, 8, 8],
}


def tiny_recipe(root: Path, output: str = "run", **optim) -> dict:
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
        "optim": {"max_steps": 3, "eval_every": 3, "warmup_steps": 1, **optim},
        "evaluation": {"stride_s": 30.0, "n_thresholds": 9},
    }


# -- configuration ----------------------------------------------------------------------------
def test_unknown_key_is_a_clear_error(tmp_path):
    raw = tiny_recipe(tmp_path)
    raw["sampling"]["batchsize"] = 4
    raw["data"]["generate"]["copiez"] = 2
    with pytest.raises(ConfigError) as err:
        parse_config(raw, DetectorRecipe, "bad.yaml")
    msg = str(err.value)
    assert "bad.yaml" in msg
    assert "sampling.batchsize: unknown key" in msg
    assert "data.generate.copiez: unknown key" in msg


def test_bad_values_and_model_overrides_are_refused(tmp_path):
    raw = tiny_recipe(tmp_path)
    raw["model"]["overrides"] = {"d_nodes": 8}
    raw["optim"]["max_steps"] = 0
    with pytest.raises(ConfigError) as err:
        parse_config(raw, DetectorRecipe)
    assert "d_nodes" in str(err.value)
    assert "optim.max_steps" in str(err.value)
    raw = tiny_recipe(tmp_path)
    raw["evaluation"]["postprocess"] = {"on_threshold": 0.2, "off_threshold": 0.5}
    with pytest.raises(ConfigError, match="evaluation.postprocess"):
        parse_config(raw, DetectorRecipe)


def test_shipped_recipe_is_valid_and_overrides_apply():
    recipe = load_config(
        ROOT / "configs" / "detector_synthetic.yaml", DetectorRecipe, {"optim.max_steps": 7}
    )
    assert recipe.optim.max_steps == 7
    assert recipe.model.preset == "fast"
    assert (recipe.loss.alpha, recipe.loss.gamma) == (0.5, 2.0)
    assert recipe.evaluation.targets_fa_per_24h == [10.0, 5.0, 2.5, 1.0]


def test_train_command_reports_config_errors(tmp_path, capsys):
    from eegssm.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("output_dir: x\ndata: {cache_dir: y}\nmodle: {}\n")
    assert main(["train", str(bad)]) == 2
    assert "modle: unknown key" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2


# -- pieces -----------------------------------------------------------------------------------
def test_crop_batch_keeps_alignment_and_finds_seizures():
    from eegssm.recipes.detector import crop_batch

    torch.manual_seed(0)
    B, C, W, L = 6, 2, 400, 50
    t = torch.arange(W, dtype=torch.float32)
    x = t.expand(B, C, W).clone()
    y = torch.zeros(B, W)
    y[:, 300:310] = 1
    mask = torch.ones(B, W, dtype=torch.bool)
    xc, yc, mc = crop_batch(x, y, mask, L, seizure_prob=1.0)
    assert xc.shape == (B, C, L) and yc.shape == (B, L) and mc.shape == (B, L)
    starts = xc[:, 0, 0].long()
    for b in range(B):  # labels follow the signal; every crop holds seizure samples
        assert torch.equal(xc[b, 1], t[starts[b] : starts[b] + L])
        assert torch.equal(yc[b], y[b, starts[b] : starts[b] + L])
        assert yc[b].sum() > 0


def test_recordings_from_cache_hold_the_signal(tmp_path):
    from eegssm.data import WindowDataset, build_cache
    from eegssm.data.recordings import recordings_from_cache
    from eegssm.data.synthetic import make_recording, write_synthetic
    from eegssm.io.read import read_recording
    from eegssm.preprocessing.pipeline import preprocess

    kw = {"n_seizures": 1, "seed": 3, "seizure_duration_s": (10.0, 20.0)}
    write_synthetic(tmp_path / "data" / "s1" / "rec", duration_s=75.0, **kw)
    build_cache(tmp_path / "data", tmp_path / "cache", progress=False)
    (rec,) = recordings_from_cache(WindowDataset(tmp_path / "cache"))
    direct = preprocess(read_recording(tmp_path / "data" / "s1" / "rec.edf"), "seizure")
    assert rec.data.shape == direct.data.shape
    np.testing.assert_array_equal(rec.data, direct.data)
    truth = make_recording(75.0, **kw).events[0]
    on = np.flatnonzero(rec.labels)
    assert abs(on[0] / 256 - truth.start) < 0.01 and abs((on[-1] + 1) / 256 - truth.stop) < 0.01


# -- end to end -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from eegssm.recipes.detector import train_detector

    root = tmp_path_factory.mktemp("detector")
    recipe = parse_config(tiny_recipe(root), DetectorRecipe)
    summary = train_detector(recipe, progress=False)
    return root, recipe, summary


def test_tiny_run_writes_a_loadable_model_with_operating_points(trained):
    from eegssm.models.detector import SeizureDetector

    root, recipe, summary = trained
    assert summary["steps"] == 3
    model_dir = root / "run" / "model"
    model = SeizureDetector.from_pretrained(model_dir)
    assert model.config.d_node == 8 and model.n_chans == 19
    meta = json.loads((model_dir / "config.json").read_text())
    points = meta["operating_points"]
    assert [p["target_fa_per_24h"] for p in points] == [10.0, 5.0, 2.5, 1.0]
    for p in points:
        assert 0.0 < p["threshold"] < 1.0 and p["off_threshold"] <= p["threshold"]
        assert p["chosen_on"] == "dev"
        assert p["fa_per_24h"] <= p["target_fa_per_24h"] or not p["feasible"]
    assert meta["preprocess"]["preset"] == "seizure" and meta["window_s"] == 60.0
    assert meta["stride_s"] == 30.0 and meta["postprocess"]["min_duration_s"] == 3.0
    assert meta["preset"] == "fast" and meta["core"] == "mamba2" and meta["causal"] is False
    assert meta["dev"]["seizures"] == 2 and meta["training"]["train_subjects"] == 2
    log = [json.loads(line) for line in (root / "run/checkpoints/train_log.jsonl").open()]
    evals = [r["eval"] for r in log if "eval" in r]
    assert evals and {"score", "auroc", "sensitivity_at_10_fa"} <= set(evals[0])
    x = torch.randn(1, 19, 256 * 20)
    with torch.no_grad():
        assert torch.isfinite(model(x)).all()


def test_resume_continues_from_last(trained):
    from eegssm.recipes.detector import train_detector

    root, _, _ = trained
    first = json.loads((root / "run/checkpoints/last/state.json").read_text())
    assert first["step"] == 3
    recipe = parse_config(tiny_recipe(root, max_steps=5, eval_every=5), DetectorRecipe)
    summary = train_detector(recipe, resume=True, progress=False)
    assert summary["steps"] == 5
    log = [json.loads(line) for line in (root / "run/checkpoints/train_log.jsonl").open()]
    losses = [r["step"] for r in log if "loss" in r]
    assert losses.count(1) == 1  # the resumed run did not start again from step 1
    state = json.loads((root / "run/checkpoints/last/state.json").read_text())
    assert state["step"] == 5


def test_train_cli_writes_only_under_out_with_a_training_curve(tmp_path, monkeypatch):
    """No corpus_dir / cache_dir in the recipe: corpus, cache, checkpoints, curve and model all
    land under --out (the old spelling --output-dir still works), nothing in the cwd."""
    import yaml

    from eegssm.cli import main

    raw = tiny_recipe(tmp_path)
    del raw["data"]["corpus_dir"], raw["data"]["cache_dir"]
    raw["output_dir"] = "not-used"
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw))
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    out = tmp_path / "run"
    assert main(["train", str(tmp_path / "r.yaml"), "--output-dir", str(out), "-q"]) == 0
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == [
        "cache",
        "checkpoints",
        "corpus",
        "model",
        "summary.json",
    ]
    png = out / "checkpoints" / "training_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (out / "model" / "README.md").read_text()
    assert "| montage | ref19 |" in card and "## Operating points" in card
    meta = json.loads((out / "model" / "config.json").read_text())
    assert meta["input"]["montage"] == "ref19" and len(meta["input"]["channels"]) == 19
    assert meta["recipe"]["data"]["cache_dir"] == str(out / "cache")


def test_training_curve_from_a_log(tmp_path):
    from eegssm.train.curves import eval_keys, plot_training_curve, read_log

    log = tmp_path / "train_log.jsonl"
    lines = [{"step": s, "loss": 1.0 / s} for s in range(1, 41)]
    lines += [{"step": 20, "eval": {"score": 0.5, "auroc": 0.8, "sensitivity_at_10_fa": 0.5}}]
    lines += [{"step": 40, "eval": {"score": 1.0, "auroc": 0.9, "sensitivity_at_10_fa": 1.0}}]
    lines += [{"step": 40, "loss": 0.5}]  # a resumed run logs a step again: the last one wins
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    losses, evals = read_log(log)
    assert len(losses) == 40 and losses[-1] == (40, 0.5) and [s for s, _ in evals] == [20, 40]
    assert eval_keys(evals) == ["sensitivity_at_10_fa", "auroc"]
    png = plot_training_curve(log, best={"metric": "sensitivity_at_10_fa", "mode": "max"})
    assert png == tmp_path / "training_curve.png" and png.stat().st_size > 10_000
    (tmp_path / "empty.jsonl").write_text("")
    assert plot_training_curve(tmp_path / "empty.jsonl") is None


# -- the bundled checkpoint -------------------------------------------------------------------
def test_bundled_checkpoint_loads_and_detects_a_synthetic_seizure():
    from eegssm.checkpoints import checkpoint_path
    from eegssm.data.synthetic import make_recording
    from eegssm.detection import Detector
    from eegssm.inference import predict_recording
    from eegssm.preprocessing.pipeline import PreprocessConfig, preprocess
    from eegssm.preprocessing.windowing import sample_labels
    from eegssm.scoring.metrics import auroc

    path = checkpoint_path()
    assert sum(p.stat().st_size for p in path.iterdir()) < 20 * 1024 * 1024
    detector = Detector.from_checkpoint(path)
    model, meta = detector.model, detector.meta
    assert meta["preset"] == "fast" and len(meta["operating_points"]) == 4
    data = meta["recipe"]["data"]  # trained on real EEG (configs/detector_real.yaml)
    assert data["eegmat"] and data["chbmit_clips"] and meta["training"]["negative_hours"] > 1.5
    assert meta["input"]["montage"] == "double_banana" and len(meta["input"]["channels"]) == 18
    rec = make_recording(150.0, n_seizures=1, seed=12345, seizure_duration_s=(30.0, 40.0))
    pre = preprocess(rec, PreprocessConfig(**meta["preprocess"]["config"]))
    window = int(meta["window_s"] * pre.sfreq)
    probs = predict_recording(model, pre.data, window, int(meta["stride_s"] * pre.sfreq))
    assert probs.shape == (pre.data.shape[1],)
    assert np.isfinite(probs).all() and probs.min() >= 0 and probs.max() <= 1
    labels = sample_labels(rec.events, pre.data.shape[1], pre.sfreq)
    assert auroc(labels, probs) > 0.8


def test_operating_point_lookup_and_postprocess_thresholds():
    from eegssm.checkpoints import checkpoint_path
    from eegssm.detection import Detector, operating_point, with_thresholds

    meta = Detector.from_checkpoint(checkpoint_path()).meta
    point = operating_point(meta, 2.5)
    assert point["target_fa_per_24h"] == 2.5
    cfg = with_thresholds(meta["postprocess"], point)
    assert cfg.on_threshold == point["threshold"] and cfg.off_threshold == point["off_threshold"]
    with pytest.raises(ValueError, match="stored"):
        operating_point(meta, 3.0)


def test_bundled_causal_checkpoint_ignores_the_future():
    from eegssm.checkpoints import available, checkpoint_path
    from eegssm.detection import Detector

    if "causal" not in available():
        pytest.skip("no bundled causal checkpoint")
    detector = Detector.from_checkpoint(checkpoint_path("causal"))
    model, meta = detector.model, detector.meta
    assert meta["causal"] is True and model.config.causal
    torch.manual_seed(0)
    x = torch.randn(1, 19, 256 * 20)
    y = x.clone()
    y[..., 256 * 12 :] = 5 * torch.randn(1, 19, 256 * 8)  # change only the last 8 s
    with torch.no_grad():
        a, b = torch.sigmoid(model(x)), torch.sigmoid(model(y))
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a[:, : 256 * 12], b[:, : 256 * 12])
    assert not torch.allclose(a[:, 256 * 13 :], b[:, 256 * 13 :])


@pytest.mark.slow
def test_train_command_under_torchrun_two_ranks(tmp_path):
    """`torchrun --nproc_per_node=2 -m eegssm.cli train` (gloo on CPU): rank 0 alone writes
    one loadable model with operating points; the run takes the configured number of steps."""
    import shutil
    import subprocess
    import sys

    import yaml

    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    raw = {**tiny_recipe(tmp_path, max_steps=4, eval_every=2), "recipe": "detector"}
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(raw))
    done = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node=2", "-m", "eegssm.cli", "train",
         str(config), "--quiet", "--threads", "1"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 4 and len(summary["operating_points"]) == 4
    assert done.stdout.count('"model_dir"') == 1  # printed by rank 0 only
    from eegssm.models.detector import SeizureDetector

    SeizureDetector.from_pretrained(tmp_path / "run" / "model")
