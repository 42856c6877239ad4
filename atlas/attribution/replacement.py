"""Install the local replacement model on an HF model: freezes, transcoder I/O sites, captures.

Within `ReplacementHooks`:
- attention patterns and norm scales are frozen (`atlas.attribution.frozen`);
- the token embedding output is a leaf that requires grad (gradients enter there);
- at each layer the transcoder input is captured at its site (TransformerLens name mapped to HF
  modules through the adapter), and the MLP output at the output site is replaced by
  `skip + (mlp_out - skip).detach()` (skip = W_skip x, or 0): its value is unchanged, its
  gradient never flows through the real MLP;
- the final norm's output is captured (logit gradients are injected there).
In replay mode the recorded attention/norm statistics are reused and the MLP outputs and
embeddings are rebuilt from scaled sources, so the model is exactly linear in the sources.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from atlas.attribution.frozen import (FROZEN_ATTN, NormFreezer, norm_scale, normalized,
                                      register_frozen_attention)
from atlas.models.adapters import ModelAdapter
from atlas.transcoders.model import TranscoderSet


class ReplaySources(Protocol):
    """What replay mode rebuilds: embeddings and MLP outputs from scaled sources."""

    def embed(self, out: torch.Tensor) -> torch.Tensor: ...

    def mlp_out(self, layer: int, tin: torch.Tensor) -> torch.Tensor: ...


class ReplacementHooks:
    """Context manager: the local replacement model of `adapter`'s model for transcoders `tset`."""

    def __init__(self, adapter: ModelAdapter, tset: TranscoderSet, record_stats: bool = False,
                 replicas: int = 0):
        """replicas > 1: the batch is blocks of `replicas` identical rows (one prompt each), so
        constants (MLP outputs, GPT-2's fused q|k|v, one block's attention pattern and norm
        gains) are computed once per block."""
        self.adapter, self.tset = adapter, tset
        self.replicas = replicas if replicas > 1 else 0
        self.kind = adapter.spec.norm_kind
        self.freezers = {id(m): NormFreezer(self.kind) for m in adapter.norms()}
        self.record_stats = record_stats
        self.replay: ReplaySources | None = None
        self.emb: torch.Tensor | None = None
        self.tin: list[torch.Tensor | None] = [None] * adapter.n_layers
        self.tout: list[torch.Tensor | None] = [None] * adapter.n_layers
        self.mlp_true: list[torch.Tensor | None] = [None] * adapter.n_layers
        self.final: torch.Tensor | None = None
        self._handles: list[Any] = []
        self._saved_attn: Any = None

    # --- context -----------------------------------------------------------------------
    def __enter__(self) -> "ReplacementHooks":
        register_frozen_attention()
        config = self.adapter.model.config
        self._saved_attn = config._attn_implementation
        config._attn_implementation = FROZEN_ATTN
        replaying = self.replay is not None
        for layer in range(self.adapter.n_layers):
            attn = self.adapter.attention(layer)
            state = getattr(attn, "_atlas_state", None) or {}
            state.update(record=self.record_stats and not replaying, replay=replaying,
                         replicas=0 if replaying else self.replicas)
            attn._atlas_state = state
        for module in self.adapter.norms():
            freezer = self.freezers[id(module)]
            freezer.record, freezer.replay = self.record_stats and not replaying, replaying
            freezer.replicas = 0 if replaying else self.replicas
            self._handles.append(module.register_forward_hook(freezer))
        self._handles.append(self.adapter.embed.register_forward_hook(self._embed_hook))
        for layer in range(self.adapter.n_layers):
            if self.replicas and not replaying:
                self._install_block_shortcuts(layer)
            self._install_input_site(layer)
            self._install_output_site(layer)
        self._handles.append(self.adapter.final_norm.register_forward_hook(self._final_hook))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.adapter.model.config._attn_implementation = self._saved_attn

    def forget_stats(self) -> None:
        """Drop recorded attention queries/keys from the model's modules."""
        for layer in range(self.adapter.n_layers):
            attn = self.adapter.attention(layer)
            if hasattr(attn, "_atlas_state"):
                del attn._atlas_state

    # --- hooks -------------------------------------------------------------------------
    def _embed_hook(self, _module, _args, out: torch.Tensor) -> torch.Tensor:
        if self.replay is not None:
            self.emb = self.replay.embed(out)
        else:
            self.emb = out.detach().requires_grad_(torch.is_grad_enabled())
        return self.emb

    def _final_hook(self, _module, _args, out: torch.Tensor) -> None:
        self.final = out

    def _install_input_site(self, layer: int) -> None:
        site = self.tset.config.input_hook
        norm = self.adapter.pre_mlp_norm(layer)
        if site == "mlp.hook_in":
            def after(_m, _a, out, layer=layer):
                self.tin[layer] = out
            self._handles.append(norm.register_forward_hook(after))
            return
        freezer = self.freezers[id(norm)]

        def before(module, args, layer=layer):
            x = args[0]
            if site == "hook_resid_mid":
                self.tin[layer] = x
                return
            scale = freezer.scale if self.replay is not None else \
                norm_scale(self.kind, module, x.detach())
            self.tin[layer] = normalized(self.kind, x, scale)
        self._handles.append(norm.register_forward_pre_hook(before))

    def _install_block_shortcuts(self, layer: int) -> None:
        """Rows come in blocks of identical rows: the MLP (its output is a constant) and GPT-2's
        fused q|k|v projection run on each block's first row; values are re-projected with
        gradients."""
        step = self.replicas

        def firsts(_m, args):
            return (args[0][::step].contiguous(), *args[1:]) if args[0].shape[0] > 1 else None
        self._handles.append(self.adapter.mlp(layer).register_forward_pre_hook(firsts))
        qkv = self.adapter.fused_qkv(layer)
        if qkv is None:
            return
        attn = self.adapter.attention(layer)

        def stash(_m, args):
            attn._atlas_state["v_input"] = args[0]
            return firsts(_m, args)

        def widen(_m, args, out):
            return widen_blocks(out, attn._atlas_state["v_input"].shape[0])
        self._handles.append(qkv.register_forward_pre_hook(stash))
        self._handles.append(qkv.register_forward_hook(widen))

    def _output_module(self, layer: int) -> torch.nn.Module:
        if self.tset.config.output_hook == "mlp.hook_out":
            return self.adapter.mlp(layer)
        return self.adapter.mlp_out_module(layer)

    def _install_output_site(self, layer: int) -> None:
        def replace(_m, _a, out, layer=layer):
            self.mlp_true[layer] = out.detach()
            tin = self.tin[layer]
            if self.replay is not None:
                new = self.replay.mlp_out(layer, tin).to(out.dtype)
            else:
                skip = self.tset.skip(layer, tin)
                if out.shape[0] != tin.shape[0]:  # MLP ran on each block's first row
                    out = widen_blocks(out, tin.shape[0])
                if skip is None:
                    new = out.detach().clone().requires_grad_(torch.is_grad_enabled())
                else:
                    skip = skip.to(out.dtype)
                    new = skip + (out - skip).detach()
            self.tout[layer] = new
            return new
        self._handles.append(self._output_module(layer).register_forward_hook(replace))


def widen_blocks(x: torch.Tensor, n_rows: int) -> torch.Tensor:
    """One row per block [blocks ...] -> every row [n_rows ...] (a view for a single block)."""
    if x.shape[0] == 1:
        return x.expand(n_rows, *x.shape[1:])
    return x.repeat_interleave(n_rows // x.shape[0], dim=0)


def run_base(adapter: ModelAdapter, input_ids: torch.Tensor,
             attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Run the decoder stack (no unembedding); returns the final-norm output [batch pos d_model]."""
    base = adapter.model.base_model
    out = base(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return out.last_hidden_state


def logits_from_final(adapter: ModelAdapter, final: torch.Tensor) -> torch.Tensor:
    """Logits [... vocab] from final-norm outputs [... d_model] (incl. Gemma's soft-cap)."""
    logits = adapter.unembed(final)
    cap = adapter.logit_softcap
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits



@torch.no_grad()
def capture_transcoder_inputs(adapter: ModelAdapter, tset: TranscoderSet,
                              input_ids: torch.Tensor) -> torch.Tensor:
    """Transcoder inputs at tset's input site for input_ids [batch pos]:
    [n_layers batch pos d_model]."""
    with ReplacementHooks(adapter, tset) as hooks:
        run_base(adapter, input_ids)
    return torch.stack([t.detach() for t in hooks.tin])
