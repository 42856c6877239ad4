"""A pruned Graph as shard tables (docs/shard-format.md): nodes, edges, activations, prompt row.

Node `influence` is the raw influence on the logits (Σ_k wᵀÂᵏ of the unpruned graph), so it
can be summed across prompts; the frontend JSON shows the cumulative share instead.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import torch

from atlas.attribution.prune import PruneResult, node_influence, prune_graph
from atlas.graph.frontend import node_id
from atlas.graph.graph import Graph

NODE_SCHEMA = pa.schema([
    ("run", pa.string()), ("prompt_id", pa.string()), ("node_index", pa.int32()),
    ("node_id", pa.string()), ("node_type", pa.string()), ("transcoder_set", pa.string()),
    ("layer", pa.int16()), ("position", pa.int32()), ("feature", pa.int32()),
    ("token_id", pa.int32()), ("activation", pa.float32()), ("influence", pa.float32()),
    ("logit_prob", pa.float32())])
EDGE_SCHEMA = pa.schema([
    ("run", pa.string()), ("prompt_id", pa.string()), ("source", pa.int32()),
    ("target", pa.int32()), ("weight", pa.float32())])
ACTIVATION_SCHEMA = pa.schema([
    ("run", pa.string()), ("prompt_id", pa.string()), ("position", pa.int32()),
    ("token_id", pa.int32()), ("layer", pa.int16()), ("feature", pa.int32()),
    ("activation", pa.float32())])
PROMPT_SCHEMA = pa.schema([
    ("run", pa.string()), ("prompt_id", pa.string()), ("text", pa.string()),
    ("token_ids", pa.list_(pa.int32())), ("tokens", pa.list_(pa.string())),
    ("metadata", pa.string()), ("has_graph", pa.bool_()),
    ("replacement_score", pa.float32()), ("completeness_score", pa.float32())])


def _node_row(graph: Graph, index: int) -> dict[str, Any]:
    kind = graph.node_kind(index)
    row = {"node_type": kind, "feature": -1, "token_id": -1, "activation": None,
           "logit_prob": None}
    if kind == "feature":
        sel = int(graph.selected_features[index])
        layer, pos, feat = graph.active_features[sel].tolist()
        row.update(layer=layer, position=pos, feature=feat,
                   activation=float(graph.activation_values[sel]))
    elif kind == "error":
        layer, pos = divmod(index - graph.error_start, graph.n_pos)
        row.update(layer=layer, position=pos)
    elif kind == "embedding":
        pos = index - graph.token_start
        row.update(layer=-1, position=pos, token_id=int(graph.input_ids[pos]))
    else:
        i = index - graph.logit_start
        row.update(layer=graph.n_layers, position=graph.n_pos - 1,
                   token_id=int(graph.logit_token_ids[i]),
                   logit_prob=float(graph.logit_probabilities[i]))
    return row


def _nodes(graph: Graph, indices: list[int], influence: list[float], run: str,
           prompt_id: str, transcoder_set: str) -> pa.Table:
    rows = []
    for index in indices:
        row = _node_row(graph, index)
        row.update(run=run, prompt_id=prompt_id, node_index=index, node_id=node_id(graph, index),
                   transcoder_set=transcoder_set, influence=influence[index])
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=NODE_SCHEMA)


def node_table(graph: Graph, run: str = "", prompt_id: str = "",
               transcoder_set: str = "") -> pa.Table:
    """Every node of the (unpruned) graph as nodes.parquet rows."""
    influence = node_influence(graph).cpu().tolist()
    return _nodes(graph.host_view(), list(range(graph.n_nodes)), influence, run, prompt_id,
                  transcoder_set)


def graph_to_shard_tables(graph: Graph, run: str, prompt_id: str, transcoder_set: str,
                          pruned: PruneResult | None = None, node_threshold: float = 0.8,
                          edge_threshold: float = 0.98) -> dict[str, pa.Table]:
    """{"nodes": ..., "edges": ...} rows of the pruned graph (pruned here unless given)."""
    pruned = pruned or prune_graph(graph, node_threshold, edge_threshold)
    influence = node_influence(graph).cpu().tolist()
    adjacency, graph = graph.adjacency, graph.host_view()
    kept = pruned.node_mask.cpu().nonzero().flatten().tolist()
    nodes = _nodes(graph, kept, influence, run, prompt_id, transcoder_set)
    dst, src = pruned.edge_mask.cpu().nonzero(as_tuple=True)
    weight = adjacency.detach()[dst.to(adjacency.device), src.to(adjacency.device)].cpu().float()
    n = len(dst)
    edges = pa.table({"run": pa.array([run] * n, pa.string()),
                      "prompt_id": pa.array([prompt_id] * n, pa.string()),
                      "source": pa.array(src.to(torch.int32).numpy()),
                      "target": pa.array(dst.to(torch.int32).numpy()),
                      "weight": pa.array(weight.numpy())}, schema=EDGE_SCHEMA)
    return {"nodes": nodes, "edges": edges}


def activation_table(graph: Graph, run: str, prompt_id: str) -> pa.Table:
    """Every non-zero transcoder activation of the prompt (BOS position excluded, as zeroed)."""
    feats = graph.active_features.cpu()
    n = feats.shape[0]
    tokens = graph.input_ids.cpu()[feats[:, 1]] if n else torch.zeros(0, dtype=torch.long)
    return pa.table({"run": pa.array([run] * n, pa.string()),
                     "prompt_id": pa.array([prompt_id] * n, pa.string()),
                     "position": pa.array(feats[:, 1].to(torch.int32).numpy()),
                     "token_id": pa.array(tokens.to(torch.int32).numpy()),
                     "layer": pa.array(feats[:, 0].to(torch.int16).numpy()),
                     "feature": pa.array(feats[:, 2].to(torch.int32).numpy()),
                     "activation": pa.array(graph.activation_values.cpu().float().numpy())},
                    schema=ACTIVATION_SCHEMA)


def prompt_row(graph: Graph | None, run: str, prompt_id: str, text: str,
               token_ids: list[int], tokens: list[str],
               metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """One prompts.parquet row (scores from graph.scores when a graph was computed)."""
    scores = graph.scores if graph is not None else {}
    return {"run": run, "prompt_id": prompt_id, "text": text, "token_ids": list(token_ids),
            "tokens": list(tokens), "metadata": json.dumps(metadata or {}),
            "has_graph": graph is not None,
            "replacement_score": scores.get("replacement_score"),
            "completeness_score": scores.get("completeness_score")}
