"""`atlas ingest` end to end on a tiny model: shards, catalog states, resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from atlas.catalog import db, runs
from atlas.cli.main import cli
from atlas.config import replace
from atlas.transcoders import random_transcoders, save_transcoders
from tests.fixtures.tiny_models import D_MODEL, N_LAYERS, tiny_model_dir

N_PROMPTS = 24


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ingest-inputs")
    tdir = save_transcoders(random_transcoders(N_LAYERS, D_MODEL, 64, seed=3), root / "tc")
    corpus = root / "corpus.jsonl"
    with open(corpus, "w") as f:
        for i in range(N_PROMPTS):
            f.write(json.dumps({"id": f"p{i:03d}", "text": f"prompt number {i} says hello",
                                "topic": i % 3}) + "\n")
        f.write("{not json\n")
        f.write(json.dumps({"text": "  "}) + "\n")
    return {"model": tiny_model_dir("gpt2"), "transcoders": Path(tdir), "corpus": corpus}


def _env(config) -> dict[str, str]:
    return {"ATLAS_HOME": str(config.home), "ATLAS_NEO4J_BOLT_PORT": str(config.neo4j_bolt_port),
            "ATLAS_NEO4J_HTTP_PORT": str(config.neo4j_http_port),
            "ATLAS_DUCKDB_MEMORY_LIMIT": "1GB"}


def _args(name: str, inputs: dict[str, Path], *extra: str) -> list[str]:
    return ["ingest", "--run", name, "--model", str(inputs["model"]), "--transcoders",
            str(inputs["transcoders"]), "--corpus", str(inputs["corpus"]), "--shard-size", "4",
            "--batch-size", "64", "--quiet", *extra]


def _shard_contents(home: Path, name: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for table in ("prompts", "nodes", "edges", "activations"):
        rows = []
        for shard in sorted((home / "runs" / name / "shards").iterdir()):
            rows += pq.read_table(shard / f"{table}.parquet").drop(["run"]).to_pylist()
        out[table] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return out


def _shard_states(config, name: str) -> list[str]:
    engine = db.make_engine(config.catalog_url_resolved)
    with db.session_factory(engine)() as session:
        states = [s.state.value for s in runs.get_run(session, name).shards]
    engine.dispose()
    return states


def test_ingest_writes_every_prompt_once(atlas_config, inputs) -> None:
    result = CliRunner().invoke(cli, _args("whole", inputs, "--no-load"),
                                env=_env(atlas_config))
    assert result.exit_code == 0, result.output
    assert "1 malformed JSON" in result.output and "1 empty prompts" in result.output
    contents = _shard_contents(atlas_config.home, "whole")
    ids = sorted(r["prompt_id"] for r in contents["prompts"])
    assert ids == [f"p{i:03d}" for i in range(N_PROMPTS)]
    assert all(r["has_graph"] for r in contents["prompts"])
    assert {r["prompt_id"] for r in contents["activations"]} == set(ids)
    assert len(contents["edges"]) > 0 and len(contents["nodes"]) > 0
    assert _shard_states(atlas_config, "whole") == ["committed"] * 6
    again = CliRunner().invoke(cli, _args("whole", inputs), env=_env(atlas_config))
    assert again.exit_code == 1 and "already exists" in again.output


def test_kill_9_then_resume_equals_uninterrupted_run(atlas_config, inputs) -> None:
    if not (atlas_config.home / "runs" / "whole").exists():
        CliRunner().invoke(cli, _args("whole", inputs, "--no-load"), env=_env(atlas_config))
    env = {**os.environ, **_env(atlas_config)}
    proc = subprocess.Popen([sys.executable, "-m", "atlas.cli.main",
                             *_args("killed", inputs, "--no-load")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = atlas_config.home / "runs" / "killed" / "shards"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if shards.exists() and len([p for p in shards.iterdir() if not p.name.startswith(".")]) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    states = _shard_states(atlas_config, "killed")
    assert "pending" in states or "claimed" in states
    result = CliRunner().invoke(cli, ["ingest", "--resume", "killed", "--quiet", "--no-load"],
                                env=_env(atlas_config))
    assert result.exit_code == 0, result.output
    assert _shard_states(atlas_config, "killed") == ["committed"] * 6
    assert _shard_contents(atlas_config.home, "killed") == _shard_contents(atlas_config.home,
                                                                           "whole")
    assert not [p for p in shards.iterdir() if p.name.startswith(".tmp-")]


def test_bad_inputs_leave_nothing(atlas_config, inputs, tmp_path: Path) -> None:
    env = _env(atlas_config)
    missing = dict(inputs, corpus=tmp_path / "nope.jsonl")
    result = CliRunner().invoke(cli, _args("bad1", missing), env=env)
    assert result.exit_code == 1 and "does not exist" in result.output
    wrong = save_transcoders(random_transcoders(N_LAYERS, D_MODEL + 8, 64), tmp_path / "wrong")
    result = CliRunner().invoke(cli, _args("bad2", dict(inputs, transcoders=Path(wrong))), env=env)
    assert result.exit_code == 1 and "layer" in result.output
    for name in ("bad1", "bad2"):
        assert not (atlas_config.home / "runs" / name).exists()
    result = CliRunner().invoke(cli, ["ingest", "--resume", "never-made"], env=env)
    assert result.exit_code == 1 and "no run named 'never-made'" in result.output


def test_ingest_with_load_fills_both_stores_once(atlas_config, inputs, clean_neo4j) -> None:
    from atlas.stores.duckdb_store import connect

    env = _env(atlas_config)
    result = CliRunner().invoke(cli, _args("loaded", inputs), env=env)
    assert result.exit_code == 0, result.output
    assert _shard_states(atlas_config, "loaded") == ["loaded"] * 6
    contents = _shard_contents(atlas_config.home, "loaded")
    db_name = atlas_config.neo4j_database

    def neo4j_counts() -> tuple[int, int, int]:
        records, _, _ = clean_neo4j.execute_query(
            "MATCH (p:Prompt {run: $run}) "
            "RETURN count(p) AS prompts, "
            "sum(COUNT { (p)-[:HAS]->(:GNode) }) AS nodes, "
            "sum(COUNT { (p)-[:HAS]->(:GNode)-[:ATTR]->(:GNode) }) AS edges",
            run="loaded", database_=db_name)
        return records[0]["prompts"], records[0]["nodes"], records[0]["edges"]

    assert neo4j_counts() == (N_PROMPTS, len(contents["nodes"]), len(contents["edges"]))

    def duck_counts() -> list[tuple]:
        con = connect(atlas_config, read_only=True)
        try:
            return con.execute("SELECT layer, feature, n_active FROM feature_stats "
                               "WHERE run = 'loaded' ORDER BY layer, feature").fetchall()
        finally:
            con.close()

    expected: dict[tuple[int, int], int] = {}
    for row in contents["activations"]:
        key = (row["layer"], row["feature"])
        expected[key] = expected.get(key, 0) + 1
    assert [(l, f, n) for l, f, n in duck_counts()] == sorted((k[0], k[1], n)
                                                              for k, n in expected.items())
    before = (neo4j_counts(), duck_counts())
    again = CliRunner().invoke(cli, ["load", "loaded"], env=env)     # loading twice: no change
    assert again.exit_code == 0, again.output
    assert "0 shard(s) merged" in again.output
    assert (neo4j_counts(), duck_counts()) == before
