"""A compact EEGNet (Lawhern et al. 2018, EEGNet-8,2) for window classification.

``x (B, n_chans, T)`` → logits ``(B, n_outputs)``::

    temporal conv  (1 → F1, kernel (1, k_t), k_t ≈ sfreq/2)   → BN            (B, F1, C, T)
    depthwise spatial conv (F1 → D·F1, kernel (C, 1))        → BN → ELU → avgpool(1,4) → dropout
    separable conv (depthwise (1, 16) + pointwise → F2)       → BN → ELU → avgpool(1,8) → dropout
    mean over the remaining time axis                          → (B, F2) → final_layer

The last pooling is a mean over time instead of flattening, so any ``T ≥ 32`` works (the original
flattens a fixed length). The spatial filters carry EEGNet's max-norm 1 constraint and the
classifier max-norm 0.25, applied after each optimiser step by :meth:`EEGNet.apply_max_norm`
(cheap; optional).

**Batch-norm statistics.** braindecode's EEGNet uses BN momentum 0.01, so after a short training run
the running statistics still mostly hold their initial values and the model predicts one class in
eval mode. Here the momentum is PyTorch's default 0.1, and recipes call
:func:`eegssm.recipes.eegm2.recompute_batchnorm` on the training windows before evaluating, which
replaces the running statistics by exact averages over the training set.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class EEGNet(nn.Module):
    """EEGNet-F1,D for ``(B, n_chans, T)`` windows.

    Args:
        n_chans: EEG channels ``C``.
        n_outputs: classes ``K``.
        n_times: window length in samples (informational; any ``T ≥ 32`` works).
        sfreq: sampling rate in Hz; the temporal kernel is ``sfreq / 2`` samples (64 at 128 Hz).
        F1, D: temporal filters and spatial filters per temporal filter; ``F2 = F1 · D``.
        dropout: dropout after each pooling (0.25 for cross-subject tasks in the paper).
    """

    def __init__(
        self,
        n_chans: int,
        n_outputs: int,
        n_times: int | None = None,
        sfreq: float = 128.0,
        F1: int = 8,
        D: int = 2,
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        self.n_chans, self.n_outputs, self.n_times, self.sfreq = n_chans, n_outputs, n_times, sfreq
        k_t = max(3, int(round(sfreq / 2)) | 1)  # odd, ≈ sfreq/2 samples (0.5 s)
        F2 = F1 * D
        self.temporal = nn.Conv2d(1, F1, (1, k_t), padding=(0, k_t // 2), bias=False)
        self.bn1 = nn.BatchNorm2d(F1)
        self.spatial = nn.Conv2d(F1, F2, (n_chans, 1), groups=F1, bias=False)
        self.bn2 = nn.BatchNorm2d(F2)
        self.pool1 = nn.AvgPool2d((1, 4))
        self.separable_depth = nn.Conv2d(F2, F2, (1, 16), padding=(0, 8), groups=F2, bias=False)
        self.separable_point = nn.Conv2d(F2, F2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(F2)
        self.pool2 = nn.AvgPool2d((1, 8))
        self.drop = nn.Dropout(dropout)
        self.act = nn.ELU()
        self.final_layer = nn.Linear(F2, n_outputs)

    def forward(self, x: Tensor) -> Tensor:
        h = self.bn1(self.temporal(x.unsqueeze(1)))  # (B, F1, C, T)
        h = self.drop(self.pool1(self.act(self.bn2(self.spatial(h)))))  # (B, F2, 1, T/4)
        h = self.bn3(self.separable_point(self.separable_depth(h)))
        h = self.drop(self.pool2(self.act(h)))  # (B, F2, 1, ~T/32)
        return self.final_layer(h.mean(dim=(2, 3)))  # (B, K)

    @torch.no_grad()
    def apply_max_norm(self, spatial: float = 1.0, classifier: float = 0.25) -> None:
        """Renormalise spatial filters and classifier rows to at most the given L2 norms."""
        for weight, limit in (
            (self.spatial.weight, spatial),
            (self.final_layer.weight, classifier),
        ):
            flat = weight.view(weight.shape[0], -1)
            flat.copy_(torch.renorm(flat, 2, 0, limit))


class ShallowFBCSPNet(nn.Module):
    """The shallow ConvNet of Schirrmeister et al. (2017), a learned filter-bank CSP.

    ``x (B, n_chans, T)`` → logits ``(B, n_outputs)``::

        temporal conv (1 → F, kernel k_t)  → spatial conv (F → F, kernel C, no bias) → BN
        → square → avgpool (k_p, stride s_p) → log(max(·, 1e-6)) → dropout   (B, F, 1, T')
        → mean over T' → final_layer Linear(F → K)

    The published sizes are for 250 Hz (k_t 25, pool 75 stride 15, i.e. 0.1 s / 0.3 s / 60 ms);
    here they scale with ``sfreq`` (13 / 38 / 8 at 128 Hz). The published classifier is a
    convolution over the remaining time steps; averaging its outputs over time (braindecode's
    cropped decoding) equals a linear layer on the time-averaged log-power features, so any
    ``T ≥ k_t + k_p`` works.

    Args:
        n_chans, n_outputs, n_times, sfreq: as in :class:`EEGNet`.
        n_filters: temporal and spatial filters ``F`` (40 in the paper).
        dropout: before the classifier (0.5 in the paper).
    """

    def __init__(
        self,
        n_chans: int,
        n_outputs: int,
        n_times: int | None = None,
        sfreq: float = 128.0,
        n_filters: int = 40,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.n_chans, self.n_outputs, self.n_times, self.sfreq = n_chans, n_outputs, n_times, sfreq
        scale = sfreq / 250.0
        k_t, k_p, s_p = (max(1, round(v * scale)) for v in (25, 75, 15))
        self.temporal = nn.Conv2d(1, n_filters, (1, k_t))
        self.spatial = nn.Conv2d(n_filters, n_filters, (n_chans, 1), bias=False)
        self.bn = nn.BatchNorm2d(n_filters)
        self.pool = nn.AvgPool2d((1, k_p), stride=(1, s_p))
        self.drop = nn.Dropout(dropout)
        self.final_layer = nn.Linear(n_filters, n_outputs)

    def features(self, x: Tensor) -> Tensor:
        """``(B, n_chans, T)`` → time-averaged log band power of the learned filters ``(B, F)``."""
        h = self.bn(self.spatial(self.temporal(x.unsqueeze(1))))  # (B, F, 1, T - k_t + 1)
        h = torch.log(self.pool(h.square()).clamp_min(1e-6))  # (B, F, 1, T')
        return h.mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.final_layer(self.drop(self.features(x)))
