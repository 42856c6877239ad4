"""The DuckDB connection helper and edge cases of the merge: empty batches, missing schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from atlas.config import AtlasConfig
from atlas.errors import StoreError
from atlas.features.merge import FeatureStatsStore
from atlas.features.synthetic import random_batch
from atlas.stores import duckdb_schema
from atlas.stores.duckdb_store import connect, open_path


def test_connect_applies_memory_limit_and_threads(tmp_path: Path) -> None:
    config = AtlasConfig(home=tmp_path, duckdb_memory_limit="300MB", duckdb_threads=1)
    con = connect(config)
    limit, threads = con.execute("SELECT current_setting('memory_limit'), "
                                 "current_setting('threads')").fetchall()[0]
    con.close()
    assert threads == 1 and limit.replace(" ", "").startswith(("286", "300"))
    assert (tmp_path / "atlas.duckdb").exists()


def test_read_only_open_of_a_missing_file_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_path(tmp_path / "none.duckdb", read_only=True)
    assert not (tmp_path / "none.duckdb").exists()


def test_connect_creates_parent_folders(tmp_path: Path) -> None:
    config = AtlasConfig(home=tmp_path, duckdb_path=tmp_path / "a" / "b" / "x.duckdb")
    connect(config).close()
    assert (tmp_path / "a" / "b" / "x.duckdb").exists()


def test_unusable_parent_folder_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create folder .*set duckdb_path"):
        open_path(tmp_path / "file" / "sub" / "x.duckdb")


def test_store_without_schema_says_run_init(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="atlas init"):
        FeatureStatsStore(open_path(tmp_path / "bare.duckdb"))


def test_prompts_where_nothing_fired_count_as_tokens_seen(tmp_path: Path) -> None:
    con = open_path(tmp_path / "f.duckdb", "256MB", 1)
    duckdb_schema.migrate(con)
    store = FeatureStatsStore(con)
    acts, prompts = random_batch(np.random.default_rng(0), "r", 3, 1, 3)
    quiet = pa.table({"prompt_id": ["quiet"], "token_ids": pa.array([[1, 2, 3, 4]],
                                                                      pa.list_(pa.int32()))})
    with store.merge_shard("r", "ts", "0") as merge:
        merge.add_batch(acts, prompts)
        merge.add_batch(acts.slice(0, 0), quiet)
    n_tokens = sum(len(t) for t in prompts["token_ids"].to_pylist()) + 4
    assert con.execute("SELECT n_prompts, n_tokens FROM feature_runs").fetchall() == \
        [(4, n_tokens)]
    assert con.execute("SELECT sum(n_active) FROM feature_stats").fetchall() == \
        [(acts.num_rows,)]
