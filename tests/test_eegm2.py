"""EEGM2: all variants forward/backward, presets, encoder features, heads, masking, optim."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from eegssm.models import (
    EEGM2,
    PRESETS,
    EEGM2Light,
    LinearProbe,
    ResidualMamba,
    count_parameters,
    mask_spans,
    span_mask,
)
from eegssm.models.eegm2_heads import temporal_statistics
from eegssm.nn import Mamba2
from eegssm.train import param_groups

#: The paper reports ≈ 4.57 M parameters for 16 channels; ours, counted exactly.
PAPER_PARAMS_16 = 4_565_144
#: EEGM2Light's MLP on the paper encoder (256 × 9 → 128 → 32 → 2).
LIGHT_PARAMS_K2 = 299_234

VARIANTS = {
    "paper": dict(preset="paper"),
    "cpu": dict(preset="cpu"),
    "cpu-single-branch": dict(preset="cpu", multi_branch=False),
    "cpu-attention": dict(preset="cpu", core="attention"),
    "paper-attention": dict(preset="paper", core="attention"),
}


def _model(variant: str, n_chans: int, seed: int = 0) -> EEGM2:
    torch.manual_seed(seed)
    kw = dict(VARIANTS[variant])
    return EEGM2.from_preset(kw.pop("preset"), n_chans=n_chans, **kw)


@pytest.fixture(scope="module")
def paper16() -> EEGM2:
    return _model("paper", 16)


@pytest.mark.parametrize("n_times", [1000, 1283], ids=lambda t: f"T{t}")
@pytest.mark.parametrize("n_chans", [16, 19], ids=lambda c: f"C{c}")
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_forward_backward(variant, n_chans, n_times):
    model = _model(variant, n_chans)
    x = torch.randn(2, n_chans, n_times)
    y = model(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    (y - x).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


def test_paper_parameter_count():
    model = EEGM2.from_preset("paper", n_chans=16)
    n = count_parameters(model)
    assert n == PAPER_PARAMS_16
    assert abs(n - 4.57e6) / 4.57e6 < 0.005  # the published ≈ 4.57 M
    mamba = sum(count_parameters(m) for m in model.modules() if isinstance(m, Mamba2))
    assert mamba == 103_032 + 2 * 1_597_632 + 403_600


def test_paper_forward_1280(paper16):
    x = torch.randn(1, 16, 1280)
    with torch.no_grad():
        y = paper16(x)
        h = paper16.encode(x)
        hm = paper16.encode(x, mediator=True)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert h.shape == (1, 256, 160) and hm.shape == (1, 256, 160)
    assert not torch.allclose(h, hm)


@pytest.mark.parametrize("n_times", [1, 7, 8, 9, 250])
def test_any_length_and_encode_shape(n_times):
    model = _model("cpu", 3)
    x = torch.randn(2, 3, n_times)
    with torch.no_grad():
        assert model(x).shape == x.shape
        assert model.encode(x).shape == (2, model.feature_dim, -(-n_times // 8))


def test_padding_is_at_the_end():
    """The start of a long window does not depend on samples far after it (padding is at the end,
    the Mamba-2 blocks are causal): cropping the input only changes the output near the cut."""
    model = _model("cpu", 4).eval()
    x = torch.randn(1, 4, 1283)
    with torch.no_grad():
        full, part = model(x), model(x[..., :1000])
    # convs (receptive field of a few samples per level) and the linear upsampling reach back
    # at most a few dozen samples from the cut
    torch.testing.assert_close(part[..., :900], full[..., :900], rtol=1e-4, atol=1e-5)


def test_batch_rows_are_independent():
    model = _model("cpu", 4).eval()
    x = torch.randn(3, 4, 200)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[1:2], model(x[1:2]), rtol=1e-4, atol=1e-5)


def test_export_cpu_preset():
    """``torch.export`` traces the model (fixed length); the program gives the same output."""
    model = _model("cpu", 4).eval()
    x = torch.randn(2, 4, 203)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))


def test_variants_structure():
    cpu = _model("cpu", 19)
    assert cpu.config.widths == (32, 64, 128) and cpu.feature_dim == 128
    assert sum(isinstance(m, ResidualMamba) for m in cpu.modules()) == 4
    assert isinstance(cpu.reconstruction_layer, nn.Conv1d)
    assert cpu.reconstruction_layer.out_channels == 19
    assert cpu.n_outputs is None and not hasattr(cpu, "final_layer")
    single = _model("cpu-single-branch", 19)
    assert isinstance(single.embedding, nn.Conv1d) and single.embedding.kernel_size == (7,)
    attn = _model("cpu-attention", 19)
    assert not any(isinstance(m, Mamba2) for m in attn.modules())
    layers = [m for m in attn.modules() if isinstance(m, nn.TransformerEncoderLayer)]
    assert [layer.self_attn.embed_dim for layer in layers] == [32, 128, 128, 64]


def test_braindecode_names_n_outputs_is_classes():
    """``n_outputs`` = classes (braindecode): logits ``(B, K)``; the reconstruction keeps the
    input's channel count whatever ``n_outputs`` is."""
    torch.manual_seed(0)
    model = EEGM2.from_preset("cpu", n_chans=5, n_outputs=3, n_times=256, sfreq=128.0)
    assert (model.n_chans, model.n_outputs, model.n_times, model.sfreq) == (5, 3, 256, 128.0)
    assert isinstance(model.final_layer, nn.Linear) and model.final_layer.out_features == 3
    x = torch.randn(2, 5, 256)
    assert model(x).shape == (2, 3)
    assert model.reconstruct(x).shape == (2, 5, 256)
    # keyword use as in braindecode
    kw = EEGM2(n_chans=4, n_outputs=2, n_times=64, sfreq=128.0, config=PRESETS["cpu"]).eval()
    assert kw(torch.randn(1, 4, 64)).shape == (1, 2)
    # a pretrained reconstruction model gets the head on top, its weights untouched
    base = _model("cpu", 5)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    assert base.add_classifier(2, head_dropout=0.3) is base
    assert base.n_outputs == 2 and base.config.head_dropout == 0.3
    for k, v in before.items():
        torch.testing.assert_close(base.state_dict()[k], v)
    assert base.eval()(x).shape == (2, 2)
    with pytest.raises(RuntimeError, match="no classification head"):
        _model("cpu", 5).classify(x)
    with pytest.raises(TypeError, match="head_"):
        _model("cpu", 5).add_classifier(2, widths=(1, 2, 3))


def test_paper_preset_reconstruction_with_braindecode_names():
    model = EEGM2.from_preset("paper", n_chans=16)
    assert count_parameters(model) == PAPER_PARAMS_16
    with torch.no_grad():
        assert model(torch.randn(2, 16, 64)).shape == (2, 16, 64)


def test_package_exports():
    import eegssm.models as models

    for name in models.__all__:
        assert getattr(models, name) is not None
    with pytest.raises(AttributeError):
        models.NoSuchModel  # noqa: B018


def test_bad_arguments():
    with pytest.raises(ValueError, match="preset"):
        EEGM2.from_preset("huge", n_chans=19)
    with pytest.raises(ValueError, match="core"):
        EEGM2(19, core="lstm")
    with pytest.raises(TypeError):
        EEGM2(19, widths_typo=(1, 2, 3))


# --- heads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 37, 160])
def test_temporal_statistics_vs_numpy(n):
    h = torch.randn(2, 3, n)
    got = temporal_statistics(h).numpy()
    a = h.double().numpy()
    want = np.stack(
        [a.min(-1), a.max(-1), a.mean(-1), (a.std(-1, ddof=1) if n > 1 else 0 * a[..., 0])]
        + [np.quantile(a, q, axis=-1) for q in (0.05, 0.25, 0.5, 0.75, 0.95)],
        axis=-1,
    )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_light_head_frozen(paper16):
    head = EEGM2Light(paper16, n_outputs=2)
    assert count_parameters(head, trainable_only=True) == LIGHT_PARAMS_K2
    assert all(not p.requires_grad for p in paper16.parameters())
    head.train()
    assert head.training and not head.encoder.training
    logits = head(torch.randn(2, 16, 256))
    assert logits.shape == (2, 2)
    logits.sum().backward()
    assert all(p.grad is None for p in paper16.parameters())
    assert all(p.grad is not None for p in head.mlp.parameters())
    assert head.final_layer.weight.grad is not None


def test_light_head_unfrozen_trains_encoder():
    model = _model("cpu", 5)
    head = EEGM2Light(model, n_outputs=3, freeze_encoder=False).train()
    assert model.training
    head(torch.randn(4, 5, 128)).sum().backward()
    assert model.enc1_block.mamba.A_log.grad is not None
    assert model.dec2_block.mamba.A_log.grad is None  # decoder unused by the head


def test_fine_head():
    model = _model("cpu", 5).add_classifier(4)
    logits = model(torch.randn(3, 5, 200))
    assert logits.shape == (3, 4)
    logits.sum().backward()
    assert model.med_block.mamba.A_log.grad is not None
    assert model.embedding.fuse.weight.grad is not None
    assert model.final_layer.weight.grad is not None
    assert model.reconstruction_layer.weight.grad is None  # the decoder is not used
    assert model.dec2_block.mamba.A_log.grad is None


def test_linear_probe():
    model = _model("cpu", 5)
    probe = LinearProbe(model, n_outputs=2).train()
    assert not model.training
    trainable = [n for n, p in probe.named_parameters() if p.requires_grad]
    assert trainable == ["final_layer.weight", "final_layer.bias"]
    logits = probe(torch.randn(4, 5, 160))
    assert logits.shape == (4, 2)
    logits.sum().backward()
    assert probe.final_layer.weight.grad is not None


# --- masking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ratio", [0.15, 0.5, 0.8])
@pytest.mark.parametrize("span", [1, 32, 128])
def test_mask_ratio_statistics(ratio, span):
    g = torch.Generator().manual_seed(0)
    mask = span_mask(512, 1280, span=span, ratio=ratio, generator=g)
    assert mask.shape == (512, 1280) and mask.dtype == torch.bool
    n_slots = -(-1280 // span) + 1
    expected = round(ratio * n_slots) / n_slots
    assert abs(mask.float().mean().item() - expected) < 0.01
    assert abs(expected - ratio) <= 0.5 / n_slots + 1e-9


def test_mask_spans_are_whole():
    """Runs of hidden samples that do not touch the window's edges are whole multiples of span."""
    g = torch.Generator().manual_seed(1)
    span = 25
    mask = span_mask(64, 1000, span=span, ratio=0.4, generator=g).numpy().astype(np.int8)
    for row in mask:
        edges = np.flatnonzero(np.diff(np.r_[0, row, 0]))
        for start, stop in zip(edges[::2], edges[1::2]):
            if start > 0 and stop < len(row):
                assert (stop - start) % span == 0


def test_mask_spans_input_and_seed():
    x = torch.randn(4, 3, 500)
    xm, mask = mask_spans(x, span=50, ratio=0.3, generator=torch.Generator().manual_seed(7))
    assert mask.shape == (4, 500) and mask.any()
    hidden = mask[:, None, :].expand_as(x)  # same spans in every channel
    assert (xm[hidden] == 0).all()
    assert torch.equal(xm[~hidden], x[~hidden])
    _, again = mask_spans(x, span=50, ratio=0.3, generator=torch.Generator().manual_seed(7))
    _, other = mask_spans(x, span=50, ratio=0.3, generator=torch.Generator().manual_seed(8))
    assert torch.equal(mask, again) and not torch.equal(mask, other)


def test_mask_per_channel_and_limits():
    x = torch.randn(2, 6, 400)
    g = torch.Generator().manual_seed(3)
    xm, mask = mask_spans(x, span=20, ratio=0.5, generator=g, per_channel=True, fill=-1.0)
    assert mask.shape == (2, 6, 400)
    assert not torch.equal(mask[0, 0], mask[0, 1])
    assert (xm[mask] == -1.0).all() and torch.equal(xm[~mask], x[~mask])
    assert not span_mask(3, 100, 10, 0.0).any()
    assert span_mask(3, 100, 10, 1.0).all()
    with pytest.raises(ValueError):
        span_mask(3, 100, 0, 0.5)
    with pytest.raises(ValueError):
        span_mask(3, 100, 10, 1.5)


class _OffsetEncoder(nn.Module):
    """Stand-in encoder whose features are a large per-channel offset plus a tiny signal.

    ``encode(x (B, 1, L))`` → ``(B, 8, L)`` = ``offset + 0.001 · x``: the class difference of the
    features (0.002) is tiny next to their offset (up to 3). On eegmat the pretrained EEGM2's
    pooled features vary ~10× less across windows than their offset, and only part of that
    variation is the class. Adam moves each weight by about ``lr`` per step, so a raw input
    difference of δ needs weight changes of order 1/δ to separate the classes.
    """

    feature_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.offset = nn.Parameter(torch.linspace(-3.0, 3.0, 8)[None, :, None])

    def encode(self, x: torch.Tensor, mediator: bool = False) -> torch.Tensor:
        return self.offset + 1e-3 * x.expand(-1, 8, -1)


class _OffsetEEGM2(EEGM2):
    """An EEGM2 with the Fine head whose features are those of ``_OffsetEncoder``."""

    def __init__(self, standardize: bool) -> None:
        super().__init__(1, widths=(8, 8, 8), headdim=8, expand=1)
        self.offset = nn.Parameter(torch.linspace(-3.0, 3.0, 8)[None, :, None])
        self.add_classifier(2, head_dropout=0.0, head_standardize=standardize)

    def encode(self, x: torch.Tensor, mediator: bool = False) -> torch.Tensor:
        return self.offset + 1e-3 * x.expand(-1, 8, -1)


def _offset_task(n: int = 32, length: int = 64):
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    x = (2.0 * y - 1.0)[:, None, None] + 0.3 * torch.randn(n, 1, length, generator=gen)
    return x, y


def _fit(head: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 60) -> float:
    """Full-batch Adam at lr 1e-3; training accuracy in eval mode after BN recomputation."""
    from eegssm.recipes.eegm2 import recompute_batchnorm

    torch.manual_seed(0)
    opt = torch.optim.Adam([p for p in head.parameters() if p.requires_grad], lr=1e-3)
    for _ in range(steps):
        head.train()
        loss = nn.functional.cross_entropy(head(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    recompute_batchnorm(head, x.numpy())
    head.eval()
    with torch.no_grad():
        return float((head(x).argmax(1) == y).float().mean())


@pytest.mark.parametrize("kind", ["light", "fine"])
def test_heads_standardize_offset_dominated_features(kind):
    """The failure behind the one-class predictions on eegmat, and its fix.

    With features whose class signal is tiny next to a common offset, the standardised head fits
    the training windows in 60 steps at lr 1e-3; the head without standardisation does not.
    """
    x, y = _offset_task()

    def make(standardize: bool) -> nn.Module:
        torch.manual_seed(0)
        if kind == "light":
            return EEGM2Light(_OffsetEncoder(), 2, standardize=standardize)
        return _OffsetEEGM2(standardize)

    assert _fit(make(True), x, y) == 1.0
    assert _fit(make(False), x, y) < 0.9


def test_head_standardization_layers():
    model = _model("cpu", 5)
    light = EEGM2Light(model, 2)
    assert isinstance(light.norm, nn.BatchNorm1d) and not light.norm.affine
    assert light.norm.num_features == model.feature_dim * 9
    fine = _model("cpu", 5).add_classifier(2)
    assert isinstance(fine.head_norm, nn.BatchNorm1d) and fine.head_norm.num_features == 2 * 128
    # as published: no norm, no extra state
    plain = EEGM2Light(_model("cpu", 5), 2, standardize=False)
    assert isinstance(plain.norm, nn.Identity)
    assert not any(k.startswith("norm.") for k in plain.state_dict())
    plain_fine = _model("cpu", 5).add_classifier(2, head_standardize=False)
    assert isinstance(plain_fine.head_norm, nn.Identity)
    # the norm adds no trainable parameters
    assert count_parameters(light, True) == count_parameters(plain, True)


def test_light_head_eval_uses_training_set_statistics():
    """After ``recompute_batchnorm`` the Light norm holds the training features' mean."""
    from eegssm.recipes.eegm2 import recompute_batchnorm

    x, _ = _offset_task(n=20)
    head = EEGM2Light(_OffsetEncoder(), 2)
    recompute_batchnorm(head, x.numpy(), batch_size=8)
    with torch.no_grad():
        feats = head.features(x)
    torch.testing.assert_close(head.norm.running_mean, feats.mean(0), rtol=1e-4, atol=1e-5)


# --- optimiser groups ------------------------------------------------------------------------


def test_param_groups():
    model = _model("cpu", 4)
    groups = param_groups(model, weight_decay=0.01)
    assert [g["weight_decay"] for g in groups] == [0.01, 0.0]
    decay, skip = (set(g["names"]) for g in groups)
    assert not decay & skip
    assert decay | skip == {n for n, _ in model.named_parameters()}
    m = "enc1_block.mamba."
    for name in ("A_log", "dt_bias", "D", "norm.weight", "conv1d.conv.bias"):
        assert m + name in skip
    for name in ("enc1_block.norm.weight", "enc2.bias", "reconstruction_layer.bias"):
        assert name in skip
    for name in (m + "in_proj.weight", m + "out_proj.weight", "enc2.weight", "med_in.weight"):
        assert name in decay
    assert all(p.ndim >= 2 for g in groups[:1] for p in g["params"])
    torch.optim.AdamW(groups, lr=1e-3)  # accepted as is

    head = EEGM2Light(model, n_outputs=2)
    names = {n for g in param_groups(head, 0.01) for n in g["names"]}
    assert names == {n for n, p in head.named_parameters() if p.requires_grad}
    assert not any(n.startswith("encoder.") for n in names)
