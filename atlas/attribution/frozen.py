"""The local replacement model's freezes on an HF model: attention patterns and norm scales.

Attention: a registered attention implementation calls the architecture's own eager attention
with detached queries and keys, so the pattern is a constant and gradients flow only through
values. Norms: a forward hook keeps the module's output value and replaces its derivative with
the frozen-scale linear map (LayerNorm: centre, times scale, times weight; RMSNorm: times scale,
times weight or 1 + weight). Both can also *replay* the statistics of a recorded pass, which
makes the model an exactly linear function of the sources (used by the exactness tests).
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import nn

FROZEN_ATTN = "atlas_frozen"
_registered = False


def _eager_for(module: nn.Module):
    return sys.modules[type(module).__module__].eager_attention_forward


def _gpt2_values(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """GPT-2 values [batch heads pos head_dim] from the fused c_attn, v third only."""
    d = module.split_size
    conv = module.c_attn
    v = torch.addmm(conv.bias[2 * d:], x.reshape(-1, x.shape[-1]), conv.weight[:, 2 * d:])
    return v.view(x.shape[0], x.shape[1], -1, module.head_dim).transpose(1, 2)


def _frozen_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor,
                      value: torch.Tensor, attention_mask: Any, **kwargs: Any):
    """Eager attention with a constant pattern (queries/keys detached, or replayed).

    When the batch is blocks of identical rows (`replicas`), the pattern is computed from each
    block's first row only; a stashed value input (GPT-2) is projected here so gradients skip
    the fused q|k|v matmul.
    """
    state = getattr(module, "_atlas_state", None) or {}
    if "q" in state and state.get("replay"):
        query = state["q"].expand(query.shape[0], *state["q"].shape[1:])
        key = state["k"].expand(key.shape[0], *state["k"].shape[1:])
    elif state.get("record"):
        state["q"], state["k"] = query[:1].detach(), key[:1].detach()
    v_input = state.pop("v_input", None)
    if v_input is not None:
        value = _gpt2_values(module, v_input)
    step = state.get("replicas")
    if step and query.shape[0] > step:
        return _blocked_attention(module, query, key, value, attention_mask, step, **kwargs)
    if step and query.shape[0] == step:  # one block: a [1 ...] pattern broadcasts in eager
        query, key = query[:1], key[:1]
        if isinstance(attention_mask, torch.Tensor) and attention_mask.shape[0] > 1:
            attention_mask = attention_mask[:1]
    return _eager_for(module)(module, query.detach(), key.detach(), value, attention_mask, **kwargs)


def _blocked_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor,
                       value: torch.Tensor, attention_mask: Any, step: int, **kwargs: Any):
    """Several blocks of `step` identical rows: the architecture's eager attention gives each
    block's pattern from its first row (scaling, soft-cap, windows included); every row's
    values are then mixed by its block's pattern. Returns eager's (output [batch pos heads
    head_dim], None)."""
    if isinstance(attention_mask, torch.Tensor) and attention_mask.shape[0] > 1:
        attention_mask = attention_mask[::step]
    _, weights = _eager_for(module)(module, query[::step].detach(), key[::step].detach(),
                                    value[::step].detach(), attention_mask, **kwargs)
    blocks, heads = weights.shape[0], weights.shape[1]
    if value.shape[1] != heads:  # grouped-query attention: each kv head serves several heads
        value = value.repeat_interleave(heads // value.shape[1], dim=1)
    out = torch.matmul(weights[:, None].to(value.dtype),
                       value.reshape(blocks, step, *value.shape[1:]))
    return out.reshape(value.shape).transpose(1, 2).contiguous(), None


def register_frozen_attention() -> None:
    """Register the frozen attention (and the eager mask builder) with transformers, once."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

    AttentionInterface.register(FROZEN_ATTN, _frozen_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(FROZEN_ATTN, eager_mask)
    _registered = True


# --- norms ---------------------------------------------------------------------------------
def _eps(module: nn.Module) -> float:
    for name in ("eps", "variance_epsilon"):
        if hasattr(module, name):
            return float(getattr(module, name))
    raise AttributeError(f"norm {type(module).__name__} has no eps")


def norm_scale(kind: str, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The norm's data-dependent scale 1/sqrt(var + eps) [... 1] in float32."""
    x32 = x.float()
    if kind == "layernorm":
        var = x32.var(-1, unbiased=False, keepdim=True)
    else:
        var = x32.pow(2).mean(-1, keepdim=True)
    return torch.rsqrt(var + _eps(module))


def normalized(kind: str, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The normalized input before the weight (TransformerLens `hook_normalized`)."""
    x32 = x.float()
    if kind == "layernorm":
        x32 = x32 - x32.mean(-1, keepdim=True)
    return (x32 * scale).to(x.dtype)


def norm_linear(kind: str, module: nn.Module, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The norm as a linear map of x at a fixed scale (no bias)."""
    weight = module.weight.float()
    if kind == "rmsnorm_offset":
        weight = 1.0 + weight
    return (normalized(kind, x, scale).float() * weight).to(x.dtype)


def norm_bias(module: nn.Module) -> torch.Tensor | None:
    return getattr(module, "bias", None)


class _FrozenNorm(torch.autograd.Function):
    """Value: the norm's own output. Gradient: the frozen-scale Jacobian, in one fused pass."""

    @staticmethod
    def forward(ctx, x, value, gain, centered):  # noqa: D102
        ctx.save_for_backward(gain)
        ctx.centered = centered
        return value

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        (gain,) = ctx.saved_tensors
        if gain.shape[0] in (1, grad.shape[0]):
            g = grad * gain
        else:  # one gain per block of grad.shape[0] // gain.shape[0] identical rows
            g = (grad.reshape(gain.shape[0], -1, *grad.shape[1:]) * gain[:, None]
                 ).reshape(grad.shape)
        if ctx.centered:
            g = g - g.mean(-1, keepdim=True)
        return g, None, None, None


class NormFreezer:
    """Forward hook making a norm linear at its scale (recorded, or replayed from a record)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.scale: torch.Tensor | None = None
        self.replay = False
        self.record = False
        self.replicas = 0
        """> 1: the batch is blocks of this many identical rows (set by ReplacementHooks)."""

    def __call__(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        x = args[0]
        if self.replay:
            out = norm_linear(self.kind, module, x, self.scale)
            bias = norm_bias(module)
            return out if bias is None else out + bias.to(out.dtype)
        # blocks of identical rows: one scale per block, from its first row
        firsts = self.replicas > 1 and x.shape[0] > 1
        scale = norm_scale(self.kind, module, x.detach()[::self.replicas] if firsts
                           else x.detach())
        if self.record:
            self.scale = scale[:1]
        if not (torch.is_grad_enabled() and x.requires_grad):
            return output
        weight = module.weight.float()
        if self.kind == "rmsnorm_offset":
            weight = 1.0 + weight
        gain = (scale * weight).to(x.dtype)  # [batch or blocks, pos, d_model]
        return _FrozenNorm.apply(x, output.detach(), gain, self.kind == "layernorm")
