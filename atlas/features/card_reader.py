"""Feature cards for serving: run rows read once, the rest in two statements per card.

`load_card` (atlas.features.card) reads a card with six statements; DuckDB spends most of a
point lookup on binding and planning (~0.3-0.5 ms a table on the development machine, more
than the scan itself), so a card costs ~5 ms there. Here the feature_runs rows are read once
(exact while the file is open read-only: no process can write it meanwhile, DuckDB's file
lock), the per-feature tables are read by two statements (statistics + histogram + output
tokens as nested values; top and sampled examples as one UNION ALL), and the card is assembled
by the same `assemble_card` as the reference. tests/integration/test_feature_card_reader.py
checks both agree on every feature of a store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from atlas.features.card import CardRows, FeatureCard, assemble_card

if TYPE_CHECKING:
    import duckdb

_KEY = "run = $run AND transcoder_set = $tset AND layer = $layer AND feature = $feature"
_SMALL = f"""
SELECT
  (SELECT s FROM feature_stats s WHERE {_KEY}) AS stats,
  (SELECT list({{'bin': bin, 'n': n}} ORDER BY bin) FROM feature_histogram WHERE {_KEY}) AS hist,
  (SELECT list({{'sign': sign, 'token_id': token_id, 'token': token, 'value': value}}
               ORDER BY sign DESC, rank)
     FROM feature_output_tokens WHERE {_KEY}) AS outputs
"""
_EXAMPLE = ("prompt_id, position, activation, ctx_start, ctx_token_ids, ctx_tokens, ctx_offsets, "
            "ctx_values")
_EXAMPLES = f"""
SELECT 0 AS kind, NULL::SMALLINT AS bin, NULL::UBIGINT AS priority, {_EXAMPLE}
  FROM feature_top_examples WHERE {_KEY}
UNION ALL
SELECT 1 AS kind, bin, priority, {_EXAMPLE} FROM feature_sample_examples WHERE {_KEY}
ORDER BY kind, CASE WHEN kind = 0 THEN -activation END, priority, prompt_id, position
"""


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

    def card(self, con: "duckdb.DuckDBPyConnection", run: str, transcoder_set: str, layer: int,
             feature: int, n_buckets: int = 10, per_bucket: int = 4) -> FeatureCard:
        """Equal to `load_card(con, ...)`; InputError when the feature has no statistics."""
        params = {"run": run, "tset": transcoder_set, "layer": layer, "feature": feature}
        stats, hist, outputs = con.execute(_SMALL, params).fetchone()
        top: list[dict[str, Any]] = []
        samples: list[dict[str, Any]] = []
        if stats is not None:
            cur = con.execute(_EXAMPLES, params)
            names = [d[0] for d in cur.description]
            for row in cur.fetchall():
                (samples if row[0] else top).append(dict(zip(names, row)))
        return assemble_card(CardRows(run, transcoder_set, layer, feature,
                                      self._runs.get((run, transcoder_set)), stats, hist or [],
                                      top, samples, outputs or []), n_buckets, per_bucket)
