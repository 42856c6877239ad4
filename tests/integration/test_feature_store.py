"""The streaming DuckDB merge of feature statistics equals the full-sort reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from atlas.errors import ConfigError, InputError
from atlas.features.merge import FeatureStatsStore
from atlas.features.reference import ReferenceStats, reference_stats
from atlas.features.spec import FeatureStatsConfig
from atlas.features.synthetic import random_batch
from atlas.stores import duckdb_schema
from atlas.stores.duckdb_store import open_path

CONFIG = FeatureStatsConfig(top_k=4, ctx_left=3, ctx_right=2, samples_per_bin=2,
                            hist_log10_min=-1.0, hist_log10_max=1.0, hist_bins_per_decade=4)
RUN, TS = "run-a", "tc-set"


def make_shards(seed: int = 0, n_shards: int = 4) -> list[list[tuple[pa.Table, pa.Table]]]:
    """Shards of 2-3 batches each; activations rounded to 0.25 so ties are frequent."""
    rng = np.random.default_rng(seed)
    return [[random_batch(rng, RUN, n_prompts=int(rng.integers(2, 6)), n_layers=2,
                          n_features=6, max_len=12, density=0.25)
             for _ in range(int(rng.integers(2, 4)))] for _ in range(n_shards)]


def open_store(path: Path, config: FeatureStatsConfig = CONFIG) -> FeatureStatsStore:
    con = open_path(path, memory_limit="512MB", threads=1)
    duckdb_schema.migrate(con)
    return FeatureStatsStore(con, config)


def merge_all(store: FeatureStatsStore, shards, order) -> None:
    for i in order:
        with store.merge_shard(RUN, TS, f"{i:05d}") as merge:
            for activations, prompts in shards[i][::-1] if i % 2 else shards[i]:
                merge.add_batch(activations, prompts)


def table(store: FeatureStatsStore, name: str, keys: list[str]) -> pd.DataFrame:
    df = store.con.execute(f"SELECT * EXCLUDE (run, transcoder_set) FROM {name} "
                           "WHERE run = ? AND transcoder_set = ?", [RUN, TS]).df()
    if "ctx_offsets" in df:  # the store keeps a window's activations in any order
        pairs = [sorted(zip(o, v)) for o, v in zip(df["ctx_offsets"], df["ctx_values"])]
        df["ctx_offsets"] = [[o for o, _ in p] for p in pairs]
        df["ctx_values"] = [[v for _, v in p] for p in pairs]
    return df.sort_values(keys).reset_index(drop=True)


def as_records(df: pd.DataFrame, columns: list[str]) -> list[tuple]:
    def norm(v):
        if isinstance(v, (list, np.ndarray)):
            return tuple(float(x) if isinstance(x, (float, np.floating)) else x for x in v)
        return v.item() if isinstance(v, np.generic) else v
    return [tuple(norm(v) for v in row) for row in df[columns].itertuples(index=False)]


EXAMPLE_COLS = ["layer", "feature", "prompt_id", "position", "activation", "ctx_start",
                "ctx_token_ids", "ctx_tokens", "ctx_offsets", "ctx_values"]


def assert_matches_reference(store: FeatureStatsStore, ref: ReferenceStats) -> None:
    keys = ["layer", "feature", "prompt_id", "position"]
    top = table(store, "feature_top_examples", keys)
    assert as_records(top, EXAMPLE_COLS) == as_records(ref.top.sort_values(keys), EXAMPLE_COLS)
    samples = table(store, "feature_sample_examples", keys)
    cols = EXAMPLE_COLS + ["bin", "priority"]
    assert as_records(samples, cols) == as_records(ref.samples.sort_values(keys), cols)
    hist = table(store, "feature_histogram", ["layer", "feature", "bin"])
    ref_hist = ref.histogram.sort_values(["layer", "feature", "bin"])
    assert as_records(hist, ["layer", "feature", "bin", "n"]) == \
        as_records(ref_hist, ["layer", "feature", "bin", "n"])
    stats = table(store, "feature_stats", ["layer", "feature"])
    ref_stats = ref.stats.sort_values(["layer", "feature"]).reset_index(drop=True)
    ints = ["layer", "feature", "n_active", "max_act", "min_act"]
    assert as_records(stats, ints) == as_records(ref_stats, ints)
    np.testing.assert_allclose(stats[["sum_act", "sum_sq_act"]].to_numpy(),
                               ref_stats[["sum_act", "sum_sq_act"]].to_numpy(), rtol=1e-12)
    totals = store.con.execute("SELECT n_prompts, n_tokens FROM feature_runs WHERE run = ? "
                               "AND transcoder_set = ?", [RUN, TS]).fetchall()
    assert totals == [(ref.n_prompts, ref.n_tokens)]


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 1, 0, 2), (2, 3, 1, 0)])
def test_streaming_merge_equals_full_sort(tmp_path: Path, order) -> None:
    shards = make_shards()
    store = open_store(tmp_path / "f.duckdb")
    merge_all(store, shards, order)
    ref = reference_stats([b for shard in shards for b in shard], CONFIG)
    # the data must exercise the ranking: ties at the k-th value and more rows than kept
    assert (ref.stats["n_active"] > CONFIG.top_k).all()
    assert ref.top.duplicated(["layer", "feature", "activation"]).any()
    assert_matches_reference(store, ref)


def test_histogram_sums_to_active_count_and_stats_match_numpy(tmp_path: Path) -> None:
    shards = make_shards(seed=1)
    store = open_store(tmp_path / "f.duckdb")
    merge_all(store, shards, range(len(shards)))
    rows = store.con.execute(
        "SELECT s.layer, s.feature, s.n_active, sum(h.n) FROM feature_stats s "
        "JOIN feature_histogram h USING (run, transcoder_set, layer, feature) "
        "GROUP BY ALL").fetchall()
    assert rows and all(n == h for _, _, n, h in rows)
    acts = pa.concat_tables([a for shard in shards for a, _ in shard]).to_pandas()
    one = acts[(acts.layer == 1) & (acts.feature == 2)]["activation"].to_numpy(np.float64)
    n, total, mx = store.con.execute(
        "SELECT n_active, sum_act, max_act FROM feature_stats WHERE layer = 1 AND feature = 2"
    ).fetchall()[0]
    assert n == one.size and total == pytest.approx(one.sum(), rel=1e-12)
    assert mx == pytest.approx(one.max())
    edges = CONFIG.bin_edges()
    counts, _ = np.histogram(one, bins=np.concatenate([[0.0], edges, [np.inf]]))
    hist = dict(store.con.execute("SELECT bin, n FROM feature_histogram "
                                  "WHERE layer = 1 AND feature = 2").fetchall())
    assert [hist.get(b, 0) for b in range(CONFIG.n_bins)] == counts.tolist()


def snapshot(store: FeatureStatsStore) -> dict[str, list]:
    out = {}
    for name in ("feature_runs", "feature_stats", "feature_histogram", "feature_top_examples",
                 "feature_sample_examples"):
        out[name] = sorted(map(repr, store.con.execute(f"SELECT * FROM {name}").fetchall()))
    return out


def test_remerging_a_shard_changes_nothing(tmp_path: Path) -> None:
    shards = make_shards(seed=2, n_shards=3)
    store = open_store(tmp_path / "f.duckdb")
    merge_all(store, shards, (0, 1, 2))
    before = snapshot(store)
    with store.merge_shard(RUN, TS, "00001") as merge:
        assert merge.already_merged
        for batch in shards[1]:
            merge.add_batch(*batch)
    assert snapshot(store) == before
    assert store.is_merged(RUN, TS, "00001") and not store.is_merged(RUN, TS, "00009")
    assert_matches_reference(store, reference_stats([b for s in shards for b in s], CONFIG))


def test_failed_merge_rolls_back_and_can_be_retried(tmp_path: Path) -> None:
    shards = make_shards(seed=3, n_shards=2)
    store = open_store(tmp_path / "f.duckdb")
    merge_all(store, shards, (0,))
    before = snapshot(store)
    activations, prompts = shards[1][1]
    with pytest.raises(InputError, match="without its token ids"):
        with store.merge_shard(RUN, TS, "00001") as merge:
            merge.add_batch(*shards[1][0])
            merge.add_batch(activations, prompts.slice(1))
    assert snapshot(store) == before and not store.is_merged(RUN, TS, "00001")
    merge_all(store, shards, (1,))
    assert_matches_reference(store, reference_stats([b for s in shards for b in s], CONFIG))


def test_other_settings_for_a_merged_run_are_refused(tmp_path: Path) -> None:
    shards = make_shards(seed=4, n_shards=2)
    merge_all(open_store(tmp_path / "f.duckdb"), shards, (0,))
    store = open_store(tmp_path / "f.duckdb", FeatureStatsConfig(top_k=5))
    with pytest.raises(ConfigError, match="top_k"):
        merge_all(store, shards, (1,))


def test_runs_coexist(tmp_path: Path) -> None:
    shards = make_shards(seed=5, n_shards=2)
    store = open_store(tmp_path / "f.duckdb")
    merge_all(store, shards, (0,))
    with store.merge_shard("run-b", TS, "00000") as merge:
        for activations, prompts in shards[1]:
            merge.add_batch(activations.drop_columns(["run"]), prompts)
    assert_matches_reference(store, reference_stats(shards[0], CONFIG))
    n = store.con.execute("SELECT n_prompts FROM feature_runs WHERE run = 'run-b'").fetchall()
    assert n == [(sum(p.num_rows for _, p in shards[1]),)]


def write_shard(folder: Path, batches: list[tuple[pa.Table, pa.Table]]) -> None:
    folder.mkdir(parents=True)
    pq.write_table(pa.concat_tables([p for _, p in batches]), folder / "prompts.parquet")
    pq.write_table(pa.concat_tables([a for a, _ in batches]), folder / "activations.parquet")
    (folder / "_SUCCESS").touch()


def test_merge_shard_folders(tmp_path: Path) -> None:
    shards = make_shards(seed=6, n_shards=3)
    for i, shard in enumerate(shards):
        write_shard(tmp_path / "shards" / f"{i:05d}", shard)
    store = open_store(tmp_path / "f.duckdb")
    for i in (2, 0, 1):
        assert store.merge_shard_dir(tmp_path / "shards" / f"{i:05d}", TS, batch_rows=40)
    assert not store.merge_shard_dir(tmp_path / "shards" / "00000", TS)
    assert_matches_reference(store, reference_stats([b for s in shards for b in s], CONFIG))


def test_a_prompt_handed_twice_in_a_shard_is_refused(tmp_path: Path) -> None:
    shards = make_shards(seed=7, n_shards=1)
    store = open_store(tmp_path / "f.duckdb")
    with pytest.raises(InputError, match="handed twice"):
        with store.merge_shard(RUN, TS, "00000") as merge:
            merge.add_batch(*shards[0][0])
            merge.add_batch(*shards[0][0])
    assert not store.is_merged(RUN, TS, "00000")
    assert store.con.execute("SELECT count(*) FROM feature_stats").fetchall() == [(0,)]


def test_shard_folder_without_token_strings(tmp_path: Path) -> None:
    shards = make_shards(seed=8, n_shards=1)
    folder = tmp_path / "00000"
    write_shard(folder, shards[0])
    prompts = pq.read_table(folder / "prompts.parquet").drop_columns(["tokens"])
    pq.write_table(prompts, folder / "prompts.parquet")
    store = open_store(tmp_path / "f.duckdb")
    assert store.merge_shard_dir(folder, TS)
    tokens = store.con.execute("SELECT count(*), count(ctx_tokens) FROM feature_top_examples")
    n, with_strings = tokens.fetchall()[0]
    assert n > 0 and with_strings == 0


def test_incomplete_shard_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "00000"
    write_shard(folder, make_shards(seed=9, n_shards=1)[0])
    (folder / "_SUCCESS").unlink()
    with pytest.raises(InputError, match="not complete"):
        open_store(tmp_path / "f.duckdb").merge_shard_dir(folder, TS)
