"""Optimiser helpers."""

from __future__ import annotations

from torch import nn


def no_decay(name: str, param: nn.Parameter) -> bool:
    """True for parameters that should get no weight decay.

    Those flagged ``_no_weight_decay`` (Mamba-2's ``A_log``, ``dt_bias``, ``D``), and every
    parameter with fewer than 2 dimensions: biases and norm weights (LayerNorm, RMSNorm).
    """
    return getattr(param, "_no_weight_decay", False) or param.ndim < 2 or name.endswith(".bias")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two optimiser parameter groups: decayed weights, and the rest with ``weight_decay=0``.

    Only parameters with ``requires_grad`` are included (frozen encoders stay out); shared
    parameters appear once. Each group also carries ``names`` (for logging and tests); empty
    groups are dropped.

    Example:
        ``torch.optim.AdamW(param_groups(model, 1e-2), lr=5e-4)``
    """
    decay, skip = {"params": [], "names": []}, {"params": [], "names": []}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        group = skip if no_decay(name, p) else decay
        group["params"].append(p)
        group["names"].append(name)
    decay["weight_decay"], skip["weight_decay"] = weight_decay, 0.0
    return [g for g in (decay, skip) if g["params"]]
