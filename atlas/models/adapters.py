"""Per-architecture adapters: where each block's norms, attention, MLP input and output live.

An adapter is data, not code: an `ArchSpec` of attribute paths per architecture, registered by
HF `config.model_type` and, for unknown types, recognised from the module structure. The
`ModelAdapter` wraps a loaded HF model with one spec and hands out modules and weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from atlas.errors import InputError


@dataclass(frozen=True)
class ArchSpec:
    """Attribute paths of one decoder-only architecture (relative to the HF causal-LM model)."""

    name: str
    """Short name of the architecture family (gpt2, llama, gemma2, qwen2, qwen3)."""
    layers: str
    """Path of the ModuleList of blocks."""
    embed: str
    """Path of the token-embedding module."""
    final_norm: str
    """Path of the norm applied before the unembedding."""
    pre_attn_norm: str
    """Block-relative path of the norm before attention."""
    attn: str
    """Block-relative path of the attention module."""
    pre_mlp_norm: str
    """Block-relative path of the norm whose output is the MLP input."""
    mlp: str
    """Block-relative path of the MLP."""
    norm_kind: str
    """layernorm (x-mean)/s*w+b, rmsnorm x/s*w, or rmsnorm_offset x/s*(1+w)."""
    unembed: str = "lm_head"
    """Path of the unembedding (its weight is [vocab, d_model])."""
    pos_embed: str | None = None
    """Path of the learned positional embedding, if any."""
    post_attn_norm: str | None = None
    """Block-relative path of a norm applied to the attention output (Gemma-2)."""
    post_mlp_norm: str | None = None
    """Block-relative path of a norm applied to the MLP output (Gemma-2)."""
    embed_scale: Callable[[Any], float] | None = None
    """Multiplier the model applies to token embeddings, from the HF config (Gemma)."""
    fused_qkv: str | None = None
    """Attention-relative path of a fused q|k|v Conv1D projection (GPT-2), if any."""


_LLAMA_PATHS = dict(layers="model.layers", embed="model.embed_tokens", final_norm="model.norm",
                    pre_attn_norm="input_layernorm", attn="self_attn",
                    pre_mlp_norm="post_attention_layernorm", mlp="mlp", norm_kind="rmsnorm")

ARCHITECTURES: dict[str, ArchSpec] = {
    "gpt2": ArchSpec(name="gpt2", layers="transformer.h", embed="transformer.wte",
                     pos_embed="transformer.wpe", final_norm="transformer.ln_f",
                     pre_attn_norm="ln_1", attn="attn", pre_mlp_norm="ln_2", mlp="mlp",
                     norm_kind="layernorm", fused_qkv="c_attn"),
    "llama": ArchSpec(name="llama", **_LLAMA_PATHS),
    "mistral": ArchSpec(name="mistral", **_LLAMA_PATHS),
    "qwen2": ArchSpec(name="qwen2", **_LLAMA_PATHS),
    "qwen3": ArchSpec(name="qwen3", **_LLAMA_PATHS),
    "gemma2": ArchSpec(name="gemma2", layers="model.layers", embed="model.embed_tokens",
                       final_norm="model.norm", pre_attn_norm="input_layernorm",
                       attn="self_attn", post_attn_norm="post_attention_layernorm",
                       pre_mlp_norm="pre_feedforward_layernorm", mlp="mlp",
                       post_mlp_norm="post_feedforward_layernorm", norm_kind="rmsnorm_offset",
                       embed_scale=lambda config: math.sqrt(config.hidden_size)),
}
"""Known architectures by HF `config.model_type`."""


def _get(root: nn.Module, path: str | None) -> Any:
    if path is None:
        return None
    obj: Any = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _structural_match(hf_model: nn.Module) -> ArchSpec | None:
    """The first registered spec whose module paths all exist in `hf_model` (unknown types)."""
    for spec in ARCHITECTURES.values():
        layers = _get(hf_model, spec.layers)
        if layers is None or len(layers) == 0 or _get(hf_model, spec.embed) is None:
            continue
        block = layers[0]
        block_paths = [spec.pre_attn_norm, spec.attn, spec.pre_mlp_norm, spec.mlp,
                       spec.post_attn_norm, spec.post_mlp_norm]
        if all(p is None or _get(block, p) is not None for p in block_paths):
            return spec
    return None


class ModelAdapter:
    """Uniform access to one HF causal LM's blocks, norms, embeddings and unembedding."""

    def __init__(self, hf_model: nn.Module, spec: ArchSpec):
        self.model = hf_model
        self.spec = spec
        self.config = hf_model.config
        self.blocks: nn.ModuleList = _get(hf_model, spec.layers)
        self.n_layers: int = len(self.blocks)
        self.d_model: int = int(self.config.hidden_size)

    def _block(self, layer: int, path: str | None) -> nn.Module | None:
        if not 0 <= layer < self.n_layers:
            raise InputError(f"layer {layer} out of range; the model has {self.n_layers} layers")
        return _get(self.blocks[layer], path)

    # --- per-layer modules -------------------------------------------------------------
    def pre_attn_norm(self, layer: int) -> nn.Module:
        return self._block(layer, self.spec.pre_attn_norm)

    def attention(self, layer: int) -> nn.Module:
        return self._block(layer, self.spec.attn)

    def fused_qkv(self, layer: int) -> nn.Module | None:
        """The fused q|k|v projection of `layer` (GPT-2's c_attn), or None."""
        if self.spec.fused_qkv is None:
            return None
        return _get(self.attention(layer), self.spec.fused_qkv)

    def post_attn_norm(self, layer: int) -> nn.Module | None:
        return self._block(layer, self.spec.post_attn_norm)

    def pre_mlp_norm(self, layer: int) -> nn.Module:
        """The norm whose output is the MLP input; its input is the residual after attention."""
        return self._block(layer, self.spec.pre_mlp_norm)

    def mlp(self, layer: int) -> nn.Module:
        return self._block(layer, self.spec.mlp)

    def post_mlp_norm(self, layer: int) -> nn.Module | None:
        return self._block(layer, self.spec.post_mlp_norm)

    def mlp_out_module(self, layer: int) -> nn.Module:
        """The module whose output the block adds to the residual stream as its MLP output."""
        return self.post_mlp_norm(layer) or self.mlp(layer)

    def norms(self) -> list[nn.Module]:
        """Every norm on the residual-to-logit path (their scales are frozen in attribution)."""
        out: list[nn.Module] = []
        for layer in range(self.n_layers):
            for get in (self.pre_attn_norm, self.post_attn_norm, self.pre_mlp_norm,
                        self.post_mlp_norm):
                module = get(layer)
                if module is not None:
                    out.append(module)
        out.append(self.final_norm)
        return out

    # --- model-level modules and weights -------------------------------------------------
    @property
    def embed(self) -> nn.Module:
        return _get(self.model, self.spec.embed)

    @property
    def pos_embed(self) -> nn.Module | None:
        return _get(self.model, self.spec.pos_embed)

    @property
    def final_norm(self) -> nn.Module:
        return _get(self.model, self.spec.final_norm)

    @property
    def unembed(self) -> nn.Module:
        return _get(self.model, self.spec.unembed)

    @property
    def W_E(self) -> torch.Tensor:
        """Token embedding matrix [vocab d_model] (before any embedding scale)."""
        return self.embed.weight

    @property
    def W_U(self) -> torch.Tensor:
        """Unembedding [d_model vocab]."""
        return self.unembed.weight.T

    @property
    def embed_scale(self) -> float:
        return 1.0 if self.spec.embed_scale is None else float(self.spec.embed_scale(self.config))

    @property
    def logit_softcap(self) -> float | None:
        """Gemma-2's final tanh soft-cap of the logits (None for other models)."""
        return getattr(self.config, "final_logit_softcapping", None)


def get_adapter(hf_model: nn.Module) -> ModelAdapter:
    """The adapter of an HF causal LM: by `config.model_type`, else by module structure."""
    model_type = getattr(getattr(hf_model, "config", None), "model_type", None)
    spec = ARCHITECTURES.get(model_type) or _structural_match(hf_model)
    if spec is None:
        raise InputError(f"unsupported architecture {model_type!r}; supported model types are "
                         f"{', '.join(sorted(ARCHITECTURES))} (or a module layout like them)")
    return ModelAdapter(hf_model, spec)
