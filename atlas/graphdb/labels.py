"""Feature labels: a deterministic label from top tokens, provenance, and writing labels to Neo4j."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Iterable

from atlas.graphdb.cypher import read_cypher

AUTO_LABELER = "auto-tokens-v1"


@dataclass(frozen=True)
class FeatureLabel:
    """A label of one feature with where it came from."""

    key: str
    """Feature key <transcoder_set>:<layer>:<index>."""
    label: str
    """The label text."""
    source: str
    """Labeler name (e.g. auto-tokens-v1, llm, manual)."""
    model: str | None = None
    """Model that wrote it (LLM labels), else None."""
    at: str = ""
    """ISO time it was made (UTC); filled by `stamp` when empty."""
    top_text: str | None = None
    """Top-example text stored next to the label for full-text search."""


def stamp(label: FeatureLabel) -> FeatureLabel:
    """The label with its time set to now when missing."""
    if label.at:
        return label
    return FeatureLabel(label.key, label.label, label.source, label.model,
                        dt.datetime.now(dt.timezone.utc).isoformat(), label.top_text)


def _show(token: str) -> str:
    return json.dumps(token, ensure_ascii=False)


def auto_label(top_tokens: list[str], top_output_tokens: list[str], k: int = 3) -> str:
    """A deterministic label from a feature's top activating tokens and top output tokens.

    Tokens are taken in the given order (best first), duplicates dropped, at most `k` of each,
    shown quoted so whitespace stays visible: `in " dog", " cat" -> out " barks"`.
    """
    def first(tokens: list[str]) -> list[str]:
        seen: list[str] = []
        for t in tokens:
            if t not in seen:
                seen.append(t)
        return seen[:k]

    parts = []
    if ins := first(top_tokens):
        parts.append("in " + ", ".join(_show(t) for t in ins))
    if outs := first(top_output_tokens):
        parts.append("out " + ", ".join(_show(t) for t in outs))
    return " -> ".join(parts)


def auto_labels(rows: Iterable[tuple[str, list[str], list[str], list[str]]]) -> list[FeatureLabel]:
    """Labels for rows (feature key, top tokens, top output tokens, top example texts).

    The DuckDB feature store provides these rows; top example texts go to `top_text`.
    """
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    return [FeatureLabel(key, auto_label(ins, outs), AUTO_LABELER, None, now,
                         " | ".join(texts[:5]) or None)
            for key, ins, outs, texts in rows]


def write_labels(driver, labels: Iterable[FeatureLabel], database: str = "neo4j",
                 batch: int = 5000) -> int:
    """Store labels (with provenance) on their features; returns how many features matched."""
    rows = [vars(stamp(lb)) for lb in labels]
    done = 0
    for i in range(0, len(rows), batch):
        records = driver.execute_query(read_cypher("load/labels.cypher"), rows=rows[i:i + batch],
                                       database_=database).records
        done += records[0]["labelled"]
    return done
