"""The slow reference of the feature merge: everything in memory, full sorts (pandas).

Used by tests to check the streaming DuckDB merge; it computes the same tables from all batches
of a run at once, with the same bins, priorities and tie-breaks (prompt_id, then position).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from atlas.features.batch import annotate, count_tokens, prompt_table
from atlas.features.spec import FeatureStatsConfig

KEY = ["layer", "feature"]


@dataclass(frozen=True)
class ReferenceStats:
    """The expected content of the feature tables for one (run, transcoder_set)."""

    n_prompts: int
    n_tokens: int
    stats: pd.DataFrame
    """layer, feature, n_active, sum_act, sum_sq_act, max_act, min_act."""
    histogram: pd.DataFrame
    """layer, feature, bin, n."""
    top: pd.DataFrame
    """layer, feature, prompt_id, position, activation, ctx_* columns."""
    samples: pd.DataFrame
    """layer, feature, bin, priority, prompt_id, position, activation, ctx_* columns."""


def reference_stats(batches: list[tuple[pa.Table, pa.Table]],
                    config: FeatureStatsConfig) -> ReferenceStats:
    """Compute all statistics from every (activations, prompts) batch of a run at once."""
    acts = pd.concat([annotate(a, config).to_pandas() for a, _ in batches], ignore_index=True)
    prompts = [prompt_table(p) for _, p in batches]
    acts["act64"] = acts["activation"].astype(np.float64)
    grouped = acts.groupby(KEY)
    stats = pd.DataFrame({
        "n_active": grouped.size(), "sum_act": grouped["act64"].sum(),
        "sum_sq_act": grouped["act64"].apply(lambda v: float(np.sum(v * v))),
        "max_act": grouped["activation"].max(), "min_act": grouped["activation"].min(),
    }).reset_index()
    histogram = acts.groupby(KEY + ["bin"]).size().rename("n").reset_index()
    top = (acts.sort_values(KEY + ["activation", "prompt_id", "position"],
                            ascending=[True, True, False, True, True], kind="stable")
           .groupby(KEY).head(config.top_k))
    samples = (acts.sort_values(KEY + ["bin", "priority", "prompt_id", "position"], kind="stable")
               .groupby(KEY + ["bin"]).head(config.samples_per_bin))
    tokens = pd.concat([p.to_pandas() for p in prompts]).set_index("prompt_id")
    return ReferenceStats(
        n_prompts=sum(p.num_rows for p in prompts), n_tokens=sum(count_tokens(p) for p in prompts),
        stats=stats, histogram=histogram,
        top=_with_context(top, acts, tokens, config),
        samples=_with_context(samples, acts, tokens, config))


def _with_context(rows: pd.DataFrame, acts: pd.DataFrame, tokens: pd.DataFrame,
                  config: FeatureStatsConfig) -> pd.DataFrame:
    """Add ctx_start, ctx_token_ids, ctx_tokens, ctx_offsets, ctx_values to each row."""
    by_feature = {k: g for k, g in acts.groupby(["prompt_id"] + KEY)}
    out = rows.drop(columns=["act64"]).reset_index(drop=True).copy()
    starts, ids, strs, offsets, values = [], [], [], [], []
    for row in out.itertuples():
        start = max(row.position - config.ctx_left, 0)
        stop = row.position + config.ctx_right + 1
        prompt = tokens.loc[row.prompt_id]
        starts.append(start)
        ids.append([int(t) for t in prompt["token_ids"][start:stop]])
        strs.append(None if prompt["tokens"] is None else list(prompt["tokens"][start:stop]))
        same = by_feature[(row.prompt_id, row.layer, row.feature)]
        near = same[(same["position"] >= start) & (same["position"] < stop)].sort_values("position")
        offsets.append([int(p - start) for p in near["position"]])
        values.append([float(v) for v in near["activation"]])
    out["ctx_start"], out["ctx_token_ids"], out["ctx_tokens"] = starts, ids, strs
    out["ctx_offsets"], out["ctx_values"] = offsets, values
    return out
