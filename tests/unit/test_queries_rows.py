"""Loader rows from shard files: keys, ordinals and aggregate increments, checked by brute force."""

from __future__ import annotations

from collections import defaultdict

import pytest

from atlas.graphdb.keys import cantor, parse_feature_key, prompt_number
from atlas.graphdb.shard_rows import batch_rows, plan_batches, read_shard
from atlas.graphdb.synthetic import SyntheticSpec, generate_run


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    run = generate_run(tmp_path_factory.mktemp("rows"), SyntheticSpec(n_prompts=12, n_shards=1))
    return read_shard(run / "shards" / "00000")


def test_cantor_matches_circuit_tracer():
    assert [cantor(0, 0), cantor(1, 0), cantor(0, 1), cantor(3, 5)] == [0, 1, 2, 41]


def test_prompt_number_is_stable_and_fits_int64():
    assert prompt_number("r/p1") == prompt_number("r/p1") < 2 ** 63
    assert prompt_number("r/p1") != prompt_number("r/p2")


def test_batches_cover_every_prompt_once(tables):
    batches = plan_batches(tables, 50)
    flat = [p for b in batches for p in b]
    assert sorted(flat) == sorted(tables.prompts["prompt_id"]) and len(batches) > 1


def test_edge_ordinals_point_at_the_right_nodes(tables):
    rows = batch_rows(tables, list(tables.prompts["uid"]))
    nodes = tables.nodes
    for g in rows.graphs:
        pid = g["u"].split("/", 1)[1]
        want = tables.edges[tables.edges.prompt_id == pid]
        got = sorted((g["nodes"][s]["i"], g["nodes"][t]["i"]) for s, t, _ in g["edges"])
        assert got == sorted(zip(want.source, want.target))
        assert [n["i"] for n in g["nodes"]] == list(nodes[nodes.prompt_id == pid].node_index)


def test_aggregates_equal_brute_force(tables):
    rows = batch_rows(tables, list(tables.prompts["uid"]))
    node = {(r.prompt_id, r.node_index): r for r in tables.nodes.itertuples()}
    want = defaultdict(list)
    for e in tables.edges.itertuples():
        s, t = node[(e.prompt_id, e.source)], node[(e.prompt_id, e.target)]
        if s.node_type == t.node_type == "feature":
            want[(f"{s.transcoder_set}:{s.layer}:{s.feature}",
                  f"{t.transcoder_set}:{t.layer}:{t.feature}")].append((e.prompt_id, e.weight))
    assert {(a["s"], a["t"]) for a in rows.agg} == set(want)
    for a in rows.agg:
        pw = want[(a["s"], a["t"])]
        assert a["n"] == len({p for p, _ in pw}) and a["c"] == len(pw)
        assert a["sum"] == pytest.approx(sum(w for _, w in pw), abs=1e-5)
        assert a["sq"] == pytest.approx(sum(w * w for _, w in pw), abs=1e-5)
        assert a["min"] == pytest.approx(min(w for _, w in pw))
        assert len(a["ps"]) == a["n"]
        parse_feature_key(a["s"])
