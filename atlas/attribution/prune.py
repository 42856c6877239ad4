"""Pruning by influence on the logits, and circuit-tracer's replacement/completeness scores.

    Â = |A| / clamp(rowsum |A|, 1e-10);  I = Σ_{k≥1} wᵀ Âᵏ with w the logit probabilities.
Node pruning keeps the nodes holding `node_threshold` of the total influence (plus all tokens
and logits); edge pruning scores Â' * (I' + w)[:, None] on the node-pruned graph and keeps
`edge_threshold` of it; then nodes without kept outgoing (features, errors) or incoming
(features) edges are dropped until stable. Only non-zero edge scores are sorted (circuit-tracer
sorts all n_nodes² of them).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from atlas.errors import InputError
from atlas.graph.graph import Graph


class PruneResult(NamedTuple):
    """Masks over a graph's nodes and edges, and each node's cumulative influence rank."""

    node_mask: torch.Tensor
    """Kept nodes [n_nodes] bool."""
    edge_mask: torch.Tensor
    """Kept edges [n_nodes n_nodes] bool (target, source)."""
    cumulative_scores: torch.Tensor
    """Share of total influence held by nodes ranked at or above this one [n_nodes]."""


def normalize(adjacency: torch.Tensor) -> torch.Tensor:
    a = adjacency.abs()
    return a / a.sum(dim=1, keepdim=True).clamp(min=1e-10)


def influence(normalized: torch.Tensor, weights: torch.Tensor,
              max_iter: int = 1000) -> torch.Tensor:
    """Σ_{k≥1} wᵀ Âᵏ by repeated vector products (terminates on a DAG)."""
    current = weights @ normalized
    total = current.clone()
    for _ in range(max_iter):
        if not current.any():
            return total
        current = current @ normalized
        total += current
    raise RuntimeError(f"influence did not converge in {max_iter} steps; the graph has a cycle")


def node_influence(graph: Graph) -> torch.Tensor:
    """Each node's influence on the logits [n_nodes]."""
    return influence(normalize(graph.adjacency.float()), graph.logit_weights())


def find_threshold(scores: torch.Tensor, threshold: float, n_zeros: int = 0) -> torch.Tensor:
    """The score at which the descending cumulative share reaches `threshold`. `scores` may omit
    `n_zeros` zero entries (they only matter when the index runs past the non-zeros)."""
    if scores.numel() == 0:
        return torch.zeros((), device=scores.device)
    ordered = torch.sort(scores, descending=True).values
    share = torch.cumsum(ordered, 0) / ordered.sum()
    index = int(torch.searchsorted(share, torch.tensor(threshold, device=share.device,
                                                       dtype=share.dtype)))
    if index >= len(ordered):
        return ordered[-1] if n_zeros == 0 else torch.zeros((), device=scores.device)
    return ordered[index]


def prune_graph(graph: Graph, node_threshold: float = 0.8,
                edge_threshold: float = 0.98) -> PruneResult:
    """circuit-tracer's `prune_graph` on our Graph (same masks, same cumulative scores)."""
    for name, value in (("node_threshold", node_threshold), ("edge_threshold", edge_threshold)):
        if not 0.0 <= value <= 1.0:
            raise InputError(f"{name}={value} is outside [0, 1]; pick a fraction")
    n_fixed = graph.n_pos + graph.n_logits
    weights = graph.logit_weights()
    adjacency = graph.adjacency.float()
    infl = influence(normalize(adjacency), weights)
    node_mask = infl >= find_threshold(infl, node_threshold)
    node_mask[-n_fixed:] = True

    pruned = adjacency * node_mask[:, None] * node_mask[None, :]
    norm = normalize(pruned)
    scores = norm * (influence(norm, weights) + weights)[:, None]
    nonzero = scores[scores != 0]
    edge_mask = scores >= find_threshold(nonzero, edge_threshold, scores.numel() - nonzero.numel())

    n_inner = graph.n_nodes - n_fixed
    old = node_mask.clone()
    node_mask[:n_inner] &= edge_mask[:, :n_inner].any(0)
    node_mask[:graph.n_features] &= edge_mask[:graph.n_features].any(1)
    while not torch.equal(node_mask, old):
        old.copy_(node_mask)
        edge_mask[~node_mask] = False
        edge_mask[:, ~node_mask] = False
        node_mask[:n_inner] &= edge_mask[:, :n_inner].any(0)
        node_mask[:graph.n_features] &= edge_mask[:graph.n_features].any(1)

    ordered, idx = torch.sort(infl, descending=True)
    cumulative = torch.zeros_like(infl)
    cumulative[idx] = torch.cumsum(ordered, 0) / ordered.sum()
    return PruneResult(node_mask, edge_mask, cumulative)


def compute_graph_scores(graph: Graph) -> tuple[float, float]:
    """(replacement_score, completeness_score) of the unpruned graph, as circuit-tracer."""
    weights = graph.logit_weights()
    norm = normalize(graph.adjacency.float())
    infl = influence(norm, weights)
    errors = slice(graph.error_start, graph.token_start)
    token_infl = infl[graph.token_start:graph.logit_start].sum()
    error_infl = infl[errors].sum()
    replacement = token_infl / (token_infl + error_infl)
    non_error = 1 - norm[:, errors].sum(dim=-1)
    output = infl + weights
    completeness = (non_error * output).sum() / output.sum()
    return float(replacement), float(completeness)
