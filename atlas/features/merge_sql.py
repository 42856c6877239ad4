"""The SQL of the streaming merge: running sums, histogram counts and bounded ranked sets.

A ranked set keeps, per partition, the `$limit` best rows by an order with a unique tie-break
(prompt_id, position). A temp table holds each partition's row count and its current worst
value (`edge`); a new batch is first filtered against it, so only rows that can still enter
reach the window ranking, together with the kept rows of the partitions they touch. Nothing
sorts more than one batch's surviving candidates plus the kept rows they compete with.
"""

from __future__ import annotations

from dataclasses import dataclass

# Per batch, aggregates are appended to temp accumulators; per shard they are folded into the
# persistent tables with one upsert (an upsert per batch costs ~10x more on the primary key).
ACCUMULATORS = """
CREATE OR REPLACE TEMP TABLE _stats_acc (layer SMALLINT, feature INTEGER, n_active BIGINT,
    sum_act DOUBLE, sum_sq_act DOUBLE, max_act REAL, min_act REAL);
CREATE OR REPLACE TEMP TABLE _hist_acc (layer SMALLINT, feature INTEGER, bin SMALLINT, n BIGINT);
CREATE OR REPLACE TEMP TABLE _shard_acts (prompt_id TEXT, layer SMALLINT, feature INTEGER,
    position INTEGER, activation REAL);
CREATE OR REPLACE TEMP TABLE _shard_prompts (prompt_id TEXT, token_ids INTEGER[], tokens TEXT[])
"""

ACCUMULATE = """
INSERT INTO _stats_acc
SELECT layer, feature, count(*), sum(activation::DOUBLE),
       sum(activation::DOUBLE * activation::DOUBLE), max(activation), min(activation)
FROM _batch GROUP BY layer, feature;
INSERT INTO _hist_acc SELECT layer, feature, bin, count(*) FROM _batch GROUP BY layer, feature, bin;
INSERT INTO _shard_acts SELECT prompt_id, layer, feature, position, activation FROM _batch;
INSERT INTO _shard_prompts SELECT prompt_id, token_ids, tokens FROM _batch_prompts
"""

UPSERT_STATS = """
INSERT INTO feature_stats
SELECT $run, $ts, layer, feature, sum(n_active), sum(sum_act), sum(sum_sq_act), max(max_act),
       min(min_act)
FROM _stats_acc GROUP BY layer, feature
ON CONFLICT DO UPDATE SET
    n_active = n_active + excluded.n_active,
    sum_act = sum_act + excluded.sum_act,
    sum_sq_act = sum_sq_act + excluded.sum_sq_act,
    max_act = greatest(max_act, excluded.max_act),
    min_act = least(min_act, excluded.min_act)
"""

UPSERT_HISTOGRAM = """
INSERT INTO feature_histogram
SELECT $run, $ts, layer, feature, bin, sum(n) FROM _hist_acc GROUP BY layer, feature, bin
ON CONFLICT DO UPDATE SET n = n + excluded.n
"""

RUN_ROW = "SELECT * FROM feature_runs WHERE run = $run AND transcoder_set = $ts"

INSERT_RUN = """
INSERT INTO feature_runs VALUES ($run, $ts, 0, 0, $top_k, $ctx_left, $ctx_right,
    $samples_per_bin, $sample_seed, $hist_log10_min, $hist_log10_max, $hist_bins_per_decade)
"""

IS_MERGED = """
SELECT count(*) FROM feature_merged_shards
WHERE run = $run AND transcoder_set = $ts AND shard_id = $shard
"""

RECORD_SHARD = """
INSERT INTO feature_merged_shards (run, transcoder_set, shard_id, n_prompts, n_tokens, n_records)
VALUES ($run, $ts, $shard, $n_prompts, $n_tokens, $n_records)
"""

ADD_RUN_TOTALS = """
UPDATE feature_runs SET n_prompts = n_prompts + $n_prompts, n_tokens = n_tokens + $n_tokens
WHERE run = $run AND transcoder_set = $ts
"""


@dataclass(frozen=True)
class RankedSet:
    """One bounded per-partition ranking kept in a table (top examples, bin samples).

    During a shard the ranking lives in a temp work table (keys and values only; `rid` is the
    persistent row it came from, NULL for rows that entered in this shard). Context windows
    are cut once, at the end of the shard, for the new rows that survived it.
    """

    table: str
    """Persistent table of the kept rows."""
    work: str
    """Temp table of the kept rows while a shard is merged."""
    edges: str
    """Temp table: partition -> (n kept, worst kept value)."""
    partition: str
    """Partition columns, comma-separated."""
    extra: str
    """Columns beyond the partition and the example itself, with a leading comma (or empty)."""
    order: str
    """Ranking, best first; ends with the unique tie-break prompt_id, position."""
    worst: str
    """Aggregate giving the worst kept value of a partition."""
    can_enter: str
    """Condition on batch row `b` and edge row `t` a row must meet to possibly enter a full set."""

    @property
    def _keys(self) -> list[str]:
        return [c.strip() for c in self.partition.split(",")]

    @property
    def _cols(self) -> str:
        return f"{self.partition}{self.extra}, prompt_id, position, activation"

    def _on(self, a: str, b: str) -> str:
        return " AND ".join(f"{a}.{c} = {b}.{c}" for c in self._keys)

    def sql_begin(self) -> str:
        return (f"CREATE OR REPLACE TEMP TABLE {self.work} AS SELECT {self._cols}, rowid AS rid "
                f"FROM {self.table} WHERE run = $run AND transcoder_set = $ts;\n"
                f"CREATE OR REPLACE TEMP TABLE {self.edges} AS SELECT {self.partition}, "
                f"count(*) AS n, {self.worst} AS edge FROM {self.work} GROUP BY ALL")

    def sql_batch(self) -> str:
        """Filter the batch against the edges, rank with the kept rows it touches, keep."""
        return f"""
CREATE OR REPLACE TEMP TABLE _cand AS SELECT b.* FROM _batch b
LEFT JOIN {self.edges} t USING ({self.partition})
WHERE t.n IS NULL OR t.n < $limit OR {self.can_enter};
CREATE OR REPLACE TEMP TABLE _touched AS SELECT DISTINCT {self.partition} FROM _cand;
CREATE OR REPLACE TEMP TABLE _ranked AS
SELECT * FROM (
    SELECT {self._cols}, NULL::BIGINT AS rid FROM _cand
    UNION ALL
    SELECT w.* FROM {self.work} w SEMI JOIN _touched c ON {self._on('w', 'c')}
)
QUALIFY row_number() OVER (PARTITION BY {self.partition} ORDER BY {self.order}) <= $limit;
DELETE FROM {self.work} w USING _touched c WHERE {self._on('w', 'c')};
INSERT INTO {self.work} SELECT * FROM _ranked;
DELETE FROM {self.edges} e USING _touched c WHERE {self._on('e', 'c')};
INSERT INTO {self.edges} SELECT {self.partition}, count(*), {self.worst} FROM _ranked GROUP BY ALL
"""

    def sql_finish(self) -> str:
        """Drop the persistent rows pushed out; add the new ones with their context windows."""
        head = ", ".join(f"n.{c.strip()}" for c in (self.partition + self.extra).split(","))
        return f"""
DELETE FROM {self.table} WHERE run = $run AND transcoder_set = $ts
    AND rowid NOT IN (SELECT rid FROM {self.work} WHERE rid IS NOT NULL);
CREATE OR REPLACE TEMP TABLE _new AS
SELECT *, greatest(position - $ctx_left, 0) AS ctx_start FROM {self.work} WHERE rid IS NULL;
CREATE OR REPLACE TEMP TABLE _win AS
SELECT n.layer, n.feature, n.prompt_id, n.position,
       list(a.position - n.ctx_start) AS offsets,
       list(a.activation) AS vals
FROM _new n JOIN _shard_acts a ON a.prompt_id = n.prompt_id AND a.layer = n.layer
    AND a.feature = n.feature AND a.position BETWEEN n.ctx_start AND n.position + $ctx_right
GROUP BY n.layer, n.feature, n.prompt_id, n.position;
INSERT INTO {self.table} (run, transcoder_set, {self.partition}{self.extra}, prompt_id, position,
    activation, ctx_start, ctx_token_ids, ctx_tokens, ctx_offsets, ctx_values)
SELECT $run, $ts, {head}, n.prompt_id, n.position, n.activation, n.ctx_start,
       p.token_ids[n.ctx_start + 1 : n.position + $ctx_right + 1],
       p.tokens[n.ctx_start + 1 : n.position + $ctx_right + 1],
       w.offsets, w.vals
FROM _new n JOIN _shard_prompts p USING (prompt_id)
JOIN _win w ON w.layer = n.layer AND w.feature = n.feature AND w.prompt_id = n.prompt_id
    AND w.position = n.position
"""


TOP = RankedSet(
    table="feature_top_examples", work="_top_work", edges="_top_edges",
    partition="layer, feature", extra="",
    order="activation DESC, prompt_id, position", worst="min(activation)",
    can_enter="b.activation >= t.edge")

SAMPLE = RankedSet(
    table="feature_sample_examples", work="_sample_work", edges="_sample_edges",
    partition="layer, feature, bin",
    extra=", priority", order="priority, prompt_id, position", worst="max(priority)",
    can_enter="b.priority <= t.edge")

TEMP_TABLES = ("_top_work", "_sample_work", "_top_edges", "_sample_edges", "_stats_acc",
               "_hist_acc", "_shard_acts", "_shard_prompts", "_batch", "_cand", "_touched",
               "_ranked", "_new", "_win")
