"""Graph files, pruning invariants, frontend JSON models, shard tables, scores."""

import json

import pyarrow as pa
import pytest
import torch

from atlas.attribution import attribute, compute_graph_scores, prune_graph
from atlas.errors import InputError
from atlas.graph import load_graph, save_graph
from atlas.graph.frontend import FrontendGraph, cantor, read_frontend_json, write_frontend_json
from atlas.graph.shards import (EDGE_SCHEMA, NODE_SCHEMA, activation_table,
                                graph_to_shard_tables, node_table)
from atlas.models import load_model
from tests.fixtures.tiny_models import tiny_model_dir, tiny_transcoders


@pytest.fixture(scope="module")
def graph():
    loaded = load_model(tiny_model_dir("gpt2"))
    return attribute("The cat sat on", loaded, tiny_transcoders(loaded), batch_size=32)


def test_save_load_round_trip(graph, tmp_path):
    path = save_graph(graph, tmp_path / "g.safetensors")
    back = load_graph(path)
    assert torch.equal(back.adjacency, graph.adjacency)
    assert back.tokens == graph.tokens and back.prompt == graph.prompt
    assert torch.equal(back.selected_features, graph.selected_features)


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"garbage")
    with pytest.raises(InputError):
        load_graph(tmp_path / "x.safetensors")


def test_pruning_keeps_tokens_logits_and_connected_nodes(graph):
    result = prune_graph(graph, 0.8, 0.98)
    fixed = graph.n_pos + graph.n_logits
    assert result.node_mask[-fixed:].all()
    kept_edges = result.edge_mask
    assert not kept_edges[~result.node_mask].any() and not kept_edges[:, ~result.node_mask].any()
    inner = result.node_mask[:graph.n_nodes - fixed]
    assert kept_edges[:, :graph.n_nodes - fixed].any(0)[inner].all()
    assert (result.cumulative_scores <= 1 + 1e-6).all()
    with pytest.raises(InputError):
        prune_graph(graph, 1.5)


def test_scores_are_fractions(graph):
    replacement, completeness = compute_graph_scores(graph)
    assert 0 < replacement <= 1 and 0 < completeness <= 1


def test_frontend_json(graph, tmp_path):
    path = write_frontend_json(graph, tmp_path / "g.json", slug="g")
    model = read_frontend_json(path)
    ids = {n.node_id for n in model.nodes}
    assert all(link.source in ids and link.target in ids for link in model.links)
    feature = next(n for n in model.nodes if n.feature_type == "cross layer transcoder")
    layer, feat, _pos = map(int, feature.node_id.split("_"))
    assert feature.feature == cantor(layer, feat)
    logits = [n for n in model.nodes if n.feature_type == "logit"]
    assert len(logits) == graph.n_logits and sum(n.is_target_logit for n in logits) == 1
    raw = json.loads(path.read_text())
    raw["nodes"][0]["unexpected"] = 1
    with pytest.raises(ValueError):
        FrontendGraph.model_validate(raw)


def test_shard_tables_follow_the_schema(graph):
    tables = graph_to_shard_tables(graph, "run1", "p1", "tiny")
    nodes, edges = tables["nodes"], tables["edges"]
    assert nodes.schema.equals(NODE_SCHEMA) and edges.schema.equals(EDGE_SCHEMA)
    index = set(nodes.column("node_index").to_pylist())
    assert set(edges.column("source").to_pylist()) <= index
    assert set(edges.column("target").to_pylist()) <= index
    types = set(nodes.column("node_type").to_pylist())
    assert {"embedding", "logit", "feature"} <= types
    everything = node_table(graph)
    assert everything.num_rows == graph.n_nodes
    assert everything.column("node_type").to_pylist().count("error") == graph.n_layers * graph.n_pos
    acts = activation_table(graph, "run1", "p1")
    assert acts.num_rows == graph.active_features.shape[0]
    assert isinstance(acts, pa.Table)
