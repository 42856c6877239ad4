"""Feature cards for serving: run rows read once, many cards' rows in four statements.

`load_card` (atlas.features.card) reads one card with six statements. DuckDB spends most of a
point lookup binding and planning (~0.3-0.5 ms a table on the development machine, more than
the scan itself), so a card costs ~5 ms there however it is phrased; what helps is reading the
rows of many cards with the same statements. Here the feature_runs rows are read once (exact
while the file is open read-only: no process can write it meanwhile, DuckDB's file lock), and
the statistics, histograms, output tokens and examples (top and sampled, as one UNION ALL) of a
batch of features are read by four statements joined to the batch's keys; the cards are then
assembled by the same `assemble_card` as the reference. atlas.api.batcher gathers the features
that concurrent requests miss into such batches. A test compares `card` with `load_card` on
every feature of a store.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, Iterable

from atlas.features.card import CardRows, FeatureCard, assemble_card

if TYPE_CHECKING:
    import duckdb

FeatureId = tuple[int, int]
"""(layer, feature)."""

_KEYS = ("JOIN (SELECT unnest($layers) AS layer, unnest($features) AS feature) k "
         "USING (layer, feature) WHERE run = $run AND transcoder_set = $tset")
_EXAMPLE = ("prompt_id, position, activation, ctx_start, ctx_token_ids, ctx_tokens, ctx_offsets, "
            "ctx_values")
_STATS = f"SELECT * FROM feature_stats {_KEYS}"
_HIST = f"SELECT layer, feature, bin, n FROM feature_histogram {_KEYS}"
_OUTPUTS = (f"SELECT layer, feature, sign, token_id, token, value FROM feature_output_tokens "
            f"{_KEYS} ORDER BY layer, feature, sign DESC, rank")
_EXAMPLES = f"""
SELECT 0 AS kind, layer, feature, NULL::SMALLINT AS bin, NULL::UBIGINT AS priority, {_EXAMPLE}
  FROM feature_top_examples {_KEYS}
UNION ALL
SELECT 1 AS kind, layer, feature, bin, priority, {_EXAMPLE} FROM feature_sample_examples {_KEYS}
ORDER BY layer, feature, kind, CASE WHEN kind = 0 THEN -activation END, priority, prompt_id,
         position
"""


def _grouped(con: "duckdb.DuckDBPyConnection", sql: str,
             params: dict[str, Any]) -> dict[FeatureId, list[dict[str, Any]]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    out: dict[FeatureId, list[dict[str, Any]]] = defaultdict(list)
    for row in cur.fetchall():
        record = dict(zip(names, row))
        out[record["layer"], record["feature"]].append(record)
    return out


class CardReader:
    """Reads cards of one read-only DuckDB file; any cursor of that file may be passed in."""

    def __init__(self, con: "duckdb.DuckDBPyConnection"):
        cur = con.execute("SELECT * FROM feature_runs ORDER BY run, transcoder_set")
        names = [d[0] for d in cur.description]
        self._runs: dict[tuple[str, str], dict[str, Any]] = {
            (row[0], row[1]): dict(zip(names, row)) for row in cur.fetchall()}

    def runs_of(self, transcoder_set: str) -> list[str]:
        """The runs with statistics for `transcoder_set`, sorted."""
        return [run for run, tset in self._runs if tset == transcoder_set]

    def rows_many(self, con: "duckdb.DuckDBPyConnection", run: str, transcoder_set: str,
                  features: Iterable[FeatureId]) -> dict[FeatureId, CardRows]:
        """The stored rows of each of `features` of (run, transcoder_set), in four statements."""
        ids = list(dict.fromkeys(features))
        params = {"run": run, "tset": transcoder_set, "layers": [la for la, _ in ids],
                  "features": [f for _, f in ids]}
        stats = _grouped(con, _STATS, params)
        hist = _grouped(con, _HIST, params)
        outputs = _grouped(con, _OUTPUTS, params)
        examples = _grouped(con, _EXAMPLES, params)
        run_row = self._runs.get((run, transcoder_set))
        out = {}
        for fid in ids:
            ex = examples.get(fid, [])
            out[fid] = CardRows(run, transcoder_set, fid[0], fid[1], run_row,
                                (stats.get(fid) or [None])[0], hist.get(fid, []),
                                [r for r in ex if r["kind"] == 0],
                                [r for r in ex if r["kind"] == 1], outputs.get(fid, []))
        return out

    def card(self, con: "duckdb.DuckDBPyConnection", run: str, transcoder_set: str, layer: int,
             feature: int, n_buckets: int = 10, per_bucket: int = 4) -> FeatureCard:
        """Equal to `load_card(con, ...)`; InputError when the feature has no statistics."""
        rows = self.rows_many(con, run, transcoder_set, [(layer, feature)])[layer, feature]
        return assemble_card(rows, n_buckets, per_bucket)
