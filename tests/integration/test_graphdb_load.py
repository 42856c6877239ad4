"""Loading shards into Neo4j: counts match the files, loads are idempotent, concurrent loaders agree."""

from __future__ import annotations

import threading

import pyarrow.parquet as pq
import pytest

from atlas.errors import InputError
from atlas.graphdb.loader import load_run, load_shard, shard_dirs
from atlas.graphdb.synthetic import SyntheticSpec, generate_run

from .graphdb_fixtures import graph_counts, loaded_run, wipe
from .graphdb_oracle import Oracle


def _table_rows(run_dir, name):
    return sum(pq.read_table(p / f"{name}.parquet").num_rows for p in shard_dirs(run_dir))


def test_counts_match_shard_files(neo4j_driver, atlas_config, tmp_path):
    db = atlas_config.neo4j_database
    run_dir = loaded_run(neo4j_driver, db, tmp_path)
    counts = graph_counts(neo4j_driver, db)
    assert counts["labels"]["Prompt"] == _table_rows(run_dir, "prompts")
    assert counts["labels"]["GNode"] == _table_rows(run_dir, "nodes")
    assert counts["types"]["ATTR"] == _table_rows(run_dir, "edges")
    assert counts["types"]["HAS"] == _table_rows(run_dir, "nodes")
    oracle = Oracle(run_dir)
    feature_pairs = {k[:2] for k in counts["aggs"] if k[2] == "AGG"}
    assert feature_pairs == set(oracle.edge_prompts)
    for (s, t, kind), stats in counts["aggs"].items():
        if kind != "AGG":
            continue
        ws = oracle.edge_weights[(s, t)]
        assert stats[0] == len(oracle.edge_prompts[(s, t)])
        assert stats[1] == len(ws)
        assert stats[2] == pytest.approx(sum(ws), abs=1e-3)
        assert stats[3] == pytest.approx(sum(abs(w) for w in ws), abs=1e-3)
        assert stats[5] == pytest.approx(min(ws), abs=1e-4)
        assert stats[6] == pytest.approx(max(ws), abs=1e-4)


def test_load_twice_changes_nothing(neo4j_driver, atlas_config, tmp_path):
    db = atlas_config.neo4j_database
    run_dir = loaded_run(neo4j_driver, db, tmp_path)
    before = graph_counts(neo4j_driver, db)
    again = load_run(neo4j_driver, run_dir, database=db)
    assert again.edges == 0 and len(again.shards_skipped) == 2
    # forget the shard records: every prompt is then skipped one by one, still no change
    neo4j_driver.execute_query("MATCH (s:LoadedShard) DELETE s", database_=db)
    third = load_run(neo4j_driver, run_dir, database=db, batch_edges=100)
    assert third.edges == 0 and third.prompts_skipped == 40
    after = graph_counts(neo4j_driver, db)
    assert after["types"] == before["types"]
    assert after["aggs"] == before["aggs"]
    assert after["labels"] == before["labels"]


def test_resume_after_partial_load(neo4j_driver, atlas_config, tmp_path):
    """A load that stopped after some prompts resumes and ends equal to a clean load."""
    db = atlas_config.neo4j_database
    run_dir = loaded_run(neo4j_driver, db, tmp_path)
    want = graph_counts(neo4j_driver, db)
    wipe(neo4j_driver, db)
    first = shard_dirs(run_dir)[0]
    load_shard(neo4j_driver, first, database=db, batch_edges=100)
    neo4j_driver.execute_query("MATCH (s:LoadedShard) DELETE s", database_=db)
    load_run(neo4j_driver, run_dir, database=db)
    assert graph_counts(neo4j_driver, db) == want


def test_two_concurrent_loaders_share_features(neo4j_driver, atlas_config, tmp_path):
    """Different shards with the same planted features, loaded at once, give exact aggregates."""
    db = atlas_config.neo4j_database
    spec = SyntheticSpec(n_prompts=60, n_shards=4, n_features=8, seed=3)
    run_dir = loaded_run(neo4j_driver, db, tmp_path / "serial", spec)
    want = graph_counts(neo4j_driver, db)
    wipe(neo4j_driver, db)
    shards = shard_dirs(run_dir)
    errors = []

    def worker(mine):
        try:
            for shard in mine:
                load_shard(neo4j_driver, shard, database=db, batch_edges=50)
        except Exception as e:  # collected and re-raised in the test thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(shards[i::2],)) for i in range(2)]
    # both loaders also race on the same shard at the end
    threads.append(threading.Thread(target=worker, args=([shards[0]],)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert graph_counts(neo4j_driver, db) == want


def test_incomplete_shard_is_refused(neo4j_driver, atlas_config, tmp_path):
    run_dir = generate_run(tmp_path, SyntheticSpec(n_prompts=4, n_shards=1))
    shard = shard_dirs(run_dir)[0]
    (shard / "_SUCCESS").unlink()
    with pytest.raises(InputError, match="_SUCCESS"):
        load_shard(neo4j_driver, shard, database=atlas_config.neo4j_database)
