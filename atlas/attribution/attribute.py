"""attribute(), attribute_many(): attribution graphs in the local replacement model.

Algorithm (Ameisen et al. 2025; conventions of circuit-tracer 0.5.0), for a group of prompts:
1. One pass of the replacement model over the group gives each prompt's active features, error
   vectors, token vectors and logits (`context.build_context`); logit targets are selected from
   the logits.
2. One forward pass with each prompt replicated `batch` times keeps the autograd graph.
3. Each backward pass injects, per batch row, one target's input vector (a feature's W_enc row
   at its input site and position, or a logit's demeaned unembedding after the final norm at
   the last position) and reads gradients at the sources; `<grad, source vector>` is the
   direct effect (`passes`). Rows stay on the device; only their columns are computed (`edges`).
4. With max_feature_nodes, features are visited in order of influence estimated from the rows
   so far, re-ranked every `update_interval` batches (`plan`).
`attribute(p)` is `attribute_many([p])`: a group of one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from atlas.attribution.context import PromptContext, build_context
from atlas.attribution.passes import BatchedBackward, fill_rows
from atlas.attribution.plan import PromptRows
from atlas.attribution.replacement import ReplacementHooks, logits_from_final, run_base
from atlas.attribution.targets import LogitTargets, select_targets
from atlas.errors import InputError
from atlas.graph.graph import Graph
from atlas.models.loading import LoadedModel, encode_prompt
from atlas.transcoders.model import TranscoderSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttributionConfig:
    """Settings of one attribution run (circuit-tracer's defaults)."""

    max_n_logits: int = 10
    """Most logit nodes."""
    desired_logit_prob: float = 0.95
    """Keep top logits until their cumulative probability reaches this."""
    batch_size: int = 256
    """Targets per backward pass (the prompt is replicated this many times)."""
    max_feature_nodes: int | None = None
    """Most feature nodes (None: every active feature)."""
    update_interval: int = 4
    """Batches between influence re-rankings when max_feature_nodes is set."""
    target_token_ids: tuple[int, ...] | None = None
    """Explicit logit targets instead of the salient ones."""
    zero_positions: int = 1
    """Leading positions (the BOS) whose features and errors are zeroed."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise InputError(f"batch_size={self.batch_size}; use 1 or more")
        if self.max_feature_nodes is not None and self.max_feature_nodes < 0:
            raise InputError(f"max_feature_nodes={self.max_feature_nodes}; use 0 or more")
        if not 0.0 < self.desired_logit_prob <= 1.0:
            raise InputError(f"desired_logit_prob={self.desired_logit_prob}; use (0, 1]")


def _package(prompt: Any, ids: torch.Tensor, model: LoadedModel, tset: TranscoderSet,
             ctx: PromptContext, targets: LogitTargets, selected: torch.Tensor,
             adjacency: torch.Tensor, logits: torch.Tensor, metadata: dict) -> Graph:
    tok = model.tokenizer
    decode = (lambda t: tok.decode([int(t)])) if tok is not None else str
    text = prompt if isinstance(prompt, str) else (tok.decode(ids.tolist()) if tok else "")
    return Graph(
        prompt=text, input_ids=ids, tokens=[decode(t) for t in ids.tolist()],
        active_features=ctx.features, activation_values=ctx.activations.float(),
        selected_features=selected, adjacency=adjacency,
        logit_token_ids=targets.token_ids, logit_probabilities=targets.probabilities.float(),
        logit_tokens=[decode(t) for t in targets.token_ids.tolist()],
        n_layers=ctx.n_layers, vocab_size=int(logits.shape[-1]),
        scan=tset.config.scan or "", model_name=str(getattr(model.model, "name_or_path", "")),
        metadata=metadata)


def _encode(model: LoadedModel, prompt: str | list[int] | torch.Tensor) -> torch.Tensor:
    ids = encode_prompt(model.tokenizer, prompt).to(model.device)
    limit = getattr(model.model.config, "max_position_embeddings", None) or \
        getattr(model.model.config, "n_positions", None)
    if limit and len(ids) > limit:
        raise InputError(f"prompt has {len(ids)} tokens but the model takes at most {limit}; "
                         "shorten the prompt")
    return ids


def _right_pad(token_ids: list[torch.Tensor]) -> torch.Tensor:
    """[blocks pos]: each prompt followed by copies of its first token (never attended to by
    its real positions in a causal model, so no attention mask is needed)."""
    width = max(len(ids) for ids in token_ids)
    return torch.stack([torch.cat([ids, ids[:1].expand(width - len(ids))]) for ids in token_ids])


def _attribute_group(ids: list[torch.Tensor], model: LoadedModel, tset: TranscoderSet,
                     cfg: AttributionConfig) -> list[tuple]:
    """(context, targets, logits, rows) of each prompt of one pass, rows filled."""
    padded = _right_pad(ids)
    with torch.no_grad(), ReplacementHooks(model.adapter, tset) as hooks:
        run_base(model.adapter, padded)
        ctxs = [build_context(hooks, tset, seq, cfg.zero_positions, row=k)
                for k, seq in enumerate(ids)]
    out = []
    n_out = [tset.n_out(i) for i in range(tset.n_layers)]
    share = -(-cfg.batch_size // len(ids))  # a pass holds at most ~batch_size rows in all
    for ctx in ctxs:
        logits = logits_from_final(model.adapter, ctx.final_last)
        targets = select_targets(logits, model.adapter.W_U, cfg.max_n_logits,
                                 cfg.desired_logit_prob,
                                 list(cfg.target_token_ids) if cfg.target_token_ids else None)
        rows = PromptRows(ctx, targets, n_out, cfg.batch_size, cfg.max_feature_nodes,
                          cfg.update_interval, request_rows=share)
        out.append((ctx, targets, logits, rows))
    backward = BatchedBackward(model.adapter, tset, padded, max(r.batch for *_, r in out))
    fill_rows([r for *_, r in out], backward)
    return out


def attribute_many(prompts: list[str | list[int] | torch.Tensor], model: LoadedModel,
                   transcoders: TranscoderSet, config: AttributionConfig | None = None,
                   prompts_per_pass: int = 4, **overrides: Any) -> list[Graph]:
    """The attribution graphs of `prompts` (unpruned), in order: equal to `attribute` of each.

    Prompts are sorted by length and taken `prompts_per_pass` at a time: one forward pass over
    the group (right-padded), then backward passes that fill rows of every prompt of the group
    at once (`passes.BatchedBackward`). A pass holds about `batch_size` rows in all (each prompt
    gets batch_size / prompts_per_pass of them), so the forward pass does not grow with
    prompts_per_pass; the sources and row buffers of a group's prompts are held at once."""
    cfg = AttributionConfig(**{**(asdict(config) if config else {}), **overrides})
    if prompts_per_pass < 1:
        raise InputError(f"prompts_per_pass={prompts_per_pass}; use 1 or more")
    transcoders.validate_for_model(model.n_layers, model.d_model)
    tset = transcoders.to(model.device, model.dtype)
    ids = [_encode(model, p) for p in prompts]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    graphs: list[Graph | None] = [None] * len(ids)
    for lo in range(0, len(order), prompts_per_pass):
        group = order[lo:lo + prompts_per_pass]
        start = time.perf_counter()
        done = _attribute_group([ids[i] for i in group], model, tset, cfg)
        seconds = (time.perf_counter() - start) / len(group)
        for i, (ctx, targets, logits, rows) in zip(group, done):
            selected, adjacency = rows.assemble()
            graphs[i] = _package(prompts[i], ids[i], model, tset, ctx, targets, selected,
                                 adjacency, logits, {
                "config": asdict(cfg), "dtype": str(model.dtype).removeprefix("torch."),
                "device": str(model.device), "n_active_features": ctx.n_features,
                "batch": rows.batch, "prompts_per_pass": len(group), "seconds": seconds})
        del done
    return graphs


def attribute(prompt: str | list[int] | torch.Tensor, model: LoadedModel,
              transcoders: TranscoderSet, config: AttributionConfig | None = None,
              **overrides: Any) -> Graph:
    """The attribution graph of `prompt` (unpruned). Settings: `config` or keyword overrides of
    AttributionConfig fields (max_n_logits, desired_logit_prob, batch_size, max_feature_nodes,
    update_interval, target_token_ids, zero_positions)."""
    return attribute_many([prompt], model, transcoders, config, prompts_per_pass=1,
                          **overrides)[0]
