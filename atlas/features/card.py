"""A feature's card read from the DuckDB store: statistics, histogram, examples, output tokens."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from atlas.errors import InputError
from atlas.features.quantiles import assign_buckets
from atlas.features.spec import FeatureStatsConfig

if TYPE_CHECKING:
    import duckdb


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Example(_Model):
    """One token where the feature fired, with its context window."""

    prompt_id: str
    position: int
    activation: float
    ctx_start: int
    token_ids: list[int]
    tokens: list[str] | None
    values: list[float]
    """The feature's activation at each window token (0 where it did not fire)."""
    index_in_ctx: int
    """Index of the example's token within the window."""


class QuantileBucket(_Model):
    """Examples from one slice of the feature's activation distribution (by count)."""

    index: int
    quantile_lo: float
    quantile_hi: float
    act_lo: float
    act_hi: float | None
    """Upper edge of its last bin; None when that is the overflow bin."""
    n_active: int
    examples: list[Example]


class HistogramBin(_Model):
    lo: float
    hi: float | None
    """Upper edge; None for the overflow bin."""
    n: int


class OutputToken(_Model):
    token_id: int
    token: str
    value: float


class FeatureStats(_Model):
    n_prompts: int
    n_tokens: int
    n_active: int
    frac_active: float
    """Firing frequency: tokens where active / tokens seen."""
    mean_active: float
    """Mean activation over the tokens where it fired."""
    mean_all: float
    """Mean activation over all tokens seen (zeros included)."""
    std_active: float
    max_act: float
    min_act: float


class FeatureCard(_Model):
    run: str
    transcoder_set: str
    layer: int
    feature: int
    stats: FeatureStats
    histogram: list[HistogramBin]
    top_examples: list[Example]
    quantile_buckets: list[QuantileBucket]
    output_pos: list[OutputToken]
    output_neg: list[OutputToken]


def _rows(con: "duckdb.DuckDBPyConnection", sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def resolve_transcoder_set(con: "duckdb.DuckDBPyConnection", run: str,
                           transcoder_set: str | None) -> str:
    """The transcoder set of `run` in the store: the given one if present, else the only one."""
    sets = [r["transcoder_set"] for r in _rows(
        con, "SELECT transcoder_set FROM feature_runs WHERE run = ? ORDER BY 1", [run])]
    if not sets:
        runs = [r["run"] for r in _rows(con, "SELECT DISTINCT run FROM feature_runs ORDER BY 1",
                                        [])]
        raise InputError(f"run {run!r} has no feature statistics; known runs: "
                         f"{', '.join(runs) or 'none'} (ingest the run first)")
    if transcoder_set is None and len(sets) > 1:
        raise InputError(f"run {run!r} has transcoder sets {', '.join(sets)}; pick one with "
                         "--transcoder-set")
    chosen = transcoder_set or sets[0]
    if chosen not in sets:
        raise InputError(f"run {run!r} has no transcoder set {chosen!r}; valid ones are "
                         f"{', '.join(sets)}")
    return chosen


def _example(row: dict[str, Any]) -> Example:
    token_ids = list(row["ctx_token_ids"])
    values = [0.0] * len(token_ids)
    for offset, value in zip(row["ctx_offsets"], row["ctx_values"]):
        if 0 <= offset < len(values):
            values[offset] = float(value)
    return Example(prompt_id=row["prompt_id"], position=row["position"],
                   activation=float(row["activation"]), ctx_start=row["ctx_start"],
                   token_ids=token_ids, tokens=row["ctx_tokens"], values=values,
                   index_in_ctx=row["position"] - row["ctx_start"])


def _stats(run_row: dict[str, Any], s: dict[str, Any]) -> FeatureStats:
    n, n_tokens = s["n_active"], max(run_row["n_tokens"], 1)
    mean = s["sum_act"] / n
    var = max(s["sum_sq_act"] / n - mean * mean, 0.0)
    return FeatureStats(n_prompts=run_row["n_prompts"], n_tokens=run_row["n_tokens"], n_active=n,
                        frac_active=n / n_tokens, mean_active=mean,
                        mean_all=s["sum_act"] / n_tokens, std_active=math.sqrt(var),
                        max_act=float(s["max_act"]), min_act=float(s["min_act"]))


_KEY = "WHERE run = ? AND transcoder_set = ? AND layer = ? AND feature = ?"


def load_card(con: "duckdb.DuckDBPyConnection", run: str, transcoder_set: str, layer: int,
              feature: int, n_buckets: int = 10, per_bucket: int = 4) -> FeatureCard:
    """Read a feature's card; InputError when the run or the feature has no statistics.

    One plain statement per table: the reference that `atlas.features.card_reader` (the API's
    faster path) is tested against.
    """
    key = [run, transcoder_set, layer, feature]
    run_rows = _rows(con, "SELECT * FROM feature_runs WHERE run = ? AND transcoder_set = ?",
                     key[:2])
    stats = _rows(con, f"SELECT * FROM feature_stats {_KEY}", key)
    hist = _rows(con, f"SELECT bin, n FROM feature_histogram {_KEY}", key)
    top = _rows(con, f"SELECT * FROM feature_top_examples {_KEY} "
                     "ORDER BY activation DESC, prompt_id, position", key)
    samples = _rows(con, f"SELECT * FROM feature_sample_examples {_KEY} "
                         "ORDER BY priority, prompt_id, position", key)
    outputs = _rows(con, f"SELECT sign, token_id, token, value FROM feature_output_tokens {_KEY} "
                         "ORDER BY sign DESC, rank", key)
    return assemble_card(CardRows(run, transcoder_set, layer, feature,
                                  run_rows[0] if run_rows else None, stats[0] if stats else None,
                                  hist, top, samples, outputs), n_buckets, per_bucket)


@dataclass(frozen=True)
class CardRows:
    """What a card is made of, as read from the store (rows are column-name dicts)."""

    run: str
    transcoder_set: str
    layer: int
    feature: int
    run_row: dict[str, Any] | None
    """The feature_runs row of (run, transcoder_set); None when the run has no statistics."""
    stats: dict[str, Any] | None
    """The feature_stats row; None when the feature never fired."""
    hist: list[dict[str, Any]]
    """feature_histogram rows (bin, n)."""
    top: list[dict[str, Any]]
    """feature_top_examples rows, strongest first (ties: prompt_id, position)."""
    samples: list[dict[str, Any]]
    """feature_sample_examples rows by priority (ties: prompt_id, position)."""
    outputs: list[dict[str, Any]]
    """feature_output_tokens rows (sign, token_id, token, value): sign 1 first, then by rank."""


def assemble_card(rows: CardRows, n_buckets: int = 10, per_bucket: int = 4) -> FeatureCard:
    """The card made of `rows`; InputError when the run or the feature has no statistics."""
    if rows.run_row is None or rows.stats is None:
        raise InputError(f"feature {rows.layer}/{rows.feature} of run {rows.run!r} "
                         f"({rows.transcoder_set}) has no statistics: it never fired or is out "
                         "of range; check LAYER/INDEX")
    config = FeatureStatsConfig(**{k: rows.run_row[k]
                                   for k in FeatureStatsConfig.__dataclass_fields__})
    hist = {r["bin"]: r["n"] for r in rows.hist}
    return FeatureCard(
        run=rows.run, transcoder_set=rows.transcoder_set, layer=rows.layer,
        feature=rows.feature, stats=_stats(rows.run_row, rows.stats),
        histogram=[_bin(config, b, n) for b, n in sorted(hist.items())],
        top_examples=[_example(r) for r in rows.top],
        quantile_buckets=_buckets(config, hist, rows.samples, n_buckets, per_bucket),
        output_pos=[OutputToken(**{k: r[k] for k in ("token_id", "token", "value")})
                    for r in rows.outputs if r["sign"] > 0],
        output_neg=[OutputToken(**{k: r[k] for k in ("token_id", "token", "value")})
                    for r in rows.outputs if r["sign"] < 0])


def _bin(config: FeatureStatsConfig, b: int, n: int) -> HistogramBin:
    lo, hi = config.bin_range(b)
    return HistogramBin(lo=lo, hi=hi if math.isfinite(hi) else None, n=n)


def _buckets(config: FeatureStatsConfig, hist: dict[int, int], samples: list[dict[str, Any]],
             n_buckets: int, per_bucket: int) -> list[QuantileBucket]:
    out = []
    for bucket in assign_buckets(hist, n_buckets):
        chosen = [s for s in samples if s["bin"] in bucket.bins][:per_bucket]
        chosen.sort(key=lambda s: (-s["activation"], s["prompt_id"], s["position"]))
        out.append(QuantileBucket(
            index=bucket.index, quantile_lo=bucket.quantile_lo, quantile_hi=bucket.quantile_hi,
            act_lo=config.bin_range(min(bucket.bins))[0],
            act_hi=_bin(config, max(bucket.bins), 0).hi,
            n_active=sum(hist[b] for b in bucket.bins), examples=[_example(s) for s in chosen]))
    return out
