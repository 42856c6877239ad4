"""`atlas search --examples` and GET /api/search/examples on a run ingested from a tiny model.

The atlas here needs only the catalog and the run's folder (no Neo4j): search by examples reads
the run's model, transcoders and frozen prompts, never the graph.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner
from fastapi.testclient import TestClient

from atlas.api import create_app
from atlas.catalog import db
from atlas.cli.main import cli
from atlas.features.by_examples import ExampleSearcher, run_model, sample_prompts
from atlas.graphdb.examples import rank_by_examples
from atlas.models import capture_mlp_io, encode_prompt, load_model
from atlas.transcoders import load_transcoders, random_transcoders, save_transcoders
from tests.conftest import make_test_config
from tests.fixtures.tiny_models import D_MODEL, N_LAYERS, build_tiny_model

N_PROMPTS = 40
MAX_TOKENS = 24
EXAMPLES = ["~~~ ||| ~~~ |||", "{{{ ^^^ }}} ^^^"]
"""Punctuation runs, far from the corpus's lower-case English prompts."""
WHO = ["a cat", "my dog", "the bird", "some fish", "our horse", "every mouse", "one frog"]
DID = ["saw", "chased", "found", "ignored", "liked"]
WHAT = ["ball", "garden", "river"]


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory):
    """A catalog-only atlas holding run `tiny` (ingested with --no-load) and its inputs."""
    root = tmp_path_factory.mktemp("examples")
    model_dir = build_tiny_model("gpt2", root / "model")
    tdir = Path(save_transcoders(random_transcoders(N_LAYERS, D_MODEL, 64, seed=3),
                                 root / "tc-tiny"))
    corpus = root / "corpus.jsonl"
    with open(corpus, "w") as f:
        for i in range(N_PROMPTS):
            f.write(json.dumps({"id": f"p{i:03d}", "text": f"{WHO[i % 7]} {DID[i % 5]} the "
                                f"{WHAT[i % 3]} at {i} o'clock"}) + "\n")
    config = make_test_config(root / "home")
    engine = db.make_engine(config.catalog_url_resolved)
    db.upgrade(engine)
    engine.dispose()
    env = {"ATLAS_HOME": str(config.home)}
    result = CliRunner().invoke(cli, [
        "ingest", "--run", "tiny", "--model", str(model_dir), "--transcoders", str(tdir),
        "--corpus", str(corpus), "--shard-size", "20", "--max-tokens", str(MAX_TOKENS),
        "--graph-every", "1000", "--no-load", "--quiet"], env=env)
    assert result.exit_code == 0, result.output
    return {"config": config, "env": env, "model": model_dir, "tc": tdir, "corpus": corpus,
            "root": root}


def independent_max(model, tset, texts: list[str]) -> np.ndarray:
    """[n_texts n_features] one text at a time, by plain MLP-input hooks (not the ingest pass)."""
    rows = []
    for text in texts:
        ids = encode_prompt(model.tokenizer, text)[:MAX_TOKENS]
        mlp_in, _ = capture_mlp_io(model, ids[None])             # [n_layers 1 pos d_model]
        rows.append(torch.cat([tset.encode(layer, mlp_in[layer, 0, 1:]).max(0).values
                               for layer in range(tset.n_layers)]).numpy())
    return np.stack(rows)


@pytest.fixture(scope="module")
def expected(atlas):
    """The ranking computed independently: own forward passes, then rank_by_examples."""
    model = load_model(atlas["model"])
    tset = load_transcoders(atlas["tc"])
    prompts = pq.read_table(atlas["config"].home / "runs" / "tiny" / "prompts.parquet")
    baseline = prompts["text"].to_pylist()
    assert len(baseline) == N_PROMPTS                  # fewer than 256: the whole corpus
    ex, base = independent_max(model, tset, EXAMPLES), independent_max(model, tset, baseline)
    keys = [f"tc-tiny:{layer}:{index}" for layer in range(N_LAYERS) for index in range(64)]
    return {"ranked": rank_by_examples(ex, base, keys, top_k=10), "ex": ex, "base": base,
            "keys": keys}


def test_top_feature_truly_fires_more_on_the_examples(atlas, expected) -> None:
    page = ExampleSearcher(run_model(atlas["config"], "tiny")).search(EXAMPLES, 0, 10)
    top = page.results[0]
    col = expected["keys"].index(top["feature"])
    assert expected["ex"][:, col].mean() > expected["base"][:, col].mean() + 0.05
    assert top["layer"] * 64 + top["index"] == col and top["score"] > 1


def test_ranking_equals_rank_by_examples_on_independent_activations(atlas, expected) -> None:
    page = ExampleSearcher(run_model(atlas["config"], "tiny")).search(EXAMPLES, 0, 10)
    assert [r["feature"] for r in page.results] == [r["feature"] for r in expected["ranked"]]
    for got, want in zip(page.results, expected["ranked"]):
        for name in ("score", "mean_examples", "mean_baseline", "frac_examples_active"):
            assert got[name] == pytest.approx(want[name], rel=1e-4, abs=1e-4), name
    assert page.has_more and page.next_offset == 10


def test_paging_walks_the_same_ranking(atlas, expected) -> None:
    searcher = ExampleSearcher(run_model(atlas["config"], "tiny"))
    first, second = searcher.search(EXAMPLES, 0, 4), searcher.search(EXAMPLES, 4, 4)
    assert [r["feature"] for r in first.results + second.results] == \
        [r["feature"] for r in expected["ranked"][:8]]
    assert second.next_offset == 8


def test_baseline_sample_is_seeded_and_in_file_order(atlas) -> None:
    path = atlas["config"].home / "runs" / "tiny" / "prompts.parquet"
    everything = pq.read_table(path)["text"].to_pylist()
    a, b = sample_prompts(path, 7), sample_prompts(path, 7)
    assert a == b and len(a) == 7 and len(set(a)) == 7
    positions = [everything.index(t) for t in a]
    assert positions == sorted(positions)
    assert sample_prompts(path, 7, seed=1) != a


def _search(atlas, *args: str):
    return CliRunner().invoke(cli, ["search", "--examples", *args], env=atlas["env"])


def test_cli_prints_the_ranking(atlas, expected) -> None:
    result = _search(atlas, "--run", "tiny", "--format", "json", "--limit", "5", *EXAMPLES)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert set(body) == {"results", "has_more", "next_offset"}
    assert [r["feature"] for r in body["results"]] == \
        [r["feature"] for r in expected["ranked"][:5]]
    assert body["has_more"] and body["next_offset"] == 5
    table = _search(atlas, "--run", "tiny", "--limit", "3", *EXAMPLES)
    assert table.exit_code == 0, table.output
    assert expected["ranked"][0]["feature"] in table.output and "more: --offset 3" in table.output


def test_cli_baseline_file(atlas, tmp_path: Path) -> None:
    base = tmp_path / "base.txt"
    base.write_text("\n".join(EXAMPLES) + "\n\n")
    result = _search(atlas, "--run", "tiny", "--baseline", str(base), "--format", "json",
                     *EXAMPLES)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["results"]
    assert all(r["score"] == pytest.approx(0, abs=1e-3) for r in rows)   # examples == baseline


def test_cli_errors_are_one_line(atlas, tmp_path: Path) -> None:
    cases = [(("--run", "nope", "x"), "no run named 'nope'; known runs are tiny"),
             (("x",), "--examples needs --run NAME"),
             (("--semantic", "--run", "tiny", "x"), "cannot be combined with --semantic"),
             (("--run", "tiny", "  "), "text 1 of 1 is empty")]
    for args, message in cases:
        result = _search(atlas, *args)
        assert result.exit_code == 1 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    result = _search(atlas, "--run", "tiny", "--baseline", str(empty), "x")
    assert result.exit_code == 1 and "has no texts" in result.output


def test_missing_model_folder_is_named(atlas) -> None:
    moved = atlas["root"] / "model-gone"
    shutil.copytree(atlas["model"], moved)
    result = CliRunner().invoke(cli, [
        "ingest", "--run", "gone", "--model", str(moved), "--transcoders", str(atlas["tc"]),
        "--corpus", str(atlas["corpus"]), "--shard-size", "40", "--graph-every", "1000",
        "--no-load", "--quiet"], env=atlas["env"])
    assert result.exit_code == 0, result.output
    shutil.rmtree(moved)
    result = _search(atlas, "--run", "gone", "x")
    assert result.exit_code == 1 and f"model folder {moved} is missing" in result.output


@pytest.fixture(scope="module")
def client(atlas):
    with TestClient(create_app(atlas["config"], web=False),
                    raise_server_exceptions=False) as c:
        yield c


def test_api_returns_the_ranking(client, expected) -> None:
    r = client.get("/api/search/examples", params={"run": "tiny", "text": EXAMPLES, "limit": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [h["feature"] for h in body["results"]] == \
        [h["feature"] for h in expected["ranked"][:5]]
    assert body["offset"] == 0 and body["limit"] == 5 and body["next_offset"] == 5
    assert body["results"][0]["score"] == pytest.approx(expected["ranked"][0]["score"], rel=1e-4)
    again = client.get("/api/search/examples",
                       params={"run": "tiny", "text": EXAMPLES, "limit": 5, "offset": 5})
    assert [h["feature"] for h in again.json()["results"]] == \
        [h["feature"] for h in expected["ranked"][5:10]]


def test_api_keeps_one_searcher_per_run(client) -> None:
    assert client.get("/api/search/examples", params={"run": "tiny", "text": "x"}).is_success
    res = client.app.state.resources
    searcher = res.example_searcher("tiny")
    model = searcher.loaded()[0]
    assert client.get("/api/search/examples", params={"run": "tiny", "text": "y"}).is_success
    assert res.example_searcher("tiny") is searcher and searcher.loaded()[0] is model


def test_api_errors(client) -> None:
    r = client.get("/api/search/examples", params={"run": "nope", "text": "x"})
    assert r.status_code == 404 and "no run named 'nope'" in r.json()["error"]
    r = client.get("/api/search/examples", params={"run": "tiny", "text": " "})
    assert r.status_code == 400 and "empty" in r.json()["error"]
    r = client.get("/api/search/examples", params={"run": "tiny"})
    assert r.status_code == 400 and "text" in r.json()["error"]
    r = client.get("/api/search/examples", params={"run": "tiny", "text": ["x"] * 33})
    assert r.status_code == 400 and "text" in r.json()["error"]
    r = client.get("/api/search/examples", params={"run": "tiny", "text": "x" * 2001})
    assert r.status_code == 400 and "over 2000 characters" in r.json()["error"]
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]["ExampleHit"]
    assert schema["additionalProperties"] is False


def test_keys_are_the_graph_loaders_feature_keys(atlas) -> None:
    """The run's graph shard names features as the loader keys them in Neo4j (and so as text and
    semantic search return them); search by examples uses the same keys."""
    from atlas.graphdb.keys import feature_key

    shards = atlas["config"].home / "runs" / "tiny" / "shards"
    nodes = pq.read_table(next(shards.iterdir()) / "nodes.parquet").to_pylist()
    loaded = {feature_key(n["transcoder_set"], n["layer"], n["feature"])
              for n in nodes if n["node_type"] == "feature"}
    keys = ExampleSearcher(run_model(atlas["config"], "tiny")).loaded()[2]
    assert loaded and loaded <= set(keys)
