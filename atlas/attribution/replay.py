"""The slow reference: run the frozen replacement model as an explicit linear function of the
sources (each scaled by a factor) to check edges by exactness and perturbation.

With attention queries/keys and norm scales replayed from a recorded pass, every transcoder
input and the final-norm output are affine in (token vectors, feature vectors, error vectors).
So a node's input equals Σ_s A[t, s] (all sources at scale 1) plus the fixed terms (all sources
at scale 0), and scaling one source by (1 + δ) moves each target by δ · A[t, s].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from atlas.attribution.context import PromptContext, build_context
from atlas.attribution.replacement import ReplacementHooks, run_base
from atlas.models.loading import LoadedModel
from atlas.transcoders.model import TranscoderSet


@dataclass
class SourceScales:
    """A factor per source: tokens [pos], features [n_features], errors [n_layers pos]."""

    tokens: torch.Tensor
    features: torch.Tensor
    errors: torch.Tensor

    @classmethod
    def ones(cls, ctx: PromptContext, value: float = 1.0) -> "SourceScales":
        device = ctx.token_vecs.device
        return cls(torch.full((ctx.n_pos,), value, device=device),
                   torch.full((ctx.n_features,), value, device=device),
                   torch.full((ctx.n_layers, ctx.n_pos), value, device=device))


class _ScaledSources:
    """ReplaySources: embeddings and MLP outputs rebuilt from scaled sources."""

    def __init__(self, ctx: PromptContext, tset: TranscoderSet, scales: SourceScales,
                 zero_positions: int):
        self.ctx, self.tset, self.scales, self.z = ctx, tset, scales, zero_positions

    def embed(self, out: torch.Tensor) -> torch.Tensor:
        return (self.ctx.token_vecs * self.scales.tokens[:, None].to(out.dtype))[None]

    def mlp_out(self, layer: int, tin: torch.Tensor) -> torch.Tensor:
        ctx, tset, z = self.ctx, self.tset, self.z
        x = tin[0]
        out = tset.b_dec[layer].expand(ctx.n_pos, -1).clone()
        out += ctx.error_vecs[layer] * self.scales.errors[layer][:, None].to(out.dtype)
        skip = tset.skip(layer, x)
        if skip is not None:
            out += skip
        for src in range(layer + 1):
            if layer - src >= tset.n_out(src):
                continue
            lo, hi = ctx.layer_starts[src], ctx.layer_starts[src + 1]
            vec = ctx.decoder_vecs[src][:, layer - src] * self.scales.features[lo:hi, None]
            out.index_add_(0, ctx.features[lo:hi, 1], vec.to(out.dtype))
        constant = ctx.mlp_out[layer, :z]
        if skip is not None:
            constant = constant - tset.skip(layer, ctx.tin[layer, :z])
            constant = constant + skip[:z]
        out[:z] = constant
        return out[None]


class LinearReplay:
    """Record one pass of `prompt_ids`, then evaluate the frozen model for any source scales."""

    def __init__(self, model: LoadedModel, tset: TranscoderSet, input_ids: torch.Tensor,
                 zero_positions: int = 1):
        self.model, self.tset, self.z = model, tset.to(model.device, model.dtype), zero_positions
        self.hooks = ReplacementHooks(model.adapter, self.tset, record_stats=True)
        with torch.no_grad(), self.hooks:
            run_base(model.adapter, input_ids[None])
            self.ctx = build_context(self.hooks, self.tset, input_ids, zero_positions)
        self.input_ids = input_ids

    def run(self, scales: SourceScales) -> tuple[torch.Tensor, torch.Tensor]:
        """(transcoder inputs [n_layers pos d_model], final-norm output [pos d_model])."""
        self.hooks.replay = _ScaledSources(self.ctx, self.tset, scales, self.z)
        try:
            with torch.no_grad(), self.hooks:
                run_base(self.model.adapter, self.input_ids[None])
        finally:
            self.hooks.replay = None
        tin = torch.stack([t[0] for t in self.hooks.tin])
        return tin, self.hooks.final[0]

    def feature_inputs(self, tin: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Pre-activations minus encoder bias, W_enc[f] · tin[layer, pos], of features [n 3]."""
        out = []
        for layer, pos, feat in features.tolist():
            out.append(self.tset.W_enc[layer][feat].float() @ tin[layer, pos].float())
        return torch.stack(out) if out else torch.zeros(0)

    def close(self) -> None:
        self.hooks.forget_stats()
