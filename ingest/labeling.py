"""Automatic feature labels for a run: decoder output tokens into DuckDB, labels into Neo4j.

A label is made from a feature's top activating tokens (DuckDB top examples) and the tokens its
decoder direction promotes through the unembedding; the top examples' text goes beside it for
full-text search. Deterministic: the same stores give the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from atlas.config import AtlasConfig

TOP_ROWS = """
WITH ranked AS (
  SELECT layer, feature, activation, ctx_tokens, position - ctx_start AS offset_in_ctx,
         row_number() OVER (PARTITION BY layer, feature
                            ORDER BY activation DESC, prompt_id, position) AS r
  FROM feature_top_examples WHERE run = $run AND transcoder_set = $ts)
SELECT layer, feature,
       list(ctx_tokens[offset_in_ctx + 1] ORDER BY r) AS top_tokens,
       list(array_to_string(ctx_tokens, '') ORDER BY r) FILTER (WHERE r <= 5) AS texts
FROM ranked GROUP BY layer, feature ORDER BY layer, feature
"""

OUTPUT_ROWS = """
SELECT layer, feature, list(token ORDER BY rank) AS tokens
FROM feature_output_tokens WHERE run = $run AND transcoder_set = $ts AND sign = 1
GROUP BY layer, feature
"""


@dataclass(frozen=True)
class LabelReport:
    """What `label_run` wrote."""

    output_token_rows: int
    labelled: int


def decoder_directions(tset, layer: int) -> torch.Tensor:  # noqa: ANN001
    """Each feature's total write into the residual stream [d_transcoder d_model] (a CLT
    feature's rows summed over the layers it writes to)."""
    return tset.W_dec[layer].float().sum(dim=1)


def label_run(config: AtlasConfig, run: str, transcoder_set: str, model_dir: str,
              transcoders_dir: str) -> LabelReport:
    """Compute output tokens, then write an automatic label on every feature of `run`."""
    from atlas.features.output_tokens import compute_output_tokens, write_output_tokens
    from atlas.graphdb.labels import auto_labels, write_labels
    from atlas.graphdb.keys import feature_key
    from atlas.models import load_model
    from atlas.neo4j.client import session_driver
    from atlas.stores.duckdb_store import connect
    from atlas.transcoders import load_transcoders

    model = load_model(model_dir, device="cpu", dtype="fp32")
    tset = load_transcoders(transcoders_dir)
    w_u = model.adapter.W_U.detach().float()
    decode = model.tokenizer.convert_ids_to_tokens
    con = connect(config)
    try:
        n_out = 0
        for layer in range(tset.n_layers):
            out = compute_output_tokens(decoder_directions(tset, layer), w_u, k=5)
            features = list(range(tset.d_transcoder))
            n_out += write_output_tokens(con, run, transcoder_set, layer, features, out,
                                         lambda i: decode(int(i)))
        params = {"run": run, "ts": transcoder_set}
        outputs = {(l, f): toks for l, f, toks in con.execute(OUTPUT_ROWS, params).fetchall()}
        rows = [(feature_key(transcoder_set, layer, feature), list(tops or []),
                 list(outputs.get((layer, feature), [])), list(texts or []))
                for layer, feature, tops, texts in con.execute(TOP_ROWS, params).fetchall()]
    finally:
        con.close()
    with session_driver(config) as driver:
        labelled = write_labels(driver, auto_labels(rows), database=config.neo4j_database)
    return LabelReport(n_out, labelled)
