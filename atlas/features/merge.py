"""Merging shards of activations into the DuckDB feature statistics, streaming and idempotent.

The ingestion job opens one `ShardMerge` per shard and hands it batches: the shard's
activations (columns of activations.parquet) and the token ids of the batch's prompts. Every
prompt's activations must come in one batch with its tokens (context windows are cut there).
All updates of a shard run in one transaction that also records the shard id, so a shard merged
before is skipped, and a failure leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pyarrow as pa

from atlas.errors import ConfigError, InputError, StoreError
from atlas.features import batch as batches
from atlas.features import merge_sql as q
from atlas.features.spec import FeatureStatsConfig
from atlas.stores.duckdb_store import require_tables

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

TABLES = ("feature_runs", "feature_merged_shards", "feature_stats", "feature_histogram",
          "feature_top_examples", "feature_sample_examples", "feature_output_tokens")
_PARAM = re.compile(r"\$([a-z_0-9]+)")


def execute(con: "duckdb.DuckDBPyConnection", sql: str, params: dict[str, Any]) -> Any:
    """Run each statement of `sql` with the named parameters it uses."""
    result = None
    for statement in (s for s in sql.split(";\n") if s.strip()):
        used = {k: params[k] for k in set(_PARAM.findall(statement))}
        result = con.execute(statement, used)
    return result


@dataclass
class ShardMerge:
    """One shard being merged; `add_batch` does nothing when the shard was merged before."""

    con: "duckdb.DuckDBPyConnection"
    """The connection holding the shard's open transaction."""
    params: dict[str, Any]
    """run, ts (transcoder set), shard, and the config values the SQL reads."""
    already_merged: bool
    """The shard id was recorded before: its batches are ignored."""
    n_prompts: int = 0
    """Prompts handed in so far."""
    n_tokens: int = 0
    """Tokens of those prompts (every token is seen by every feature)."""
    n_records: int = 0
    """Activation records handed in so far."""
    n_candidates: dict[str, int] = field(default_factory=lambda: {"top": 0, "sample": 0})
    """Records that passed the edge filter of each ranked set (the rest were dropped unsorted)."""
    _prompt_ids: set[str] = field(default_factory=set)

    def add_batch(self, activations: pa.Table, prompts: pa.Table) -> None:
        """Merge one batch: activations (columns of activations.parquet) and the batch's prompts
        (prompt_id, token_ids: list<int32>, optional tokens: list<string>), each prompt once per
        shard, including prompts where no feature fired (they count towards tokens seen)."""
        if self.already_merged:
            return
        batches.check_run(activations, self.params["run"])
        annotated = batches.annotate(activations, _config_of(self.params))
        prompt_rows = batches.prompt_table(prompts)
        batches.check_prompts_cover(annotated, prompt_rows)
        self._count(prompt_rows, annotated.num_rows)
        self.con.register("_batch_arrow", annotated)
        self.con.register("_batch_prompts", prompt_rows)
        try:
            self.con.execute("CREATE OR REPLACE TEMP TABLE _batch AS SELECT * FROM _batch_arrow")
            execute(self.con, q.ACCUMULATE, self.params)
        finally:
            self.con.unregister("_batch_arrow")
            self.con.unregister("_batch_prompts")
        for name, ranked, limit in (("top", q.TOP, "top_k"),
                                    ("sample", q.SAMPLE, "samples_per_bin")):
            execute(self.con, ranked.sql_batch(), {**self.params, "limit": self.params[limit]})
            counted = self.con.execute("SELECT count(*) FROM _cand").fetchall()
            self.n_candidates[name] += counted[0][0]

    def _count(self, prompts: pa.Table, n_records: int) -> None:
        ids = prompts["prompt_id"].to_pylist()
        repeated = self._prompt_ids.intersection(ids)
        if repeated:
            raise InputError(f"prompt {sorted(repeated)[0]!r} handed twice in shard "
                             f"{self.params['shard']!r}; hand each prompt in one batch")
        self._prompt_ids.update(ids)
        self.n_prompts += len(ids)
        self.n_tokens += batches.count_tokens(prompts)
        self.n_records += n_records


def _config_of(params: dict[str, Any]) -> FeatureStatsConfig:
    return FeatureStatsConfig(**{k: params[k] for k in FeatureStatsConfig.__dataclass_fields__})


class FeatureStatsStore:
    """Feature statistics in a DuckDB connection (the schema of migrations/duckdb)."""

    def __init__(self, con: "duckdb.DuckDBPyConnection",
                 config: FeatureStatsConfig = FeatureStatsConfig()) -> None:
        require_tables(con, *TABLES)
        self.con = con
        self.config = config

    def is_merged(self, run: str, transcoder_set: str, shard_id: str) -> bool:
        rows = execute(self.con, q.IS_MERGED,
                       {"run": run, "ts": transcoder_set, "shard": shard_id}).fetchall()
        return rows[0][0] > 0

    @contextlib.contextmanager
    def merge_shard(self, run: str, transcoder_set: str, shard_id: str) -> Iterator[ShardMerge]:
        """Open a shard's merge; its batches commit together when the block ends without error."""
        import duckdb

        params = {"run": run, "ts": transcoder_set, "shard": str(shard_id),
                  **self.config.as_row()}
        self.con.execute("BEGIN TRANSACTION")
        try:
            merge = ShardMerge(self.con, params, self.is_merged(run, transcoder_set, shard_id))
            if not merge.already_merged:
                self._begin(params)
            yield merge
            if merge.already_merged:
                log.info("shard %s of %s/%s merged before; skipped", shard_id, run, transcoder_set)
                self.con.execute("ROLLBACK")
                return
            self._finish(merge)
            self.con.execute("COMMIT")
        except duckdb.Error as e:
            self.con.execute("ROLLBACK")
            raise StoreError(f"merging shard {shard_id} of run {run} into DuckDB failed: "
                             f"{str(e).splitlines()[0]}; the store is unchanged") from e
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def _begin(self, params: dict[str, Any]) -> None:
        rows = execute(self.con, q.RUN_ROW, params).fetchall()
        if not rows:
            execute(self.con, q.INSERT_RUN, params)
        else:
            stored = dict(zip([d[0] for d in self.con.description], rows[0]))
            self._check_same_config(params, stored)
        for ranked in (q.TOP, q.SAMPLE):
            execute(self.con, ranked.sql_begin(), params)
        execute(self.con, q.ACCUMULATORS, params)

    def _check_same_config(self, params: dict[str, Any], stored: dict[str, Any]) -> None:
        for name, value in self.config.as_row().items():
            if stored[name] != value:
                raise ConfigError(
                    f"run {params['run']!r}/{params['ts']!r} was merged with {name}="
                    f"{stored[name]}, this merge uses {value}; use the same feature-stats "
                    "settings, or a new run")

    def _finish(self, merge: ShardMerge) -> None:
        totals = {**merge.params, "n_prompts": merge.n_prompts, "n_tokens": merge.n_tokens,
                  "n_records": merge.n_records}
        for ranked in (q.TOP, q.SAMPLE):
            execute(self.con, ranked.sql_finish(), totals)
        execute(self.con, q.UPSERT_STATS, totals)
        execute(self.con, q.UPSERT_HISTOGRAM, totals)
        execute(self.con, q.ADD_RUN_TOTALS, totals)
        execute(self.con, q.RECORD_SHARD, totals)
        for temp in q.TEMP_TABLES:
            self.con.execute(f"DROP TABLE IF EXISTS {temp}")

    def merge_shard_dir(self, shard_dir: Path, transcoder_set: str,
                        batch_rows: int = 2_000_000) -> bool:
        """Merge a finished shard folder (docs/shard-format.md); False when merged before."""
        from atlas.features.shard_reader import read_shard

        shard = read_shard(Path(shard_dir), batch_rows)
        with self.merge_shard(shard.run, transcoder_set, shard.shard_id) as merge:
            if merge.already_merged:
                return False
            for activations, prompts in shard.batches():
                merge.add_batch(activations, prompts)
        return True
