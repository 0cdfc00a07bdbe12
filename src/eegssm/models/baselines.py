"""SeizureTransformer (Wu et al. 2025), re-implemented from its published description.

``x (B, C, W)`` → per-sample logits ``(B, W)``::

    encoder      5 stages: conv (filters 32, 64, 128, 256, 512; kernels 11, 9, 7, 7, 5) + ELU,
                 kept as skip, then max-pool /2            → (B, 512, W/32)   (480 for W = 15360)
    res CNN      7 pre-activation residual blocks (BatchNorm → ReLU → spatial dropout → conv,
                 twice; kernels 3, 3, 3, 3, 2, 3, 2)        → r
    transformer  sinusoidal positions, 8 post-norm encoder layers (d_model 512, 4 heads,
                 feed-forward 2048), plus r (residual)
    decoder      5 stages: nearest ×2 → conv (filters 512, 256, 128, 64, 32; kernels 3, 5, 5, 7, 7)
                 + ELU, add the encoder skip of the same resolution
    final_layer  conv 32 → 1, kernel 11                     → (B, W)

Odd lengths are handled like the original (TensorFlow "same" pooling): a stage with an odd
input pads one sample on the right before pooling, and the decoder drops it again.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FILTERS = (32, 64, 128, 256, 512)
ENCODER_KERNELS = (11, 9, 7, 7, 5)
DECODER_KERNELS = (3, 5, 5, 7, 7)
RES_KERNELS = (3, 3, 3, 3, 2, 3, 2)


class ResCNNBlock(nn.Module):
    """``x + conv(drop(relu(bn(conv(drop(relu(bn(x))))))))`` with "same" padding (kernel 2: one
    sample on the right). Shapes: ``(B, D, T)`` → ``(B, D, T)``."""

    def __init__(self, channels: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.pad = ((kernel_size - 1) // 2, kernel_size // 2)
        self.norm1 = nn.BatchNorm1d(channels, eps=1e-3)
        self.conv1 = nn.Conv1d(channels, channels, kernel_size)
        self.norm2 = nn.BatchNorm1d(channels, eps=1e-3)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size)
        self.dropout = nn.Dropout1d(dropout)  # drops whole channels ("spatial" dropout)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv1(F.pad(self.dropout(F.relu(self.norm1(x))), self.pad))
        y = self.conv2(F.pad(self.dropout(F.relu(self.norm2(y))), self.pad))
        return x + y


def sinusoidal_positions(length: int, d_model: int) -> Tensor:
    """``(length, d_model)`` sine/cosine position encodings (Vaswani et al. 2017)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(1e4) / d_model))
    pe = torch.zeros(length, d_model)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)
    return pe


class SeizureTransformerBaseline(nn.Module):
    """SeizureTransformer: conv U-Net encoder/decoder around a Transformer encoder.

    Args:
        n_chans: input channels ``C`` (19).
        n_times: window length ``W`` in samples (15360 = 60 s at 256 Hz); sets the position table.
        sfreq: sampling rate in Hz (informational; the published model uses 256 Hz).
        n_layers, n_heads, d_ff: Transformer encoder (8, 4, 2048).
        dropout: in the Transformer and the residual CNN stack (0.1).

    Forward: ``x (B, C, W)`` with ``W <= n_times`` → logits ``(B, W)``.
    """

    def __init__(
        self,
        n_chans: int = 19,
        n_times: int = 15360,
        sfreq: float = 256.0,
        n_layers: int = 8,
        n_heads: int = 4,
        d_ff: int = 2048,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.n_chans, self.n_times, self.sfreq = n_chans, n_times, float(sfreq)
        d_model = FILTERS[-1]
        ins = (n_chans, *FILTERS[:-1])
        self.encoder = nn.ModuleList(
            nn.Conv1d(i, o, k, padding=k // 2) for i, o, k in zip(ins, FILTERS, ENCODER_KERNELS)
        )
        self.res_cnn = nn.Sequential(*(ResCNNBlock(d_model, k, dropout) for k in RES_KERNELS))
        n_tokens = n_times
        for _ in FILTERS:
            n_tokens = (n_tokens + 1) // 2
        self.register_buffer("positions", sinusoidal_positions(n_tokens, d_model), persistent=False)
        self.pos_dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, d_ff, dropout, batch_first=True, norm_first=False
        )
        self.transformer = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        dec_filters = FILTERS[::-1]  # 512, 256, 128, 64, 32
        dec_ins = (d_model, *dec_filters[:-1])
        self.decoder = nn.ModuleList(
            nn.Conv1d(i, o, k, padding=k // 2)
            for i, o, k in zip(dec_ins, dec_filters, DECODER_KERNELS)
        )
        self.final_layer = nn.Conv1d(FILTERS[0], 1, 11, padding=5)

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, C, W)`` → per-sample logits ``(B, W)``."""
        skips = []
        for conv in self.encoder:
            x = F.elu(conv(x))
            skips.append(x)
            if x.shape[-1] % 2:
                x = F.pad(x, (0, 1), value=-1e10)  # "same" max-pooling of an odd length
            x = F.max_pool1d(x, 2)
        r = self.res_cnn(x)  # (B, 512, W/32)
        tokens = self.pos_dropout(r.transpose(1, 2) + self.positions[: r.shape[-1]])
        x = self.transformer(tokens).transpose(1, 2) + r
        for conv, skip in zip(self.decoder, reversed(skips)):
            x = x.repeat_interleave(2, dim=-1)[..., : skip.shape[-1]]
            x = F.elu(conv(x)) + skip
        return self.final_layer(x).squeeze(1)
