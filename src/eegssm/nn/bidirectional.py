"""Bidirectional wrappers: a causal sequence layer run forward and on the reversed sequence."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from eegssm.nn.deltanet import GatedDeltaNet
from eegssm.nn.mamba2 import Mamba2


class Bidirectional(nn.Module):
    """``merge(layer_f(x), flip(layer_b(flip(x))))`` on ``(B, L, d)`` sequences.

    Args:
        make_layer: builds one causal layer mapping ``(B, L, d)`` → ``(B, L, d)``.
        merge: ``"add"`` (sum of both directions) or ``"concat"`` (concatenate, then a linear
            projection back to ``d``).
        d_model: width ``d``; needed for ``merge="concat"``.
        shared: use one layer (one set of weights) for both directions.
    """

    def __init__(
        self,
        make_layer: Callable[[], nn.Module],
        merge: str = "add",
        d_model: int | None = None,
        shared: bool = False,
    ) -> None:
        super().__init__()
        if merge not in ("add", "concat"):
            raise ValueError(f"merge must be 'add' or 'concat', got {merge!r}")
        self.merge = merge
        self.forward_layer = make_layer()
        self.backward_layer = self.forward_layer if shared else make_layer()
        if merge == "concat":
            if d_model is None:
                raise ValueError("merge='concat' needs d_model")
            self.proj = nn.Linear(2 * d_model, d_model)

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, L, d)`` → ``(B, L, d)``; every output sees the whole sequence."""
        fwd = self.forward_layer(x)
        bwd = self.backward_layer(x.flip(1)).flip(1)
        return self.combine(fwd, bwd)

    def combine(self, fwd: Tensor, bwd: Tensor) -> Tensor:
        """Merge the two directions' outputs ``(B, L, d)`` (``bwd`` in forward time order);
        also used by the chunked sweeps of :mod:`eegssm.onepass`."""
        if self.merge == "add":
            return fwd + bwd
        return self.proj(torch.cat([fwd, bwd], dim=-1))


class BiMamba2(Bidirectional):
    """Bidirectional ``Mamba2(d_model, **kwargs)``."""

    def __init__(self, d_model: int, merge: str = "add", shared: bool = False, **kwargs) -> None:
        super().__init__(lambda: Mamba2(d_model, **kwargs), merge, d_model, shared)


class BiGatedDeltaNet(Bidirectional):
    """Bidirectional ``GatedDeltaNet(d_model, **kwargs)``."""

    def __init__(self, d_model: int, merge: str = "add", shared: bool = False, **kwargs) -> None:
        super().__init__(lambda: GatedDeltaNet(d_model, **kwargs), merge, d_model, shared)
