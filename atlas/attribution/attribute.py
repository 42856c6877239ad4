"""attribute(): one prompt's attribution graph in the local replacement model.

Algorithm (Ameisen et al. 2025; conventions of circuit-tracer 0.5.0):
1. A batch-1 pass of the replacement model gives the active features, error vectors, token
   vectors and logits (`context.build_context`); logit targets are selected from the logits.
2. One forward pass with the prompt replicated `batch` times keeps the autograd graph.
3. Each backward pass injects, per batch row, one target's input vector (a feature's W_enc row
   at its input site and position, or a logit's demeaned unembedding after the final norm at
   the last position) and reads gradients at the sources; `<grad, source vector>` is the
   direct effect. Rows stay on the device; only their columns are computed (`edges`).
4. With max_feature_nodes, features are visited in order of influence estimated from the rows
   so far, re-ranked every `update_interval` batches.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from atlas.attribution.context import PromptContext, build_context
from atlas.attribution.edges import EdgeReader
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


class _Attributor:
    """State of one run: hooks on the batched forward pass, the edge reader, the row buffer."""

    def __init__(self, model: LoadedModel, tset: TranscoderSet, ctx: PromptContext,
                 targets: LogitTargets, batch: int):
        self.model, self.tset, self.ctx, self.targets = model, tset, ctx, targets
        self.n_layers = ctx.n_layers
        self.reader = EdgeReader(ctx, [tset.n_out(i) for i in range(tset.n_layers)])
        self.hooks = ReplacementHooks(model.adapter, tset, identical_rows=True)
        self.batch = batch
        ids = ctx.input_ids[None].expand(batch, -1)
        with torch.enable_grad(), self.hooks:
            run_base(model.adapter, ids)

    def compute(self, layers: torch.Tensor, positions: torch.Tensor, vectors: torch.Tensor,
                out: torch.Tensor) -> None:
        """Fill rows `out` [n n_columns] (zeroed) for targets injecting `vectors` [n d_model] at
        (layer, pos); layer n_layers means the final-norm output (logits)."""
        n = int(layers.shape[0])
        rows_idx = torch.arange(n, device=layers.device)
        outputs, grads_out = [], []
        for layer in layers.unique().tolist():
            site = self.hooks.final if layer == self.n_layers else self.hooks.tin[layer]
            mask = layers == layer
            g = torch.zeros_like(site)
            g[rows_idx[mask], positions[mask]] = vectors[mask].to(site.dtype)
            outputs.append(site)
            grads_out.append(g)
        top = min(int(layers.max()), self.n_layers)
        inputs = [self.hooks.emb] + [self.hooks.tout[k] for k in range(top)]
        grads = torch.autograd.grad(outputs, inputs, grads_out, retain_graph=True,
                                    allow_unused=True)
        self.reader.rows(grads[0], list(grads[1:]), out)


def _partial_influences(rows: torch.Tensor, probs: torch.Tensor, row_nodes: torch.Tensor,
                        n_total: int, max_iter: int = 128) -> torch.Tensor:
    """circuit-tracer's influence estimate from the rows computed so far (on their device)."""
    norm = rows.abs()
    norm /= norm.sum(dim=1, keepdim=True).clamp(min=1e-8)
    n_cols = rows.shape[1]
    prod = torch.zeros(n_total, device=rows.device)
    prod[n_total - len(probs):] = probs
    influence = torch.zeros(n_total, device=rows.device)
    for _ in range(max_iter):
        step = prod[row_nodes] @ norm
        prod = torch.zeros_like(prod)
        prod[:n_cols] = step
        if not step.any():
            return influence
        influence += prod
    raise RuntimeError("influence estimate did not converge; the graph has a cycle")


def _visit_features(att: _Attributor, rows: torch.Tensor, row_nodes: torch.Tensor,
                    cfg: AttributionConfig, n_visit: int) -> torch.Tensor:
    """Fill feature rows (after the logit rows); return the visited feature indices in row order."""
    ctx, n_logits = att.ctx, len(att.targets)
    n_total = att.reader.n_columns + n_logits
    feats = ctx.features
    visited = torch.zeros(ctx.n_features, dtype=torch.bool, device=feats.device)
    order: list[torch.Tensor] = []
    st, done, bs = n_logits, 0, cfg.batch_size
    while done < n_visit:
        if n_visit == ctx.n_features:
            pending = torch.arange(ctx.n_features, device=feats.device)
        else:
            infl = _partial_influences(rows[:st], att.targets.probabilities, row_nodes[:st],
                                       n_total)
            # stable: features tied in estimated influence (often at zero) are taken in index
            # order; circuit-tracer's unstable sort picks among them arbitrarily
            rank = torch.sort(infl[:ctx.n_features], descending=True, stable=True).indices
            pending = rank[~visited[rank]][:min(cfg.update_interval * bs, n_visit - done)]
            # the queue's rows do not depend on their batching: ascending index = by layer,
            # then position, so each backward pass starts as low as possible
            pending = pending.sort().values
        for chunk in pending.split(bs):
            att.compute(feats[chunk, 0], feats[chunk, 1], ctx.encoder_vecs[chunk],
                        rows[st:st + len(chunk)])
            row_nodes[st:st + len(chunk)] = chunk
            visited[chunk] = True
            order.append(chunk)
            st += len(chunk)
            done += len(chunk)
    return torch.cat(order) if order else torch.zeros(0, dtype=torch.long, device=feats.device)


def _assemble(ctx: PromptContext, rows: torch.Tensor, order: torch.Tensor,
              n_logits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(selected feature indices ascending, dense adjacency [n_nodes n_nodes])."""
    selected, sort = torch.sort(order)
    n_sel = len(selected)
    other = torch.arange(ctx.n_features, rows.shape[1], device=rows.device)
    cols = torch.cat([selected, other])
    n_nodes = n_sel + len(other) + n_logits
    adjacency = torch.zeros(n_nodes, n_nodes, device=rows.device)
    adjacency[:n_sel, :len(cols)] = rows[(n_logits + sort)[:, None], cols[None, :]]
    adjacency[n_nodes - n_logits:, :len(cols)] = rows[:n_logits, cols]
    return selected, adjacency


def _logit_rows(att: _Attributor, n_visit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The row buffer [n_logits + n_visit n_columns] on the device with the logit rows filled,
    and the node index of each row."""
    ctx, targets, device = att.ctx, att.targets, att.ctx.input_ids.device
    n_logits = len(targets)
    rows = torch.zeros(n_logits + n_visit, att.reader.n_columns, device=device)
    row_nodes = torch.zeros(n_logits + n_visit, dtype=torch.long, device=device)
    for lo in range(0, n_logits, att.batch):
        hi = min(lo + att.batch, n_logits)
        att.compute(torch.full((hi - lo,), ctx.n_layers, device=device),
                    torch.full((hi - lo,), ctx.n_pos - 1, device=device),
                    targets.vectors[lo:hi], rows[lo:hi])
        row_nodes[lo:hi] = att.reader.n_columns + torch.arange(lo, hi, device=device)
    return rows, row_nodes


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


def attribute(prompt: str | list[int] | torch.Tensor, model: LoadedModel,
              transcoders: TranscoderSet, config: AttributionConfig | None = None,
              **overrides: Any) -> Graph:
    """The attribution graph of `prompt` (unpruned). Settings: `config` or keyword overrides of
    AttributionConfig fields (max_n_logits, desired_logit_prob, batch_size, max_feature_nodes,
    update_interval, target_token_ids, zero_positions)."""
    cfg = AttributionConfig(**{**(asdict(config) if config else {}), **overrides})
    start = time.perf_counter()
    transcoders.validate_for_model(model.n_layers, model.d_model)
    tset = transcoders.to(model.device, model.dtype)
    ids = encode_prompt(model.tokenizer, prompt).to(model.device)
    limit = getattr(model.model.config, "max_position_embeddings", None) or \
        getattr(model.model.config, "n_positions", None)
    if limit and len(ids) > limit:
        raise InputError(f"prompt has {len(ids)} tokens but the model takes at most {limit}; "
                         "shorten the prompt")
    with torch.no_grad(), ReplacementHooks(model.adapter, tset) as hooks:
        run_base(model.adapter, ids[None])
        ctx = build_context(hooks, tset, ids, cfg.zero_positions)
    logits = logits_from_final(model.adapter, ctx.final_last)
    targets = select_targets(logits, model.adapter.W_U, cfg.max_n_logits, cfg.desired_logit_prob,
                             list(cfg.target_token_ids) if cfg.target_token_ids else None)
    n_visit = min(ctx.n_features, cfg.max_feature_nodes if cfg.max_feature_nodes is not None
                  else ctx.n_features)
    batch = max(1, min(cfg.batch_size, max(len(targets), n_visit)))
    att = _Attributor(model, tset, ctx, targets, batch)
    t_forward = time.perf_counter()
    rows, row_nodes = _logit_rows(att, n_visit)
    order = _visit_features(att, rows, row_nodes, cfg, n_visit)
    selected, adjacency = _assemble(ctx, rows, order, len(targets))
    del att, rows
    return _package(prompt, ids, model, tset, ctx, targets, selected, adjacency, logits, {
        "config": asdict(cfg), "dtype": str(model.dtype).removeprefix("torch."),
        "device": str(model.device), "n_active_features": ctx.n_features, "batch": batch,
        "seconds": time.perf_counter() - start, "seconds_forward": t_forward - start})
