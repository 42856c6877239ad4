"""One prompt's rows of A: logit rows, then feature rows, issued as requests a backward fills.

A prompt's plan is a generator of `RowRequest`s; the caller fills each request's rows (one
backward pass, possibly shared with other prompts' requests) before asking for the next one.
With max_feature_nodes, features are visited in order of influence estimated from the rows
filled so far, re-ranked every `update_interval * batch_size` features (circuit-tracer's
schedule). Rows do not depend on how a ranked block is split into requests, so the graph does
not depend on the request size or on which other prompts share a pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from atlas.attribution.context import PromptContext
from atlas.attribution.edges import EdgeReader
from atlas.attribution.targets import LogitTargets


@dataclass
class RowRequest:
    """Targets whose rows one backward pass fills."""

    layers: torch.Tensor
    """Injection layer of each target [n]; n_layers means the final-norm output (logits)."""
    positions: torch.Tensor
    """Injection position of each target [n]."""
    vectors: torch.Tensor
    """Injected vectors [n d_model]: W_enc rows, or demeaned unembedding columns."""
    out: torch.Tensor
    """The rows to fill [n n_columns], a zeroed view of the prompt's row buffer."""

    def __len__(self) -> int:
        return int(self.layers.shape[0])


def partial_influences(rows: torch.Tensor, probs: torch.Tensor, row_nodes: torch.Tensor,
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


class PromptRows:
    """The row buffer of one prompt and the plan that fills it."""

    def __init__(self, ctx: PromptContext, targets: LogitTargets, n_out: list[int],
                 batch_size: int, max_feature_nodes: int | None, update_interval: int,
                 request_rows: int | None = None):
        """request_rows: most rows per request (default batch_size); the ranking schedule
        always uses batch_size, so it does not change the graph."""
        self.ctx, self.targets = ctx, targets
        self.reader = EdgeReader(ctx, n_out)
        self.batch_size, self.update_interval = batch_size, update_interval
        cap = max_feature_nodes if max_feature_nodes is not None else ctx.n_features
        self.n_visit = min(ctx.n_features, cap)
        self.visit_all = self.n_visit == ctx.n_features
        """Every feature is visited, in index order: logit and feature rows share passes."""
        n_targets = len(targets) + self.n_visit if self.visit_all else \
            max(len(targets), self.n_visit)
        self.batch = max(1, min(request_rows or batch_size, batch_size, n_targets))
        """Most rows of one request."""
        device, n_logits = ctx.input_ids.device, len(targets)
        self.rows = torch.zeros(n_logits + self.n_visit, self.reader.n_columns, device=device)
        self.row_nodes = torch.zeros(n_logits + self.n_visit, dtype=torch.long, device=device)
        self.order: list[torch.Tensor] = []

    def requests(self) -> Iterator[RowRequest]:
        """Logit rows, then feature rows; each request is filled before the next is asked."""
        if self.visit_all:
            yield from self._all_requests()
            return
        yield from self._logit_requests()
        yield from self._feature_requests()

    def _all_requests(self) -> Iterator[RowRequest]:
        """Logits then every feature in index order, `batch` targets per request: no ranking
        needs the logit rows first, so they share a pass with the first features."""
        ctx, targets, device = self.ctx, self.targets, self.ctx.input_ids.device
        n_logits, n_rows = len(targets), self.rows.shape[0]
        feats = ctx.features
        for lo in range(0, n_rows, self.batch):
            hi = min(lo + self.batch, n_rows)
            a, b = min(lo, n_logits), min(hi, n_logits)  # logit part [a, b)
            f = slice(max(lo - n_logits, 0), max(hi - n_logits, 0))  # feature part
            yield RowRequest(
                torch.cat([torch.full((b - a,), ctx.n_layers, device=device), feats[f, 0]]),
                torch.cat([torch.full((b - a,), ctx.n_pos - 1, device=device), feats[f, 1]]),
                torch.cat([targets.vectors[a:b].to(ctx.encoder_vecs.dtype),
                           ctx.encoder_vecs[f]]),
                self.rows[lo:hi])
        self.row_nodes[:n_logits] = self.reader.n_columns + torch.arange(n_logits,
                                                                         device=device)
        self.row_nodes[n_logits:] = torch.arange(ctx.n_features, device=device)
        self.order.append(torch.arange(ctx.n_features, device=device))

    def _logit_requests(self) -> Iterator[RowRequest]:
        ctx, targets, device = self.ctx, self.targets, self.ctx.input_ids.device
        n_logits = len(targets)
        for lo in range(0, n_logits, self.batch):
            hi = min(lo + self.batch, n_logits)
            yield RowRequest(torch.full((hi - lo,), ctx.n_layers, device=device),
                             torch.full((hi - lo,), ctx.n_pos - 1, device=device),
                             targets.vectors[lo:hi], self.rows[lo:hi])
            self.row_nodes[lo:hi] = self.reader.n_columns + torch.arange(lo, hi, device=device)

    def _feature_requests(self) -> Iterator[RowRequest]:
        ctx, n_logits, n_visit = self.ctx, len(self.targets), self.n_visit
        n_total = self.reader.n_columns + n_logits
        feats = ctx.features
        visited = torch.zeros(ctx.n_features, dtype=torch.bool, device=feats.device)
        st, done, bs = n_logits, 0, self.batch_size
        while done < n_visit:
            if n_visit == ctx.n_features:
                pending = torch.arange(ctx.n_features, device=feats.device)
            else:
                infl = partial_influences(self.rows[:st], self.targets.probabilities,
                                          self.row_nodes[:st], n_total)
                # stable: features tied in estimated influence (often at zero) are taken in
                # index order; circuit-tracer's unstable sort picks among them arbitrarily
                rank = torch.sort(infl[:ctx.n_features], descending=True, stable=True).indices
                pending = rank[~visited[rank]][:min(self.update_interval * bs, n_visit - done)]
                # the block's rows do not depend on their batching: ascending index = by
                # layer, then position, so each backward pass starts as low as possible
                pending = pending.sort().values
            for chunk in pending.split(self.batch):
                yield RowRequest(feats[chunk, 0], feats[chunk, 1], ctx.encoder_vecs[chunk],
                                 self.rows[st:st + len(chunk)])
                self.row_nodes[st:st + len(chunk)] = chunk
                visited[chunk] = True
                self.order.append(chunk)
                st += len(chunk)
                done += len(chunk)

    def assemble(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(selected feature indices ascending, dense adjacency [n_nodes n_nodes])."""
        ctx, rows, n_logits = self.ctx, self.rows, len(self.targets)
        order = torch.cat(self.order) if self.order else \
            torch.zeros(0, dtype=torch.long, device=rows.device)
        selected, sort = torch.sort(order)
        n_sel = len(selected)
        other = torch.arange(ctx.n_features, rows.shape[1], device=rows.device)
        cols = torch.cat([selected, other])
        n_nodes = n_sel + len(other) + n_logits
        adjacency = torch.zeros(n_nodes, n_nodes, device=rows.device)
        adjacency[:n_sel, :len(cols)] = rows[(n_logits + sort)[:, None], cols[None, :]]
        adjacency[n_nodes - n_logits:, :len(cols)] = rows[:n_logits, cols]
        return selected, adjacency
