"""EEGM2 recipes: YAML config validation, pretrain/finetune commands end to end on synthetic EDFs,
resume, subject-wise folds, class weights, EEGNet and batch-norm recomputation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from eegssm.cli import main
from eegssm.config import (
    ConfigError,
    EEGM2DataConfig,
    EEGM2ModelConfig,
    FinetuneConfig,
    PretrainConfig,
    load_config,
    parse_config,
)
from eegssm.data.dataset import ArrayWindows
from eegssm.recipes import eegm2 as R

REPO = Path(__file__).resolve().parents[1]

# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kind",
    [("eegm2_pretrain_cpu.yaml", PretrainConfig), ("eegm2_finetune_cpu.yaml", FinetuneConfig)],
)
def test_shipped_configs_validate(name, kind):
    cfg = load_config(REPO / "configs" / name, kind)
    assert cfg.data.data_dir == "../shared/data/eegmat"
    assert cfg.model.preset == "cpu"


@pytest.mark.parametrize(
    "raw, where",
    [
        ({"outptu_dir": "x"}, "outptu_dir"),
        ({"train": {"max_stepz": 3}}, "train.max_stepz"),
        ({"mask": {"enabled": True, "spans": 2}}, "mask.spans"),
        ({"data": {"window": 10}}, "data.window"),
    ],
)
def test_unknown_key_is_an_error_naming_it(raw, where):
    with pytest.raises(ConfigError) as err:
        parse_config(raw, PretrainConfig, "x.yaml")
    assert f"{where}: unknown key" in str(err.value)
    assert "x.yaml" in str(err.value)


@pytest.mark.parametrize(
    "kind, raw, where",
    [
        (PretrainConfig, {"mask": {"ratio": 1.5}}, "mask.ratio"),
        (PretrainConfig, {"mask": {"loss_on": "visible"}}, "mask.loss_on"),
        (PretrainConfig, {"data": {"window_s": -1}}, "data.window_s"),
        (PretrainConfig, {"model": {"preset": "huge"}}, "model.preset"),
        (PretrainConfig, {"train": {"max_steps": 0}}, "train.max_steps"),
        (PretrainConfig, {"loss": {"alpha": 0, "beta": 0}}, "loss"),
        (FinetuneConfig, {"head": "light"}, "needs `pretrained`"),
        (FinetuneConfig, {"head": "eegnet", "pretrained": "runs/x"}, "without pretraining"),
        (FinetuneConfig, {"head": "transformer"}, "head"),
    ],
)
def test_bad_values_are_errors(kind, raw, where):
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        parse_config(raw, kind)


def test_yaml_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad, PretrainConfig)
    bad.write_text("train: {max_steps: [\n")
    with pytest.raises(ConfigError, match="cannot read YAML"):
        load_config(bad, PretrainConfig)


def test_cli_reports_unknown_key(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  max_stepz: 3\n")
    assert main(["pretrain", str(cfg)]) == 2
    assert "train.max_stepz" in capsys.readouterr().err


# -- helpers -----------------------------------------------------------------------------------


def test_labels_and_subjects_from_file_names():
    from eegssm.data.discovery import label_of, subject_of

    assert label_of("Subject00_1", {"_1": 0, "_2": 1}) == 0
    assert label_of("Subject00_2", {"_1": 0, "_2": 1}) == 1
    assert label_of("Subject00_3", {"_1": 0, "_2": 1}) is None
    assert label_of("x_12", {"_2": 0, "_12": 1}) == 1  # longest suffix wins
    regex = EEGM2DataConfig().subject_regex
    assert subject_of("Subject07_2", regex) == "Subject07"
    assert subject_of("S001R03", regex) == "S001R03"


@pytest.mark.parametrize(
    "n_subjects, n_folds, seed", [(24, 4, 0), (24, 6, 1), (7, 3, 2), (5, 5, 0)]
)
def test_subject_folds_are_disjoint_and_cover(n_subjects, n_folds, seed):
    subjects = [f"S{i:02d}" for i in range(n_subjects) for _ in range(3)]  # repeated ids
    folds = R.subject_folds(subjects, n_folds, seed)
    assert len(folds) == n_folds
    flat = [s for f in folds for s in f]
    assert sorted(flat) == sorted(set(subjects))  # each subject exactly once
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError):
        R.subject_folds(subjects, n_subjects + 1)


def test_windows_of_test_subjects_never_in_training():
    rng = np.random.default_rng(0)
    subjects = np.array([f"S{i}" for i in range(6) for _ in range(2) for _ in range(5)], object)
    y = np.array([k for _ in range(6) for k in (0, 1) for _ in range(5)])
    ws = ArrayWindows(rng.standard_normal((60, 3, 200)).astype("f4"), y, subjects, 100.0)
    for test in R.subject_folds(ws.subject.tolist(), 3):
        train = ws.of_subjects(test, exclude=True)
        held = ws.of_subjects(test)
        assert not set(train.subject) & set(held.subject)
        assert len(train) + len(held) == len(ws)
        assert set(held.y) == {0, 1}


def test_real_eegmat_folds_keep_both_recordings_of_a_subject_together(shared_data):
    from eegssm.data.discovery import subject_of

    names = sorted(p.stem for p in (shared_data / "eegmat").glob("*.edf"))
    regex = EEGM2DataConfig().subject_regex
    subjects = [subject_of(n, regex) for n in names]
    assert len(set(subjects)) == 24
    folds = R.subject_folds(subjects, 4)
    for n, s in zip(names, subjects):
        assert sum(s in f for f in folds) == 1
        assert n.startswith(s)


def test_class_weights_balance_the_classes():
    y = np.array([0] * 30 + [1] * 10)
    w = R.class_weights(y, 2)
    assert torch.allclose(w, torch.tensor([40 / 60, 40 / 20]))
    assert float((w[torch.from_numpy(y)]).sum()) == pytest.approx(40.0)
    assert R.class_weights(np.array([0, 0]), 2)[1] == 0


def test_eegnet_shapes_and_batchnorm_recompute():
    from eegssm.models.baselines_eeg import EEGNet

    torch.manual_seed(0)
    net = EEGNet(n_chans=4, n_outputs=3, sfreq=64.0)
    x = (torch.randn(10, 4, 320) * 5 + 2).numpy()
    assert net(torch.from_numpy(x)).shape == (10, 3)
    assert net(torch.randn(2, 4, 40)).shape == (2, 3)
    assert R.recompute_batchnorm(net, x, batch_size=4) == 3
    with torch.no_grad():
        h = net.temporal(torch.from_numpy(x).unsqueeze(1))
    torch.testing.assert_close(net.bn1.running_mean, h.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-4)
    assert net.bn1.momentum == 0.1  # restored
    net.apply_max_norm()
    assert net.final_layer.weight.norm(dim=1).max() <= 0.25 + 1e-6


class _FrozenFeatures(torch.nn.Module):
    """A stand-in frozen head: fixed random features, standardised, then ``final_layer``."""

    def __init__(self, c: int, f: int) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(c, f).requires_grad_(False)
        self.norm = torch.nn.BatchNorm1d(f, affine=False)
        self.final_layer = torch.nn.Linear(f, 2)

    def penultimate(self, x):
        return self.norm(self.proj(x.mean(dim=-1)))

    def forward(self, x):
        return self.final_layer(self.penultimate(x))


def test_fit_final_layer_is_the_logistic_regression_it_chose():
    from sklearn.linear_model import LogisticRegression

    from eegssm.data import ArrayWindows

    rng = np.random.default_rng(0)
    n, c = 90, 3
    y = np.array([0, 0, 1] * (n // 3))  # imbalanced 2:1
    x = (rng.normal(size=(n, c, 7)) + y[:, None, None] * np.array([1.0, 0, 0])[:, None]) * 4 + 1
    subjects = np.array([f"s{i // 9}" for i in range(n)], dtype=object)  # 10 subjects
    ws = ArrayWindows(x.astype(np.float32), y, subjects, 64.0)
    torch.manual_seed(0)
    model = _FrozenFeatures(c, 5)
    grid = (1e-3, 1e-1, 10.0)
    info = R.fit_final_layer(model, ws, c_grid=grid, inner_folds=3)
    assert set(info["inner_cv"]) == {str(g) for g in grid} and info["C"] in grid
    # BatchNorm statistics were set from the training windows
    z = R.penultimate_features(model, ws.x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    lr = LogisticRegression(C=info["C"], class_weight="balanced", max_iter=5000).fit(z, y)
    logits = R.predict_logits(model, ws.x)
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], lr.decision_function(z), atol=1e-4)
    assert R.classification_metrics(y, R.predict_proba(model, ws.x))["balanced_accuracy"] > 0.8


def test_classification_metrics():
    y = np.array([0, 0, 0, 1])
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
    m = R.classification_metrics(y, p)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["auroc"] == pytest.approx(1.0)
    assert np.isnan(R.classification_metrics(np.array([1, 1]), p[:2])["auroc"])


# -- end to end on synthetic EDFs --------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    from eegssm.data.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("synth")
    for k in (1, 2):
        write_synthetic(root / f"Subj00_{k}", duration_s=24.0, sfreq=128.0, n_seizures=0, seed=k)
    return root


def _write_cfg(path: Path, data_dir: Path, out: Path, **extra) -> Path:
    cfg = {
        "data": {"data_dir": str(data_dir), "window_s": 4.0},
        "train": {
            "max_steps": 2,
            "batch_size": 4,
            "schedule": "cosine",
            "warmup_steps": 1,
            "eval_every": 0,
            "checkpoint_every": 1,
        },
        "output_dir": str(out),
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_pretrain_finetune_resume_end_to_end(synthetic_dir, tmp_path, capsys):
    out = tmp_path / "pt"
    cfg = _write_cfg(
        tmp_path / "pt.yaml",
        synthetic_dir,
        out,
        mask={"enabled": True, "span_s": 0.5, "ratio": 0.5},
    )
    assert main(["pretrain", str(cfg), "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["recordings"] == 2 and summary["train_windows"] == 12 and summary["steps"] == 2
    last = out / "last"
    assert (last / "model.safetensors").is_file()
    meta = json.loads((last / "config.json").read_text())
    assert meta["kind"] == "eegm2" and meta["n_chans"] == 19
    assert json.loads((last / "state.json").read_text())["step"] == 2

    # resume continues from last: two more steps, step 1 is not trained again
    assert main(["pretrain", str(cfg), "--no-progress", "--resume", "--max-steps", "4"]) == 0
    capsys.readouterr()
    assert json.loads((last / "state.json").read_text())["step"] == 4
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r].count(1) == 1

    # the pretrained encoder is loaded by the finetune command, and it changes the result
    ft = _write_cfg(
        tmp_path / "ft.yaml", synthetic_dir, tmp_path / "ft", head="fine", pretrained=str(out)
    )
    assert main(["finetune", str(ft), "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 2
    ft_meta = json.loads((tmp_path / "ft" / "last" / "config.json").read_text())
    assert ft_meta["kind"] == "classifier" and ft_meta["n_classes"] == 2
    encoder = R.load_pretrained(out)
    torch.testing.assert_close(
        encoder.embedding.fuse.weight, R.load_pretrained(last).embedding.fuse.weight
    )


def test_finetune_light_head_keeps_encoder_frozen(synthetic_dir, tmp_path):
    ws = R.prepare_windows(EEGM2DataConfig(data_dir=str(synthetic_dir), window_s=4.0), tmp_path)
    assert sorted(set(ws.targets.tolist())) == [0, 1] and len(ws) == 12
    enc = R.build_eegm2(EEGM2ModelConfig(), 19)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    cfg = FinetuneConfig(
        head="light",
        pretrained="(in memory)",
        train={"max_steps": 3, "batch_size": 4, "eval_every": 0},
    )
    model, res = R.finetune(cfg, ws, ws, progress=False, output_dir=None, encoder=enc)
    assert res.step == 3
    for k, v in model.encoder.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert res.best_metric is not None  # evaluated on the validation windows


def test_finetune_logreg_probe_fits_a_calibrated_logistic_regression(synthetic_dir, tmp_path):
    """``solver: logreg``: the probe's linear layer is sklearn's logistic regression on the
    frozen, standardised features (C from the inner subject CV), the encoder is untouched, and
    ``best``/``last`` carry the solver and a temperature fitted on the validation windows."""
    from sklearn.linear_model import LogisticRegression

    ws = R.prepare_windows(EEGM2DataConfig(data_dir=str(synthetic_dir), window_s=4.0), tmp_path)
    enc = R.build_eegm2(EEGM2ModelConfig(), 19)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    cfg = FinetuneConfig(head="probe", solver="logreg", pretrained="(in memory)")
    out = tmp_path / "ft"
    model, res = R.finetune(cfg, ws, ws, progress=False, output_dir=out, encoder=enc)
    assert res.step == 0 and res.best_metric is not None
    for k, v in model.encoder.state_dict().items():
        torch.testing.assert_close(v, before[k])
    meta = json.loads((out / "best" / "config.json").read_text())
    c = meta["solver"]["C"]
    assert c in R.LOGREG_C_GRID and meta["calibration"]["method"] == "temperature"
    assert (out / "last" / "model.safetensors").is_file()
    # the fitted layer reproduces sklearn's decision function on the same features
    z = R.penultimate_features(model, ws)
    ref = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(z, ws.targets)
    w = model.final_layer.weight.detach().double().numpy()
    b = model.final_layer.bias.detach().double().numpy()
    logit_diff = z @ (w[1] - w[0]) + (b[1] - b[0])
    np.testing.assert_allclose(logit_diff, ref.decision_function(z), rtol=1e-6, atol=1e-6)
    loaded, _ = R.load_classifier(out / "best")
    torch.testing.assert_close(loaded.final_layer.weight, model.final_layer.weight)


def test_logreg_probe_with_band_power_round_trips(synthetic_dir, tmp_path):
    """``band_power: true``: the fitted probe reads encoder features and band powers, its
    checkpoint records it and reloads to the same probabilities; a bad value is named."""
    from eegssm.models.checkpoint_meta import CheckpointError

    ws = R.prepare_windows(EEGM2DataConfig(data_dir=str(synthetic_dir), window_s=4.0), tmp_path)
    enc = R.build_eegm2(EEGM2ModelConfig(), 19, ws.sfreq)
    cfg = FinetuneConfig(head="probe", solver="logreg", band_power=True, pretrained="(in memory)")
    out = tmp_path / "ft"
    model, _ = R.finetune(cfg, ws, None, progress=False, output_dir=out, encoder=enc)
    assert model.final_layer.in_features == enc.feature_dim + 19 * 6
    meta = json.loads((out / "best" / "config.json").read_text())
    assert meta["band_power"] is True
    loaded, _ = R.load_classifier(out / "best")
    x = np.stack([ws[i][0].numpy() for i in range(len(ws))])
    np.testing.assert_allclose(R.predict_proba(loaded, x), R.predict_proba(model, x), atol=1e-6)
    meta["band_power"] = "yes"
    (out / "best" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="band_power must be true or false"):
        R.load_classifier(out / "best")


def test_logreg_solver_needs_the_probe_head():
    with pytest.raises(ValueError, match="needs head 'probe'"):
        FinetuneConfig(head="fine", solver="logreg", pretrained="p")
    with pytest.raises(ValueError, match="band_power feeds the probe"):
        FinetuneConfig(head="light", band_power=True, pretrained="p")


def test_missing_data_dir_is_a_clear_error(tmp_path, capsys):
    cfg = _write_cfg(tmp_path / "pt.yaml", tmp_path / "nowhere", tmp_path / "out")
    assert main(["pretrain", str(cfg), "--no-progress"]) == 1
    assert "no recordings" in capsys.readouterr().err


def test_shallow_fbcsp_shapes_and_log_power():
    from eegssm.models.baselines_eeg import ShallowFBCSPNet

    torch.manual_seed(0)
    net = ShallowFBCSPNet(n_chans=4, n_outputs=3, sfreq=128.0).eval()
    assert (net.temporal.kernel_size, net.pool.kernel_size, net.pool.stride) == (
        (1, 13),
        (1, 38),
        (1, 8),
    )
    x = torch.randn(5, 4, 640)
    assert net(x).shape == (5, 3) and torch.isfinite(net(x)).all()
    assert net(torch.randn(2, 4, 51)).shape == (2, 3)  # shortest input: k_t + k_p
    # the features are log powers: scaling the input by 10 adds log(100) to each
    with torch.no_grad():
        net.bn.running_mean.zero_()
        net.temporal.bias.zero_()
        f1, f10 = net.features(x), net.features(10 * x)
    torch.testing.assert_close(
        f10 - f1, torch.full_like(f1, float(np.log(100.0))), atol=1e-3, rtol=0
    )
    assert R.recompute_batchnorm(net, x.numpy()) == 1
