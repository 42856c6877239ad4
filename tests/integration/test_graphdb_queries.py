"""Every named query against the real server equals the DuckDB/Python oracle on a synthetic run."""

from __future__ import annotations

import re

import pytest

from atlas.errors import InputError
from atlas.graphdb.graph_json import prompt_graph_json
from atlas.graphdb.queries import load_query, query_names, run_named_query
from atlas.graphdb.synthetic import SyntheticSpec

from .graphdb_fixtures import loaded_run
from .graphdb_oracle import Oracle

SPEC = SyntheticSpec(n_prompts=40, n_shards=2, seed=7)
F = [f"{SPEC.transcoder_set}:{layer}:{i}" for layer, i in SPEC.planted[0].features]


@pytest.fixture(scope="module")
def graph(neo4j_driver, atlas_config, tmp_path_factory):
    db = atlas_config.neo4j_database
    run_dir = loaded_run(neo4j_driver, db, tmp_path_factory.mktemp("gq"), SPEC)
    return lambda name, **p: run_named_query(neo4j_driver, name, p, database=db), Oracle(run_dir)


def _same(got, want, keys):
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        for k in keys:
            if isinstance(w[k], float):
                assert g[k] == pytest.approx(w[k], rel=1e-4, abs=1e-4), (k, g, w)
            else:
                assert g[k] == w[k], (k, g, w)


def test_every_query_explains_and_declares_its_columns(neo4j_driver, atlas_config):
    for name in query_names():
        spec = load_query(name)
        params = {p.name: p.default for p in spec.params}
        summary = neo4j_driver.execute_query("EXPLAIN " + spec.text, parameters_=params,
                                             database_=atlas_config.neo4j_database).summary
        assert summary.plan is not None, name
        assert spec.columns, name


def test_every_loader_statement_explains(neo4j_driver, atlas_config):
    from atlas.paths import QUERIES_DIR

    files = sorted((QUERIES_DIR / "load").glob("*.cypher"))
    assert len(files) >= 8
    for path in files:
        text = path.read_text()
        params = {name: [] if name == "rows" else 1 if name == "limit" else "x"
                  for name in re.findall(r"\$(\w+)", text)}
        summary = neo4j_driver.execute_query("EXPLAIN " + text, parameters_=params,
                                             database_=atlas_config.neo4j_database).summary
        assert summary.plan is not None, path.name


@pytest.mark.parametrize("params", [
    {}, {"min_prompts": 2, "limit": 50}, {"token": 7}, {"min_length": 3, "limit": 10},
    {"min_length": 1, "token": 7, "min_prompts": 4},
    {"prompts": [f"p{i:06d}" for i in range(0, 40, 2)], "min_prompts": 2, "limit": 30},
    # small limits make the top-limit support bound prune (ties at the bound included)
    {"limit": 0}, {"limit": 1}, {"limit": 3, "min_prompts": 2}, {"limit": 4, "min_length": 3},
    {"limit": 2, "min_length": 4, "min_prompts": 2}, {"token": 7, "limit": 2},
    {"token": 7, "min_length": 1, "limit": 3}, {"max_length": 3, "limit": 5, "min_prompts": 2},
    {"prompts": [f"p{i:06d}" for i in range(1, 40, 3)], "limit": 3, "min_prompts": 2},
    # anchored with small limits: a token with min_length 3, scopes with a token or min_length 3;
    # scopes of <= 20 prompts (of 40) read pairs from the scope's graphs, larger ones from AGG lists
    {"token": 7, "min_length": 3, "limit": 3}, {"token": 42, "limit": 4, "min_prompts": 2},
    {"prompts": [f"p{i:06d}" for i in range(0, 40, 2)], "min_length": 3, "limit": 4,
     "min_prompts": 2},
    {"prompts": [f"p{i:06d}" for i in range(0, 40, 2)], "token": 7, "limit": 3, "min_prompts": 2},
    {"prompts": [f"p{i:06d}" for i in range(30)], "limit": 3, "min_prompts": 2},
    {"prompts": [f"p{i:06d}" for i in range(30)], "token": 7, "min_length": 3, "limit": 2,
     "min_prompts": 2},
    {"prompts": [f"p{i:06d}" for i in range(1, 40, 3)] + ["nope"], "token": 7, "min_length": 1,
     "max_length": 2, "limit": 5, "min_prompts": 2},
    {"prompts": []}])
def test_recurring_circuits(graph, params):
    run, oracle = graph
    got = run("recurring-circuits", **params)
    want = oracle.recurring(**params)
    _same(got, want, ["features", "length", "token", "support", "mean_weight",
                      "mean_abs_weight", "example_prompts"])
    planted_fits = params.get("min_length", 2) <= 3 and params.get("limit", 20) >= 10
    if "prompts" not in params and planted_fits:
        assert any(r["features"] == F for r in got)  # the planted path is found


def test_circuit_prompts(graph):
    run, oracle = graph
    for feats, token in ((F, None), (F, 7), (F[1:], 7), (F[:2], None)):
        got = run("circuit-prompts", features=feats, token=token)
        _same(got, oracle.circuit_prompts(feats, token), ["prompt_id"])
        for g, w in zip(got, oracle.circuit_prompts(feats, token)):
            assert g["hop_weights"] == pytest.approx(w["hop_weights"], abs=1e-4)


@pytest.mark.parametrize("feature", [F[1], F[0], f"{SPEC.transcoder_set}:2:0"])
def test_feature_neighborhood(graph, feature):
    run, oracle = graph
    got = run("feature-neighborhood", feature=feature, limit=5)
    _same(got, oracle.neighborhood(feature, limit=5),
          ["direction", "feature", "support", "count", "mean_weight", "sum_abs",
           "min_weight", "max_weight"])


def test_paths_between(graph):
    run, oracle = graph
    for a, b, hops, k in ((F[0], F[2], 3, 1), (F[0], F[2], 2, 2), (F[1], F[2], 1, 1)):
        got = run("paths-between", source=a, target=b, max_hops=hops, min_prompts=k)
        _same(got, oracle.between(a, b, hops, k),
              ["features", "hops", "score", "support", "min_hop_support"])


@pytest.mark.parametrize("params", [{}, {"token": 7}, {"prompts": ["p000001", "p000005"]},
                                    {"token": 7, "prompts": ["p000001", "p000002", "p000003"]}])
def test_hubs(graph, params):
    run, oracle = graph
    _same(run("hubs", **params), oracle.hubs(**params),
          ["feature", "n_prompts", "instances", "total_influence", "mean_activation"])


def test_compare(graph):
    run, oracle = graph
    a = [p for p in sorted(oracle.prompts) if p in oracle.edge_prompts[(F[0], F[1])]][:8]
    b = [p for p in sorted(oracle.prompts) if p not in a][:10]
    got = run("compare", a=a, b=b)
    _same(got, oracle.compare(a, b), ["source", "target", "support_a", "support_b", "ratio"])
    assert (got[0]["source"], got[0]["target"]) in {(F[0], F[1]), (F[1], F[2])} or \
        got[0]["ratio"] >= 1.0


def test_prompt_graph_round_trips_the_shard(graph, neo4j_driver, atlas_config):
    _, oracle = graph
    doc = prompt_graph_json(neo4j_driver, "p000003", database=atlas_config.neo4j_database)
    nodes = oracle.nodes[oracle.nodes.prompt_id == "p000003"]
    edges = oracle.edges[oracle.edges.prompt_id == "p000003"]
    assert [n["node_id"] for n in doc["nodes"]] == list(nodes.node_id)
    by_index = dict(zip(nodes.node_index, nodes.node_id))
    want = sorted((by_index[s], by_index[t], round(w, 4))
                  for s, t, w in zip(edges.source, edges.target, edges.weight))
    got = sorted((lk["source"], lk["target"], round(lk["weight"], 4)) for lk in doc["links"])
    assert got == want
    assert doc["metadata"]["slug"] == "p000003"
    logits = [n for n in doc["nodes"] if n["feature_type"] == "logit"]
    assert sum(n["is_target_logit"] for n in logits) == 1


def test_cypher_in_a_parameter_is_data(graph, neo4j_driver, atlas_config):
    run, _ = graph
    evil = "x'}) DETACH DELETE n //"
    before = neo4j_driver.execute_query("MATCH (n) RETURN count(n) AS c",
                                        database_=atlas_config.neo4j_database).records[0]["c"]
    assert run("feature-neighborhood", feature=evil) == []
    assert run("hubs", prompts=[evil, "MATCH (n) DETACH DELETE n"]) == []
    after = neo4j_driver.execute_query("MATCH (n) RETURN count(n) AS c",
                                       database_=atlas_config.neo4j_database).records[0]["c"]
    assert after == before


def test_bad_parameters_are_one_line_errors(graph):
    run, _ = graph
    with pytest.raises(InputError, match="unknown parameter"):
        run("hubs", tokn=3)
    with pytest.raises(InputError, match="missing parameter"):
        run("paths-between", source=F[0])
    with pytest.raises(InputError, match="unknown query"):
        run("no-such-query")
