"""Backward passes over one forward pass of several prompts, each replicated `replicas` times.

The batch is `blocks` contiguous blocks of `replicas` rows, one block per prompt. Every row of
the frozen replacement model is an independent linear function of its own sources (attention
and norms are frozen per row; nothing mixes rows), so one backward pass can inject a target of
prompt A into a row of A's block and a target of prompt B into a row of B's block, and each
row's gradients are exactly those of a one-prompt pass. Prompts of different lengths are
right-padded: a causal model's real positions never see later (padding) positions, and the
injected targets and read sources are real positions only.
"""

from __future__ import annotations

import torch

from atlas.attribution.edges import EdgeReader
from atlas.attribution.plan import PromptRows, RowRequest
from atlas.attribution.replacement import ReplacementHooks, run_base
from atlas.models.adapters import ModelAdapter
from atlas.transcoders.model import TranscoderSet


class BatchedBackward:
    """The autograd graph of one forward pass over replicated prompts; fills requested rows."""

    def __init__(self, adapter: ModelAdapter, tset: TranscoderSet, input_ids: torch.Tensor,
                 replicas: int):
        """input_ids [blocks pos]: one (right-padded) prompt per block."""
        self.n_layers, self.replicas = adapter.n_layers, replicas
        self.hooks = ReplacementHooks(adapter, tset, replicas=replicas)
        blocks = input_ids.shape[0]
        ids = input_ids.expand(replicas, -1) if blocks == 1 else \
            input_ids.repeat_interleave(replicas, dim=0)
        with torch.enable_grad(), self.hooks:
            run_base(adapter, ids)

    def compute(self, work: list[tuple[int, RowRequest, EdgeReader]]) -> None:
        """Fill each (block, request, reader)'s rows in one backward pass; a block's request
        uses the first len(request) <= replicas rows of that block."""
        hooks = self.hooks
        rows = torch.cat([block * self.replicas + torch.arange(len(req), device=req.layers.device)
                          for block, req, _ in work])
        layers = torch.cat([req.layers for _, req, _ in work])
        positions = torch.cat([req.positions for _, req, _ in work])
        vectors = torch.cat([req.vectors for _, req, _ in work])
        outputs, grads_out = [], []
        for layer in layers.unique().tolist():
            site = hooks.final if layer == self.n_layers else hooks.tin[layer]
            mask = layers == layer
            g = torch.zeros_like(site)
            g[rows[mask], positions[mask]] = vectors[mask].to(site.dtype)
            outputs.append(site)
            grads_out.append(g)
        top = min(int(layers.max()), self.n_layers)
        inputs = [hooks.emb] + [hooks.tout[k] for k in range(top)]
        grads = torch.autograd.grad(outputs, inputs, grads_out, retain_graph=True,
                                    allow_unused=True)
        for block, req, reader in work:
            lo, n = block * self.replicas, len(req)

            def rows_of(g: torch.Tensor | None) -> torch.Tensor | None:
                return None if g is None else g[lo:lo + n, :reader.n_pos]
            reader.rows(rows_of(grads[0]), [rows_of(g) for g in grads[1:]], req.out)


def fill_rows(prompts: list[PromptRows], backward: BatchedBackward) -> None:
    """Run every prompt's plan to the end (prompt i in block i), one shared backward per step."""
    plans = {i: p.requests() for i, p in enumerate(prompts)}
    while plans:
        work = []
        for i in list(plans):
            request = next(plans[i], None)
            if request is None:
                del plans[i]
            else:
                work.append((i, request, prompts[i].reader))
        if work:
            backward.compute(work)
