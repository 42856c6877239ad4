"""Finding features by words and by meaning on the real server, labels with provenance, the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from atlas.cli.main import cli
from atlas.graphdb.labels import FeatureLabel, write_labels
from atlas.graphdb.search import embed_features, search_semantic, search_text, sentence_embedder
from atlas.graphdb.synthetic import SyntheticSpec

from .graphdb_fixtures import loaded_run

SPEC = SyntheticSpec(n_prompts=8, n_shards=1, seed=11)
T = SPEC.transcoder_set
LABELS = {f"{T}:0:1": ("capital cities of Europe", "Paris is the capital of France"),
          f"{T}:1:2": ("French food and cooking", "a croissant with butter"),
          f"{T}:2:3": ("numbers and counting", "one two three four")}


@pytest.fixture(scope="module")
def labelled(neo4j_driver, atlas_config, tmp_path_factory):
    db = atlas_config.neo4j_database
    run_dir = loaded_run(neo4j_driver, db, tmp_path_factory.mktemp("search"), SPEC)
    labels = [FeatureLabel(k, lab, "manual", top_text=text) for k, (lab, text) in LABELS.items()]
    assert write_labels(neo4j_driver, labels, database=db) == 3
    return run_dir


def test_full_text_finds_label_and_example_words(labelled, neo4j_driver, atlas_config):
    db = atlas_config.neo4j_database
    assert search_text(neo4j_driver, "capital", database=db).results[0]["feature"] == f"{T}:0:1"
    assert search_text(neo4j_driver, "croissant", database=db).results[0]["feature"] == f"{T}:1:2"
    page = search_text(neo4j_driver, "capital OR food OR counting", limit=2, database=db)
    assert len(page.results) == 2 and page.has_more and page.next_offset == 2
    rest = search_text(neo4j_driver, "capital OR food OR counting", offset=2, limit=2,
                       database=db)
    assert len(rest.results) == 1 and not rest.has_more
    assert search_text(neo4j_driver, 'x") DETACH DELETE n //', database=db).results == []


def test_provenance_is_stored(labelled, neo4j_driver, atlas_config):
    rec = neo4j_driver.execute_query(
        "MATCH (f:Feature {key: $k}) RETURN f.label_source AS s, f.label_at IS NOT NULL AS t",
        k=f"{T}:0:1", database_=atlas_config.neo4j_database).records[0]
    assert rec["s"] == "manual" and rec["t"]


def test_semantic_search_ranks_by_meaning(labelled, neo4j_driver, atlas_config):
    db = atlas_config.neo4j_database
    embedder = sentence_embedder()
    assert embed_features(neo4j_driver, embedder, database=db) == 3
    assert embed_features(neo4j_driver, embedder, database=db) == 0  # nothing stale
    neo4j_driver.execute_query("CALL db.awaitIndexes(60)", database_=db)
    top = search_semantic(neo4j_driver, "baguette and cheese", embedder, limit=1, database=db)
    assert top.results[0]["feature"] == f"{T}:1:2" and top.has_more
    top = search_semantic(neo4j_driver, "Berlin, Madrid, Rome", embedder, limit=3, database=db)
    assert top.results[0]["feature"] == f"{T}:0:1"


def test_cli_query_and_search(labelled, atlas_config):
    env = {"ATLAS_NEO4J_BOLT_PORT": str(atlas_config.neo4j_bolt_port),
           "ATLAS_NEO4J_HTTP_PORT": str(atlas_config.neo4j_http_port)}
    runner = CliRunner()
    base = ["--home", str(atlas_config.home)]
    out = runner.invoke(cli, base + ["query", "feature-neighborhood", "--param",
                                     f"feature={T}:1:2", "--format", "json"], env=env)
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert {r["direction"] for r in rows} <= {"up", "down"} and rows
    out = runner.invoke(cli, base + ["query", "hubs", "--param", "limit=2", "--format", "csv"],
                        env=env)
    assert out.exit_code == 0 and out.output.splitlines()[0].startswith("feature,label,layer")
    out = runner.invoke(cli, base + ["search", "capital", "--format", "json"], env=env)
    assert out.exit_code == 0 and json.loads(out.output)["results"][0]["feature"] == f"{T}:0:1"


def test_cli_load_skips_a_loaded_run(labelled, atlas_config):
    env = {"ATLAS_NEO4J_BOLT_PORT": str(atlas_config.neo4j_bolt_port),
           "ATLAS_NEO4J_HTTP_PORT": str(atlas_config.neo4j_http_port)}
    out = CliRunner().invoke(cli, ["--home", str(atlas_config.home), "load", SPEC.run,
                                   "--run-dir", str(labelled)], env=env)
    assert out.exit_code == 0, out.output
    assert "0 edges loaded" in out.output and "1 shard(s) already loaded" in out.output
    out = CliRunner().invoke(cli, ["--home", str(atlas_config.home), "load", SPEC.run,
                                   "--run-dir", str(labelled), "--bulk"], env=env)
    assert out.exit_code != 0 and "--replace-database" in out.output
