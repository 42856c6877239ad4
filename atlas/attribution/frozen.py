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


def _frozen_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor,
                      value: torch.Tensor, attention_mask: Any, **kwargs: Any):
    """Eager attention with a constant pattern (queries/keys detached, or replayed)."""
    state = getattr(module, "_atlas_state", None)
    if state is not None and "q" in state and state.get("replay"):
        query = state["q"].expand(query.shape[0], *state["q"].shape[1:])
        key = state["k"].expand(key.shape[0], *state["k"].shape[1:])
    elif state is not None and state.get("record"):
        state["q"], state["k"] = query[:1].detach(), key[:1].detach()
    return _eager_for(module)(module, query.detach(), key.detach(), value, attention_mask, **kwargs)


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


class NormFreezer:
    """Forward hook making a norm linear at its scale (recorded, or replayed from a record)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.scale: torch.Tensor | None = None
        self.replay = False
        self.record = False

    def __call__(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        x = args[0]
        if self.replay:
            out = norm_linear(self.kind, module, x, self.scale)
            bias = norm_bias(module)
            return out if bias is None else out + bias.to(out.dtype)
        scale = norm_scale(self.kind, module, x.detach())
        if self.record:
            self.scale = scale[:1]
        return output.detach() + norm_linear(self.kind, module, x - x.detach(), scale)
