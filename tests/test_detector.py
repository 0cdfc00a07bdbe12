"""SeizureDetector presets × cores × causal flag, causality, electrode weight sharing, save/load,
and the SeizureTransformer baseline."""

from __future__ import annotations

import os

import pytest
import torch

from eegssm.models.baselines import SeizureTransformerBaseline
from eegssm.models.detector import DetectorConfig, SeizureDetector

# bgb-v4 runs its 12 M-parameter TCN at the input rate: keep its windows short in the default run
SIZES = {"fast": (2, 2048), "bgb-v4": (1, 512)}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _cases():
    """Every preset × core × causal × montage; bgb-v4 on 22/23 channels only in the slow run
    (its channel count only changes the width of one projection)."""
    for preset in ("fast", "bgb-v4"):
        for core in ("mamba2", "gated_deltanet"):
            for causal in (False, True):
                for n_chans in (19, 22, 23):
                    slow = preset == "bgb-v4" and n_chans != 19
                    yield pytest.param(
                        preset,
                        core,
                        causal,
                        n_chans,
                        marks=pytest.mark.slow if slow else (),
                        id=f"{preset}-{core}-{'causal' if causal else 'bidir'}-{n_chans}",
                    )


@pytest.mark.parametrize("preset,core,causal,n_chans", list(_cases()))
def test_forward_backward(preset, core, causal, n_chans):
    torch.manual_seed(0)
    batch, n_times = SIZES[preset]
    model = SeizureDetector.from_preset(preset, n_chans=n_chans, core=core, causal=causal)
    x = torch.randn(batch, n_chans, n_times)
    y = model(x)
    assert y.shape == (batch, n_times)
    assert bool(torch.isfinite(y).all())
    y.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing}"
    for name, p in model.named_parameters():
        assert bool(torch.isfinite(p.grad).all()), name
    assert isinstance(model.final_layer, torch.nn.Conv1d)


@pytest.mark.parametrize("preset", ["fast", "bgb-v4"])
def test_any_window_length(preset):
    model = SeizureDetector.from_preset(preset).eval()
    with torch.inference_mode():
        assert model(torch.randn(1, 19, 1000)).shape == (1, 1000)  # not a multiple of the stride


@pytest.mark.parametrize("core", ["mamba2", "gated_deltanet"])
@pytest.mark.parametrize("preset", ["fast", "bgb-v4"])
def test_causal_output_ignores_the_future(preset, core):
    """Causal mode: the logit at sample t depends only on samples < t (the decoder sees the
    previous frame, so no decoder look-ahead needs to be allowed for). The bidirectional model,
    checked the same way, does change: the test can fail."""
    torch.manual_seed(0)
    n_times = 1024
    t0 = 700  # inside a frame for both strides (16, 64)
    x = torch.randn(1, 19, n_times)
    x2 = x.clone()
    x2[..., t0:] = torch.randn(1, 19, n_times - t0)
    for causal in (True, False):
        model = SeizureDetector.from_preset(preset, core=core, causal=causal).eval()
        with torch.no_grad():
            y, y2 = model(x), model(x2)
        if causal:
            torch.testing.assert_close(y[:, :t0], y2[:, :t0], atol=1e-5, rtol=1e-5)
            assert float((y[:, t0 + 64 :] - y2[:, t0 + 64 :]).abs().max()) > 1e-4
        else:
            assert float((y[:, :t0] - y2[:, :t0]).abs().max()) > 1e-4


def test_fast_weights_shared_across_electrodes():
    """Permuting the electrodes permutes the per-electrode features (front end + node stream)."""
    torch.manual_seed(0)
    model = SeizureDetector.from_preset("fast").eval()
    x = torch.randn(2, 19, 2048)
    perm = torch.randperm(19)
    with torch.no_grad():
        e, e_p = model.electrode_features(x), model.electrode_features(x[:, perm])
        h, h_p = model.node_features(e), model.node_features(e_p)
    assert e.shape == (2, 19, 2048 // 64, 32)
    torch.testing.assert_close(e_p, e[:, perm], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h_p, h[:, perm], atol=1e-5, rtol=1e-5)


def test_fast_logits_invariant_to_electrode_order():
    """The graph is built from features alone and the heat-kernel PE permutes with the nodes, so
    the whole model is invariant to electrode order (the published eigenvector PE is not: its
    eigenvectors are only defined up to rotations inside repeated eigenvalues)."""
    torch.manual_seed(0)
    model = SeizureDetector.from_preset("fast").eval()
    assert model.config.pe_kind == "heat"
    x = torch.randn(2, 19, 2048)
    perm = torch.randperm(19)
    with torch.no_grad():
        torch.testing.assert_close(model(x[:, perm]), model(x), atol=1e-4, rtol=1e-4)


def test_fast_runs_on_any_montage():
    model = SeizureDetector.from_preset("fast", n_chans=19).eval()
    with torch.no_grad():
        for c in (19, 22, 23, 4):
            assert model(torch.randn(1, c, 1024)).shape == (1, 1024)
    bgb = SeizureDetector.from_preset("bgb-v4", n_chans=19)
    with pytest.raises(ValueError, match="expected 19 channels"):
        bgb(torch.randn(1, 22, 512))


def test_fast_is_small():
    for core in ("mamba2", "gated_deltanet"):
        model = SeizureDetector.from_preset("fast", core=core)
        assert 4 * n_params(model) < 5e6  # float32 weights under 5 MB


def test_bgb_v4_shapes():
    model = SeizureDetector.from_preset("bgb-v4", n_chans=19)
    assert model.config.stride == 16
    assert model.encoder.tcn.dilations == tuple(2**i for i in range(8))
    assert model.to_electrodes.out_features == 19 * 64
    with torch.no_grad():
        e = model.electrode_features(torch.randn(1, 19, 512))
    assert e.shape == (1, 19, 32, 64)


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = SeizureDetector.from_preset("fast", n_chans=22, n_times=2048, core="gated_deltanet")
    model.eval()
    path = model.save_pretrained(tmp_path / "det")
    assert sorted(os.listdir(path)) == ["README.md", "config.json", "model.safetensors"]  # no temp
    loaded = SeizureDetector.from_pretrained(path).eval()
    assert loaded.config == model.config
    assert (loaded.n_chans, loaded.n_times, loaded.sfreq) == (22, 2048, 256.0)
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    x = torch.randn(1, 22, 2048)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    model.save_pretrained(path)  # overwriting in place works
    assert sorted(os.listdir(path)) == ["README.md", "config.json", "model.safetensors"]


def test_checkpoint_saved_before_pe_kind_loads_with_eigenvectors(tmp_path):
    """Configs written before ``pe_kind`` existed were trained with the eigenvector PE."""
    import json

    torch.manual_seed(0)
    path = SeizureDetector.from_preset("fast", pe_kind="laplacian").save_pretrained(tmp_path / "d")
    meta = json.loads((path / "config.json").read_text())
    del meta["config"]["pe_kind"]
    (path / "config.json").write_text(json.dumps(meta))
    assert SeizureDetector.from_pretrained(path).config.pe_kind == "laplacian"
    assert SeizureDetector.from_preset("bgb-v4", n_chans=19).config.pe_kind == "laplacian"


def test_config_errors():
    with pytest.raises(ValueError, match="unknown preset"):
        SeizureDetector.from_preset("nope")
    with pytest.raises(ValueError, match="core"):
        SeizureDetector.from_preset("fast", core="lstm")
    with pytest.raises(ValueError, match="stride"):
        DetectorConfig(decoder_factors=(4, 4, 2))
    with pytest.raises(ValueError, match="pe_kind"):
        DetectorConfig(pe_kind="eigen")


def test_baseline_forward_backward():
    torch.manual_seed(0)
    model = SeizureTransformerBaseline(n_chans=19, n_times=2048)
    x = torch.randn(2, 19, 2048)
    y = model(x)
    assert y.shape == (2, 2048) and bool(torch.isfinite(y).all())
    y.square().mean().backward()
    assert all(
        p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in model.parameters()
    )
    assert len(model.transformer.layers) == 8
    layer = model.transformer.layers[0]
    assert layer.self_attn.embed_dim == 512 and layer.self_attn.num_heads == 4
    assert layer.linear1.out_features == 2048
    with torch.no_grad():  # odd lengths: same-padding pools, output length preserved
        assert model.eval()(torch.randn(1, 19, 2001)).shape == (1, 2001)


def test_baseline_full_window():
    model = SeizureTransformerBaseline().eval()
    assert 37e6 < n_params(model) < 39e6
    with torch.inference_mode():
        y = model(torch.randn(1, 19, 15360))
    assert y.shape == (1, 15360) and bool(torch.isfinite(y).all())


@pytest.mark.slow
@pytest.mark.parametrize("core", ["mamba2", "gated_deltanet"])
def test_bgb_v4_full_window(core):
    model = SeizureDetector.from_preset("bgb-v4", n_chans=19, n_times=15360, core=core).eval()
    x = torch.randn(1, 19, 15360)
    with torch.inference_mode():
        assert model.electrode_features(x).shape == (1, 19, 960, 64)
        y = model(x)
    assert y.shape == (1, 15360) and bool(torch.isfinite(y).all())
