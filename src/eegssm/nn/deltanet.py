"""Gated DeltaNet block (Yang et al. 2024, as in flash-linear-attention), pure PyTorch.

``u (B, L, d_model)`` → projections ``q, k (H·dk)``, ``v (H·dv)`` → causal depthwise conv + SiLU
→ ``q, k`` L2-normalised per head; ``beta = sigmoid(b_proj u)``,
``g = -exp(A_log) · softplus(a_proj u + dt_bias)``; gated delta rule per head;
``rmsnorm(o) · silu(g_proj u)`` per head; ``o_proj`` → ``(B, L, d_model)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eegssm.nn import kernels
from eegssm.nn.conv import CausalDepthwiseConv1d
from eegssm.nn.gated_delta_rule import gated_delta_rule_chunked, gated_delta_rule_step
from eegssm.nn.mamba2 import init_A_log, init_dt_bias, no_weight_decay
from eegssm.nn.norm import RMSNormGated

#: Fastest WY/UT chunk length on a 2-core CPU (``docs/benchmarks/sequence_core.md``: 16 and 32
#: are within run-to-run noise of each other); speed only.
DEFAULT_CHUNK_SIZE = 32


@dataclass
class GatedDeltaNetState:
    """Streaming state of a Gated DeltaNet block.

    Attributes:
        conv: ``(B, 2·H·dk + H·dv, conv_size - 1)`` the last inputs of the causal conv.
        S: ``(B, H, dk, dv)`` the delta-rule memory (float32).
    """

    conv: Tensor
    S: Tensor


class GatedDeltaNet(nn.Module):
    """Gated DeltaNet block on ``(B, L, d_model)`` sequences.

    Args:
        d_model: input/output width.
        num_heads: ``H``.
        head_dim: key width per head ``dk``.
        expand_v: value width per head ``dv = expand_v · dk``.
        conv_size: width of the causal depthwise conv on ``q, k, v``.
        chunk_size: chunk length of the WY/UT form (speed only).
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int = 4,
        head_dim: int = 64,
        expand_v: int = 2,
        conv_size: int = 4,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, head_dim
        self.head_v_dim = head_dim * expand_v
        self.key_dim = num_heads * head_dim
        self.value_dim = num_heads * self.head_v_dim
        self.chunk_size = chunk_size
        self.q_proj = nn.Linear(d_model, self.key_dim, bias=False)
        self.k_proj = nn.Linear(d_model, self.key_dim, bias=False)
        self.v_proj = nn.Linear(d_model, self.value_dim, bias=False)
        self.a_proj = nn.Linear(d_model, num_heads, bias=False)
        self.b_proj = nn.Linear(d_model, num_heads, bias=False)
        self.g_proj = nn.Linear(d_model, self.value_dim, bias=False)
        self.A_log = nn.Parameter(init_A_log(num_heads, 1e-3, 16.0))
        self.dt_bias = nn.Parameter(init_dt_bias(num_heads))
        no_weight_decay(self.A_log, self.dt_bias)
        self.conv1d = CausalDepthwiseConv1d(2 * self.key_dim + self.value_dim, conv_size)
        self.o_norm = RMSNormGated(self.head_v_dim, eps=norm_eps, norm_before_gate=True)
        self.o_proj = nn.Linear(self.value_dim, d_model, bias=False)

    def empty_state(self, batch: int, device=None) -> GatedDeltaNetState:
        """The state before the first sample (zeros)."""
        device = device or self.A_log.device
        return GatedDeltaNetState(
            conv=self.conv1d.empty_tail(batch, device=device),
            S=torch.zeros(batch, self.num_heads, self.head_dim, self.head_v_dim, device=device),
        )

    def _inputs(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Pre-conv ``qkv (..., 2·H·dk + H·dv)``, decay ``g (..., H)``, ``beta``, gate."""
        qkv = torch.cat([self.q_proj(u), self.k_proj(u), self.v_proj(u)], dim=-1)
        g = -torch.exp(self.A_log.float()) * F.softplus(self.a_proj(u).float() + self.dt_bias)
        beta = torch.sigmoid(self.b_proj(u).float())
        return qkv, g, beta, self.g_proj(u)

    def _heads(self, qkv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v = torch.split(qkv, [self.key_dim, self.key_dim, self.value_dim], dim=-1)
        shape = qkv.shape[:-1]
        q = F.normalize(q.reshape(*shape, self.num_heads, self.head_dim), dim=-1, eps=1e-6)
        k = F.normalize(k.reshape(*shape, self.num_heads, self.head_dim), dim=-1, eps=1e-6)
        return q, k, v.reshape(*shape, self.num_heads, self.head_v_dim)

    def _output(self, o: Tensor, gate: Tensor) -> Tensor:
        gate = gate.reshape(*gate.shape[:-1], self.num_heads, self.head_v_dim)
        o = self.o_norm(o.to(gate.dtype), gate)
        return self.o_proj(o.reshape(*o.shape[:-2], self.value_dim))

    def forward(
        self, u: Tensor, state: GatedDeltaNetState | None = None, return_state: bool = False
    ) -> Tensor | tuple[Tensor, GatedDeltaNetState]:
        """Run the block over ``u (B, L, d_model)``; see ``Mamba2.forward`` for the state API."""
        qkv, g, beta, gate = self._inputs(u)
        qkv, conv_tail = self.conv1d(qkv, None if state is None else state.conv)
        q, k, v = self._heads(qkv)
        initial = None if state is None else state.S
        scale = self.head_dim**-0.5
        if kernels.use_gated_delta_rule(q):
            o, S = kernels.gated_delta_rule(q, k, v, g, beta, scale, initial)
        else:
            o, S = gated_delta_rule_chunked(q, k, v, g, beta, self.chunk_size, scale, initial)
        out = self._output(o, gate)
        if return_state:
            return out, GatedDeltaNetState(conv=conv_tail, S=S)
        return out

    def step(self, u_t: Tensor, state: GatedDeltaNetState) -> tuple[Tensor, GatedDeltaNetState]:
        """One time step: ``u_t (B, d_model)`` → ``(y_t (B, d_model), new_state)``."""
        qkv, g, beta, gate = self._inputs(u_t)
        qkv, conv_tail = self.conv1d.step(qkv, state.conv)
        q, k, v = self._heads(qkv)
        o, S = gated_delta_rule_step(q, k, v, g, beta, state.S, self.head_dim**-0.5)
        return self._output(o, gate), GatedDeltaNetState(conv=conv_tail, S=S)
