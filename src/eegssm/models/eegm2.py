"""EEGM2: a U-shaped encoder–mediator–decoder with Mamba-2 blocks (Hong et al. 2025).

Self-supervised reconstruction model for long EEG sequences. Shapes (``T`` samples, ``C`` channels,
widths ``w1, w2, w3`` = 64, 128, 256 in the paper)::

    x (B, C, T) ── pad to a multiple of 8 ──▶ embedding (multi-branch conv) ── (B, w1, T)
    encoder1: Linear(w1) + ResidualMamba(w1)              → s1 (B, w1, T)   ─┐ skip
              maxpool/2 → Conv(w1→w2, k3)                 → s2 (B, w2, T/2) ─┤ skip
              maxpool/2 → Conv(w2→w3, k3)                 → s3 (B, w3, T/4) ─┤ skip
              maxpool/2                                    →    (B, w3, T/8)  │  ← ``encode``
    mediator: Linear → ResidualMamba(w3) → Linear          →    (B, w3, T/8)  │
    decoder3: upsample ×2, cat s3, Conv(2·w3→w3, k3) + ResidualMamba(w3) (T/4)│
    decoder2: upsample ×2, cat s2, Conv(w3+w2→w2, k3) + ResidualMamba(w2) (T/2)
    decoder1: upsample ×2, cat s1, Conv(w2+w1→w1, k3)                      (T)
    reconstruction_layer: Conv 1×1 (w1 → C)  ── crop ──▶ x̂ (B, C, T)

With ``n_outputs`` classes (braindecode's meaning) the model also has a classification head on
the mediator's output (the paper's EEGM2-Fine)::

    mediator output (B, w3, T/8) ── mean ‖ max over time ──▶ (B, 2·w3) ── BatchNorm (no affine)
        ── Linear(2·w3 → hidden) ── GELU ── Dropout ── final_layer Linear(hidden → n_outputs)

and ``forward`` returns class logits ``(B, n_outputs)``; ``reconstruct`` always returns ``x̂``.

Upsampling is linear interpolation to the skip's length. As in the public reference code, the
convolutions have no activation between them: the non-linearity comes from the Mamba-2 blocks
(SiLU gates inside) and the max-pooling.

Parameters (``paper`` preset, 16 channels): **4,565,144** — the paper reports ≈ 4.57 M. The count
matches because ``eegssm.nn.Mamba2`` has exactly the parameters of ``mamba_ssm.Mamba2`` with the
paper's settings (``d_state 16, d_conv 2, expand 8, headdim 64, ngroups 1``, no projection biases,
conv bias, gated RMSNorm): 103,032 (w=64) + 1,597,632 (w=256, two of them) + 403,600 (w=128) in the
four Mamba-2 blocks, 1,408 in their LayerNorms, 861,840 in the convolutions and linear layers.
``cpu`` preset (widths 32/64/128, expand 2, headdim 32, d_state 16), 19 channels: 465,045; one
forward + backward on ``(8, 19, 1280)`` (eight 10 s windows at 128 Hz) takes 0.24 s on 2 CPU cores
(best of 10; median 0.8 s on a shared, loaded machine) — ~40 min of EEG is 30 such batches, so an
epoch takes well under a minute. The ``paper`` preset on ``(8, 16, 1280)``: 2.1 s (best of 5).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eegssm.nn.mamba2 import DEFAULT_CHUNK_SIZE, Mamba2

#: Total downsampling of the encoder (three max-pools of 2); inputs are padded to a multiple.
DOWNSAMPLE = 8


@dataclass(frozen=True)
class EEGM2Config:
    """Architecture of an EEGM2 model (everything but the signal's channel count).

    Attributes:
        widths: feature widths ``(w1, w2, w3)`` of the three encoder stages.
        d_state, d_conv, expand, headdim, ngroups, chunk_size: Mamba-2 settings (``eegssm.nn``).
        multi_branch: multi-branch input embedding (kernels 1, 3, 7 → fuse); False uses one
            Conv1d with kernel 7 (the ablation).
        core: ``"mamba2"`` or ``"attention"`` (each Mamba-2 block replaced by a pre-norm
            Transformer encoder layer of the same width; heads = width / headdim, feed-forward
            width = expand · width).
        dropout: dropout inside the attention layers (the Mamba-2 path has none).
        head_hidden, head_dropout: hidden width and dropout of the classification head (used
            only with ``n_outputs``).
        head_mediator: the head pools the mediator's output (True) or the encoder's (False).
        head_standardize: affine-free BatchNorm on the pooled features before the head's MLP (a
            deviation from the paper, see ``eegm2_heads``); False = no normalisation.
    """

    widths: tuple[int, int, int] = (64, 128, 256)
    d_state: int = 16
    d_conv: int = 2
    expand: int = 8
    headdim: int = 64
    ngroups: int = 1
    chunk_size: int = DEFAULT_CHUNK_SIZE
    multi_branch: bool = True
    core: str = "mamba2"
    dropout: float = 0.0
    head_hidden: int = 128
    head_dropout: float = 0.1
    head_mediator: bool = True
    head_standardize: bool = True


#: Named configurations. ``paper``: the published model. ``cpu``: narrow enough to pretrain on
#: ~40 min of EEG in minutes on 2 CPU cores.
PRESETS: dict[str, EEGM2Config] = {
    "paper": EEGM2Config(),
    "cpu": EEGM2Config(widths=(32, 64, 128), d_state=16, d_conv=2, expand=2, headdim=32),
}


class MultiBranchEmbedding(nn.Module):
    """Parallel convolutions with several receptive fields, fused by a 1×1 convolution.

    ``(B, C, T)`` → ``cat[conv_k(x) for k in kernels]`` ``(B, n·width, T)`` → ``(B, width, T)``.
    """

    def __init__(self, n_chans: int, width: int, kernels: tuple[int, ...] = (1, 3, 7)) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv1d(n_chans, width, k, padding=k // 2) for k in kernels)
        self.fuse = nn.Conv1d(len(kernels) * width, width, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fuse(torch.cat([branch(x) for branch in self.branches], dim=1))


class ResidualMamba(nn.Module):
    """``x + LayerNorm(Mamba2(x))`` on ``(B, L, d_model)``."""

    def __init__(self, d_model: int, **mamba_kwargs) -> None:
        super().__init__()
        self.mamba = Mamba2(d_model, **mamba_kwargs)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.norm(self.mamba(x))


def make_sequence_block(d_model: int, cfg: EEGM2Config) -> nn.Module:
    """One sequence block on ``(B, L, d_model)``: ``ResidualMamba`` or a Transformer layer.

    The Transformer layer (``nn.TransformerEncoderLayer``, batch-first, pre-norm, attention via
    ``scaled_dot_product_attention``) already carries its own residuals and norms, so it replaces
    the whole ``x + LayerNorm(Mamba2(x))`` unit.
    """
    if cfg.core == "mamba2":
        return ResidualMamba(
            d_model,
            d_state=cfg.d_state,
            d_conv=cfg.d_conv,
            expand=cfg.expand,
            headdim=cfg.headdim,
            ngroups=cfg.ngroups,
            chunk_size=cfg.chunk_size,
        )
    if cfg.core == "attention":
        return nn.TransformerEncoderLayer(
            d_model,
            nhead=max(1, d_model // cfg.headdim),
            dim_feedforward=cfg.expand * d_model,
            dropout=cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
    raise ValueError(f"core must be 'mamba2' or 'attention', got {cfg.core!r}")


def _seq(block: nn.Module, x: Tensor) -> Tensor:
    """Apply a ``(B, L, D)`` block to a ``(B, D, L)`` signal."""
    return block(x.transpose(1, 2)).transpose(1, 2)


def _upsample_to(x: Tensor, ref: Tensor) -> Tensor:
    """Linear interpolation of ``x (B, D, L)`` to ``ref``'s length."""
    return F.interpolate(x, size=ref.shape[-1], mode="linear", align_corners=False)


class EEGM2(nn.Module):
    """EEGM2 with braindecode's argument names.

    ``EEGM2(n_chans)`` is the self-supervised reconstruction model:
    ``(B, n_chans, T)`` → ``(B, n_chans, T)`` for any ``T ≥ 1``. ``EEGM2(n_chans, n_outputs=K)``
    adds the classification head (module docstring) and ``forward`` returns class logits
    ``(B, K)``; :meth:`reconstruct` gives the reconstruction either way, and
    :meth:`add_classifier` puts a head on a pretrained reconstruction model.

    Args:
        n_chans: input EEG channels ``C`` (the reconstruction has the same count).
        n_outputs: classes ``K``, or None for the reconstruction model.
        n_times: window length in samples (optional, informational; any length is accepted).
        sfreq: sampling rate in Hz (optional, informational).
        config: architecture (default: the ``paper`` preset); keyword arguments override fields,
            e.g. ``EEGM2(19, core="attention")``.

    Inputs are zero-padded at the end to a multiple of 8 samples and the output cropped back, so
    the last ``< 8`` output samples see a little padding through the convolutions.
    """

    def __init__(
        self,
        n_chans: int,
        n_outputs: int | None = None,
        n_times: int | None = None,
        sfreq: float | None = None,
        config: EEGM2Config | None = None,
        **overrides,
    ) -> None:
        super().__init__()
        cfg = replace(config or EEGM2Config(), **overrides)
        if cfg.core not in ("mamba2", "attention"):
            raise ValueError(f"core must be 'mamba2' or 'attention', got {cfg.core!r}")
        self.n_chans, self.n_outputs = n_chans, None
        self.n_times, self.sfreq = n_times, sfreq
        self.config = cfg
        w1, w2, w3 = cfg.widths

        if cfg.multi_branch:
            self.embedding = MultiBranchEmbedding(n_chans, w1)
        else:
            self.embedding = nn.Conv1d(n_chans, w1, 7, padding=3)
        # encoder
        self.enc1_proj = nn.Linear(w1, w1)
        self.enc1_block = make_sequence_block(w1, cfg)
        self.enc2 = nn.Conv1d(w1, w2, 3, padding=1)
        self.enc3 = nn.Conv1d(w2, w3, 3, padding=1)
        self.pool = nn.MaxPool1d(2)
        # mediator (bottleneck)
        self.med_in = nn.Linear(w3, w3)
        self.med_block = make_sequence_block(w3, cfg)
        self.med_out = nn.Linear(w3, w3)
        # decoder
        self.dec3 = nn.Conv1d(w3 + w3, w3, 3, padding=1)
        self.dec3_block = make_sequence_block(w3, cfg)
        self.dec2 = nn.Conv1d(w2 + w3, w2, 3, padding=1)
        self.dec2_block = make_sequence_block(w2, cfg)
        self.dec1 = nn.Conv1d(w1 + w2, w1, 3, padding=1)
        self.reconstruction_layer = nn.Conv1d(w1, n_chans, 1)
        if n_outputs is not None:
            self.add_classifier(n_outputs)

    @classmethod
    def from_preset(cls, name: str, n_chans: int, **kwargs) -> EEGM2:
        """Build a named configuration (``"paper"`` or ``"cpu"``); kwargs as in ``__init__``."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        return cls(n_chans, config=PRESETS[name], **kwargs)

    def add_classifier(self, n_outputs: int, **head_overrides) -> EEGM2:
        """Add (or replace) the classification head for ``n_outputs`` classes; returns ``self``.

        ``head_overrides`` set the ``head_*`` fields of the config (e.g. ``head_dropout=0.3``).
        The encoder, mediator and decoder keep their (e.g. pretrained) weights.
        """
        if not n_outputs >= 1:
            raise ValueError(f"n_outputs must be a positive number of classes, got {n_outputs}")
        bad = sorted(k for k in head_overrides if not k.startswith("head_"))
        if bad:
            raise TypeError(f"add_classifier takes only head_* settings, got {bad}")
        self.config = cfg = replace(self.config, **head_overrides)
        width = 2 * self.feature_dim
        self.head_norm = (
            nn.BatchNorm1d(width, affine=False) if cfg.head_standardize else nn.Identity()
        )
        self.classifier = nn.Sequential(
            nn.Linear(width, cfg.head_hidden), nn.GELU(), nn.Dropout(cfg.head_dropout)
        )
        self.final_layer = nn.Linear(cfg.head_hidden, n_outputs)
        self.n_outputs = n_outputs
        return self

    @property
    def feature_dim(self) -> int:
        """Width of ``encode``'s output (256 in the paper)."""
        return self.config.widths[2]

    def _pad(self, x: Tensor) -> Tensor:
        pad = -x.shape[-1] % DOWNSAMPLE
        return F.pad(x, (0, pad)) if pad else x

    def _encoder(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
        """``x (B, C, T8)`` with ``T8 % 8 == 0`` → ``(h (B, w3, T8/8), skips (s1, s2, s3))``."""
        h = self.embedding(x).transpose(1, 2)  # (B, T, w1)
        s1 = self.enc1_block(self.enc1_proj(h)).transpose(1, 2)  # (B, w1, T)
        s2 = self.enc2(self.pool(s1))  # (B, w2, T/2)
        s3 = self.enc3(self.pool(s2))  # (B, w3, T/4)
        return self.pool(s3), (s1, s2, s3)  # (B, w3, T/8)

    def _mediator(self, h: Tensor) -> Tensor:
        """``(B, w3, L)`` → ``(B, w3, L)``."""
        u = h.transpose(1, 2)  # (B, L, w3)
        return self.med_out(self.med_block(self.med_in(u))).transpose(1, 2)

    def encode(self, x: Tensor, mediator: bool = False) -> Tensor:
        """Encoder features of a signal.

        Args:
            x: ``(B, n_chans, T)``.
            mediator: also run the mediator (the bottleneck Mamba-2) on the features.

        Returns:
            ``(B, w3, ceil(T / 8))`` — ``(B, 256, T/8)`` for the paper preset.
        """
        h, _ = self._encoder(self._pad(x))
        return self._mediator(h) if mediator else h

    def reconstruct(self, x: Tensor) -> Tensor:
        """Reconstruct ``x (B, n_chans, T)`` → ``(B, n_chans, T)``."""
        n_times = x.shape[-1]
        h, (s1, s2, s3) = self._encoder(self._pad(x))
        h = self._mediator(h)  # (B, w3, T/8)
        d3 = self.dec3(torch.cat([s3, _upsample_to(h, s3)], dim=1))  # (B, w3, T/4)
        d3 = _seq(self.dec3_block, d3)
        d2 = self.dec2(torch.cat([s2, _upsample_to(d3, s2)], dim=1))  # (B, w2, T/2)
        d2 = _seq(self.dec2_block, d2)
        d1 = self.dec1(torch.cat([s1, _upsample_to(d2, s1)], dim=1))  # (B, w1, T)
        return self.reconstruction_layer(d1)[..., :n_times]

    def classify(self, x: Tensor) -> Tensor:
        """Class logits ``(B, n_outputs)`` of ``x (B, n_chans, T)`` (needs ``n_outputs``)."""
        if self.n_outputs is None:
            raise RuntimeError(
                "this EEGM2 has no classification head: build it with n_outputs=K or call "
                "add_classifier(K)"
            )
        h = self.encode(x, mediator=self.config.head_mediator)  # (B, w3, T/8)
        pooled = torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=-1)  # (B, 2·w3)
        return self.final_layer(self.classifier(self.head_norm(pooled)))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``(B, n_outputs)`` with a head, else the reconstruction ``(B, C, T)``."""
        return self.reconstruct(x) if self.n_outputs is None else self.classify(x)

    def extra_repr(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())
        return f"n_chans={self.n_chans}, n_outputs={self.n_outputs}, {fields}"


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
