"""circuit-tracer's frontend graph JSON: pydantic models (unknown fields forbidden) and export.

Field values follow circuit-tracer 0.5.0's `create_graph_files` exactly (node ids, Cantor
feature ids, jsNodeId, clerp of logits, cumulative influence), so its viewer loads our files and
its own JSON round-trips through these models.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from atlas.attribution.prune import PruneResult, prune_graph
from atlas.graph.graph import Graph


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Metadata(_Strict):
    slug: str
    scan: str
    transcoder_list: list[str]
    prompt_tokens: list[str]
    prompt: str
    node_threshold: float | None = None
    schema_version: int | None = 1


class QParams(_Strict):
    pinnedIds: list[str]
    supernodes: list[list[str]]
    linkType: str
    clickedId: str
    sg_pos: str


class Node(_Strict):
    node_id: str
    feature: int
    layer: str
    ctx_idx: int
    feature_type: str
    token_prob: float = 0.0
    is_target_logit: bool = False
    run_idx: int = 0
    reverse_ctx_idx: int = 0
    jsNodeId: str
    clerp: str = ""
    influence: float | None = None
    activation: float | None = None


class Link(_Strict):
    source: str
    target: str
    weight: float


class FrontendGraph(_Strict):
    metadata: Metadata
    qParams: QParams
    nodes: list[Node]
    links: list[Link]


def cantor(layer: int, feature: int) -> int:
    """circuit-tracer's feature id: Cantor pairing of (layer, feature)."""
    return (layer + feature) * (layer + feature + 1) // 2 + feature


def node_id(graph: Graph, index: int) -> str:
    """The frontend node id of node `index` of `graph`."""
    kind = graph.node_kind(index)
    if kind == "feature":
        layer, pos, feat = graph.active_features[graph.selected_features[index]].tolist()
        return f"{layer}_{feat}_{pos}"
    if kind == "error":
        layer, pos = divmod(index - graph.error_start, graph.n_pos)
        return f"0_{layer}_{pos}"
    if kind == "embedding":
        pos = index - graph.token_start
        return f"E_{int(graph.input_ids[pos])}_{pos}"
    i = index - graph.logit_start
    return f"{graph.n_layers + 1}_{int(graph.logit_token_ids[i])}_{graph.n_pos - 1}"


def _node(graph: Graph, index: int, cumulative: float) -> Node:
    kind = graph.node_kind(index)
    nid = node_id(graph, index)
    if kind == "feature":
        sel = graph.selected_features[index]
        layer, pos, feat = graph.active_features[sel].tolist()
        return Node(node_id=nid, feature=cantor(layer, feat), layer=str(layer), ctx_idx=pos,
                    feature_type="cross layer transcoder", jsNodeId=f"{layer}_{feat}-0",
                    influence=cumulative, activation=float(graph.activation_values[sel]))
    if kind == "error":
        layer, pos = divmod(index - graph.error_start, graph.n_pos)
        return Node(node_id=nid, feature=-1, layer=str(layer), ctx_idx=pos,
                    feature_type="mlp reconstruction error", jsNodeId=f"{layer}_{pos}-0",
                    influence=cumulative)
    if kind == "embedding":
        pos = index - graph.token_start
        tok = int(graph.input_ids[pos])
        return Node(node_id=nid, feature=pos, layer="E", ctx_idx=pos, feature_type="embedding",
                    jsNodeId=f"E_{tok}-{pos}", influence=cumulative)
    i = index - graph.logit_start
    tok, prob = int(graph.logit_token_ids[i]), float(graph.logit_probabilities[i])
    return Node(node_id=nid, feature=tok, layer=str(graph.n_layers + 1), ctx_idx=graph.n_pos - 1,
                feature_type="logit", token_prob=prob, is_target_logit=i == 0,
                jsNodeId=f"L_{tok}-{graph.n_pos - 1}",
                clerp=f'Output "{graph.logit_tokens[i]}" (p={prob:.3f})')


def to_frontend(graph: Graph, slug: str, node_threshold: float = 0.8,
                edge_threshold: float = 0.98, pruned: PruneResult | None = None,
                scan: str | None = None) -> FrontendGraph:
    """The frontend JSON model of `graph` after pruning (computed unless given)."""
    pruned = pruned or prune_graph(graph, node_threshold, edge_threshold)
    adjacency, graph = graph.adjacency, graph.host_view()
    node_mask, edge_mask = pruned.node_mask.cpu(), pruned.edge_mask.cpu()
    cumulative = pruned.cumulative_scores.cpu().tolist()
    nodes = {i: _node(graph, i, cumulative[i]) for i in node_mask.nonzero().flatten().tolist()}
    dst, src = edge_mask.nonzero(as_tuple=True)
    weights = adjacency.detach()[dst.to(adjacency.device), src.to(adjacency.device)].cpu().tolist()
    links = [Link(source=nodes[s].node_id, target=nodes[d].node_id, weight=w)
             for s, d, w in zip(src.tolist(), dst.tolist(), weights) if s in nodes and d in nodes]
    connected = {link.source for link in links} | {link.target for link in links}
    used = [n for n in nodes.values()
            if n.node_id in connected or n.feature_type in ("embedding", "logit")]
    meta = Metadata(slug=slug, scan=scan or graph.scan, transcoder_list=[],
                    prompt_tokens=list(graph.tokens), prompt=graph.prompt,
                    node_threshold=node_threshold)
    qparams = QParams(pinnedIds=[], supernodes=[], linkType="both", clickedId="", sg_pos="")
    return FrontendGraph(metadata=meta, qParams=qparams, nodes=used, links=links)


def write_frontend_json(graph: Graph, path: str | Path, slug: str | None = None,
                        node_threshold: float = 0.8, edge_threshold: float = 0.98,
                        pruned: PruneResult | None = None) -> Path:
    """Write the frontend JSON of `graph` to `path` atomically; returns the path."""
    target = Path(path)
    model = to_frontend(graph, slug or target.stem, node_threshold, edge_threshold, pruned)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(fd, "w") as f:
        f.write(model.model_dump_json(indent=2))
    os.replace(tmp, target)
    return target


def read_frontend_json(path: str | Path) -> FrontendGraph:
    """Parse (and validate) a frontend graph JSON file, ours or circuit-tracer's."""
    return FrontendGraph.model_validate(json.loads(Path(path).read_text()))

