"""Classification heads on a frozen (pretrained) EEGM2: Light and a linear probe.

Both take ``x (B, n_chans, T)`` and return class logits ``(B, n_outputs)``; the last layer is
``final_layer``.

- ``EEGM2Light``: frozen encoder → per-feature-channel statistics → small MLP (the paper's EEGM2-L).
- ``LinearProbe``: frozen encoder, pooled features, one linear layer.

The paper's EEGM2-Fine (encoder + mediator fine-tuned end to end, pooled classifier) is EEGM2's
own head: ``EEGM2(n_chans, n_outputs=K)``, or ``model.add_classifier(K)`` on a pretrained model
(``eegssm.models.eegm2``).

**Reading of the Light head.** The paper (Hong et al. 2025) describes it as: encoder to T/8,
per-channel 9 statistics (min, max, mean, std, 5/25/50/75/95 % quantiles) → MLP 128→32→classes
(0.25 M parameters). The channels at
T/8 are the encoder's ``w3 = 256`` feature channels (the EEG channels no longer exist there), so the
head summarises each feature channel over time: ``256 × 9 = 2304`` features → 128 → 32 → K. Its
trainable parameters: ``2304·128+128 + 128·32+32 + 32·K+K`` = **299,234** for K = 2 (0.30 M), a
little above the published 0.25 M. Per-EEG-channel statistics of the input (``9·C``, e.g. 144 for
16 channels) would give ~23 k parameters, far further from 0.25 M, so the feature-channel reading is
the one consistent with the published size; the remaining 0.05 M gap is not explained by the
description (8 statistics would give 0.27 M, 7 give 0.23 M) and the public code does not include
this head.

**Deviation: standardised features (Light and Fine).** Both heads (Light here, Fine in
``EEGM2``) put a BatchNorm without affine parameters (feature standardisation, like
``LinearProbe``) between the pooled encoder features and their MLP; the paper does not describe
one. Reason (measured on eegmat, see
``docs/results/eegm2.md``): the encoder's pooled features vary far less across windows than their
common offset (median across-window std 0.027 vs median |value| 0.26 for the Light statistics), so
an MLP on the raw features sees almost the same input for every window. Without the
standardisation the Light head could not fit even 24 training windows in 60 steps, and Fine
trained on a full fold predicted one class on the training windows themselves after 150 steps;
with it both fit their training sets. ``standardize=False`` (``head_standardize=False`` for
Fine) gives the head as published (the parameter counts above do not change: the norm has no
parameters, only running statistics, which ``recipes.eegm2.recompute_batchnorm`` sets from the
training windows before scoring).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from eegssm.models.band_power import BandPower
from eegssm.models.eegm2 import EEGM2

#: Quantiles (in [0, 1]) used by ``temporal_statistics``.
QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)
#: Number of statistics per channel: min, max, mean, std and the quantiles.
N_STATS = 4 + len(QUANTILES)


def temporal_statistics(h: Tensor) -> Tensor:
    """Nine statistics of each channel over time.

    Args:
        h: ``(B, D, L)``.

    Returns:
        ``(B, D, 9)`` float32: min, max, mean, std (unbiased; 0 when ``L = 1``), then the 5, 25,
        50, 75 and 95 % quantiles (linear interpolation, as ``numpy.quantile``). Computed from one
        sort, so it has no size limit (``torch.quantile`` refuses inputs over 16 M elements).
    """
    h = h.float()
    n = h.shape[-1]
    s = h.sort(dim=-1).values  # (B, D, L)
    pos = torch.tensor(QUANTILES, device=h.device) * (n - 1)  # (5,)
    lo = pos.floor().long()
    hi = (lo + 1).clamp_max(n - 1)
    frac = pos - lo
    quant = s[..., lo] * (1 - frac) + s[..., hi] * frac  # (B, D, 5)
    std = h.std(dim=-1) if n > 1 else torch.zeros_like(h[..., 0])
    basic = torch.stack([s[..., 0], s[..., -1], h.mean(dim=-1), std], dim=-1)
    return torch.cat([basic, quant], dim=-1)


def _freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


class EEGM2Light(nn.Module):
    """Frozen EEGM2 encoder (to T/8) → 9 statistics per feature channel → MLP.

    Args:
        encoder: an ``EEGM2`` (only its encoder runs: ``encoder.encode(x)``).
        n_outputs: classes ``K``.
        hidden: MLP widths (paper: 128, 32).
        freeze_encoder: freeze the encoder's parameters and keep it in eval mode (the paper's
            setting); False fine-tunes it through the statistics.
        dropout: dropout before each hidden layer.
        standardize: affine-free BatchNorm on the ``w3 · 9`` statistics before the MLP (a
            deviation from the paper, see the module docstring); False = as published.

    Shapes: ``x (B, n_chans, T)`` → features ``(B, w3 · 9)`` → standardised → logits ``(B, K)``.
    """

    def __init__(
        self,
        encoder: EEGM2,
        n_outputs: int,
        hidden: tuple[int, ...] = (128, 32),
        freeze_encoder: bool = True,
        dropout: float = 0.0,
        standardize: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.freeze_encoder = freeze_encoder
        if freeze_encoder:
            _freeze(encoder)
        width = encoder.feature_dim * N_STATS
        self.norm = nn.BatchNorm1d(width, affine=False) if standardize else nn.Identity()
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Dropout(dropout), nn.Linear(width, h), nn.ReLU()]
            width = h
        self.mlp = nn.Sequential(*layers)
        self.final_layer = nn.Linear(width, n_outputs)

    def train(self, mode: bool = True) -> EEGM2Light:
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def features(self, x: Tensor) -> Tensor:
        """``x (B, n_chans, T)`` → ``(B, w3 · 9)`` statistics of the encoder output."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            h = self.encoder.encode(x)  # (B, w3, T/8)
        return temporal_statistics(h).flatten(1)

    def penultimate(self, x: Tensor) -> Tensor:
        """What ``final_layer`` sees: the standardised statistics through the MLP."""
        return self.mlp(self.norm(self.features(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.final_layer(self.penultimate(x))


class LinearProbe(nn.Module):
    """Linear classifier on frozen, time-averaged EEGM2 features.

    ``x (B, n_chans, T)`` → frozen ``encode`` ``(B, w3, T/8)`` → mean over time ``(B, w3)``
    [→ with ``band_power``: concatenated with each input channel's log relative band power
    ``(B, n_chans · 6)``, :class:`~eegssm.models.band_power.BandPower`] → BatchNorm without
    affine parameters (feature standardisation, as in MAE's linear probe; still a linear
    classifier) → ``final_layer`` Linear ``(B, K)``.

    Args:
        encoder: an ``EEGM2``; frozen and kept in eval mode.
        n_outputs: classes ``K``.
        mediator: probe the mediator's output instead of the encoder's.
        band_power: also feed the input's band powers (needs ``encoder.sfreq``). The classical
            spectral summary and the pretrained encoder's features are complementary on eegmat
            (``docs/results/eegm2.md``); the band powers have no parameters.
    """

    def __init__(
        self, encoder: EEGM2, n_outputs: int, mediator: bool = False, band_power: bool = False
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.mediator = mediator
        _freeze(encoder)
        width = encoder.feature_dim
        self.band_power = None
        if band_power:
            if encoder.sfreq is None:
                raise ValueError("LinearProbe(band_power=True) needs an encoder built with sfreq")
            self.band_power = BandPower(encoder.sfreq)
            width += encoder.n_chans * self.band_power.n_bands
        self.norm = nn.BatchNorm1d(width, affine=False)
        self.final_layer = nn.Linear(width, n_outputs)

    def train(self, mode: bool = True) -> LinearProbe:
        super().train(mode)
        self.encoder.eval()
        return self

    def penultimate(self, x: Tensor) -> Tensor:
        """What ``final_layer`` sees: standardised time-averaged features ``(B, w3)``, or
        ``(B, w3 + n_chans · 6)`` with ``band_power``."""
        with torch.no_grad():
            h = self.encoder.encode(x, mediator=self.mediator).mean(dim=-1)  # (B, w3)
            if self.band_power is not None:
                h = torch.cat([h, self.band_power(x).to(h.dtype)], dim=-1)
        return self.norm(h)

    def forward(self, x: Tensor) -> Tensor:
        return self.final_layer(self.penultimate(x))
