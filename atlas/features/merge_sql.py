"""The SQL of the streaming merge: running sums, histogram counts and bounded ranked sets.

A ranked set keeps, per partition, the `$limit` best rows by an order with a unique tie-break
(prompt_id, position). A temp table holds each partition's row count and its current worst
value (`edge`); a new batch is first filtered against it, so only rows that can still enter
reach the window ranking, together with the kept rows of the partitions they touch.
"""

from __future__ import annotations

from dataclasses import dataclass

UPSERT_STATS = """
INSERT INTO feature_stats
SELECT $run, $ts, layer, feature, count(*), sum(activation::DOUBLE),
       sum(activation::DOUBLE * activation::DOUBLE), max(activation), min(activation)
FROM _batch GROUP BY layer, feature
ON CONFLICT DO UPDATE SET
    n_active = n_active + excluded.n_active,
    sum_act = sum_act + excluded.sum_act,
    sum_sq_act = sum_sq_act + excluded.sum_sq_act,
    max_act = greatest(max_act, excluded.max_act),
    min_act = least(min_act, excluded.min_act)
"""

UPSERT_HISTOGRAM = """
INSERT INTO feature_histogram
SELECT $run, $ts, layer, feature, bin, count(*) FROM _batch GROUP BY layer, feature, bin
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
    """One bounded per-partition ranking kept in a table (top examples, bin samples)."""

    table: str
    """Persistent table of the kept rows."""
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
    def _cols(self) -> list[str]:
        return [c.strip() for c in self.partition.split(",")]

    def _on(self, a: str, b: str) -> str:
        return " AND ".join(f"{a}.{c} = {b}.{c}" for c in self._cols)

    def sql_edges_init(self) -> str:
        return (f"CREATE OR REPLACE TEMP TABLE {self.edges} AS SELECT {self.partition}, "
                f"count(*) AS n, {self.worst} AS edge FROM {self.table} "
                "WHERE run = $run AND transcoder_set = $ts GROUP BY ALL")

    def sql_candidates(self) -> str:
        return (f"CREATE OR REPLACE TEMP TABLE _cand AS SELECT b.* FROM _batch b "
                f"LEFT JOIN {self.edges} t USING ({self.partition}) "
                f"WHERE t.n IS NULL OR t.n < $limit OR {self.can_enter};\n"
                f"CREATE OR REPLACE TEMP TABLE _touched AS SELECT DISTINCT {self.partition} "
                "FROM _cand")

    def _kept_of_touched(self, select: str) -> str:
        return (f"SELECT {select} FROM {self.table} e JOIN _touched c ON {self._on('e', 'c')} "
                "WHERE e.run = $run AND e.transcoder_set = $ts")

    def sql_rank(self) -> str:
        cols = f"{self.partition}{self.extra}, prompt_id, position, activation"
        e_cols = ", ".join(f"e.{c.strip()}" for c in cols.split(","))
        return f"""
CREATE OR REPLACE TEMP TABLE _ranked AS
SELECT * FROM (
    SELECT {cols}, NULL::BIGINT AS rid FROM _cand
    UNION ALL
    {self._kept_of_touched(e_cols + ", e.rowid AS rid")}
)
QUALIFY row_number() OVER (PARTITION BY {self.partition} ORDER BY {self.order}) <= $limit
"""

    def sql_delete_dropped(self) -> str:
        return f"""
DELETE FROM {self.table} WHERE rowid IN (
    {self._kept_of_touched("e.rowid")}
    EXCEPT SELECT rid FROM _ranked WHERE rid IS NOT NULL)
"""

    def sql_insert_new(self) -> str:
        head = ", ".join(f"n.{c.strip()}" for c in (self.partition + self.extra).split(","))
        return f"""
INSERT INTO {self.table} (run, transcoder_set, {self.partition}{self.extra}, prompt_id, position,
    activation, ctx_start, ctx_token_ids, ctx_tokens, ctx_offsets, ctx_values)
WITH n AS (
    SELECT *, greatest(position - $ctx_left, 0) AS ctx_start FROM _ranked WHERE rid IS NULL
), w AS (
    SELECT n.layer, n.feature, n.prompt_id, n.position,
           list(a.position - n.ctx_start ORDER BY a.position) AS offsets,
           list(a.activation ORDER BY a.position) AS vals
    FROM n JOIN _batch a ON a.prompt_id = n.prompt_id AND a.layer = n.layer
        AND a.feature = n.feature AND a.position BETWEEN n.ctx_start AND n.position + $ctx_right
    GROUP BY n.layer, n.feature, n.prompt_id, n.position
)
SELECT $run, $ts, {head}, n.prompt_id, n.position, n.activation, n.ctx_start,
       p.token_ids[n.ctx_start + 1 : n.position + $ctx_right + 1],
       p.tokens[n.ctx_start + 1 : n.position + $ctx_right + 1],
       w.offsets, w.vals
FROM n JOIN _prompts p USING (prompt_id)
JOIN w ON w.layer = n.layer AND w.feature = n.feature AND w.prompt_id = n.prompt_id
    AND w.position = n.position
"""

    def sql_edges_update(self) -> str:
        return (f"DELETE FROM {self.edges} e USING _touched c WHERE {self._on('e', 'c')};\n"
                f"INSERT INTO {self.edges} SELECT {self.partition}, count(*), {self.worst} "
                f"FROM _ranked GROUP BY ALL")


TOP = RankedSet(
    table="feature_top_examples", edges="_top_edges", partition="layer, feature", extra="",
    order="activation DESC, prompt_id, position", worst="min(activation)",
    can_enter="b.activation >= t.edge")

SAMPLE = RankedSet(
    table="feature_sample_examples", edges="_sample_edges", partition="layer, feature, bin",
    extra=", priority", order="priority, prompt_id, position", worst="max(priority)",
    can_enter="b.priority <= t.edge")
