"""Freezing a corpus into a run's ordered prompt list, with token limits applied and counted.

The run's `prompts.parquet` fixes the order of prompts once, so a shard is a row range of it and
recomputing a shard after a crash yields exactly the same prompts.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from atlas.errors import InputError
from ingest.corpus import ReadStats, read_corpus

PROMPTS_FILE = "prompts.parquet"
OVERFLOW = ("truncate", "skip")

PROMPT_SCHEMA = pa.schema([("prompt_id", pa.string()), ("text", pa.string()),
                           ("metadata", pa.string()), ("n_tokens", pa.int32()),
                           ("truncated", pa.bool_())])


@dataclass(frozen=True)
class PreparedCorpus:
    """What freezing the corpus did."""

    path: Path
    """The run's prompts.parquet."""
    n_prompts: int
    """Prompts kept."""
    n_truncated: int
    """Prompts cut to the token limit."""
    n_too_long: int
    """Prompts skipped for exceeding the token limit (overflow='skip')."""
    read: ReadStats
    """What reading the corpus skipped."""
    sha256: str
    """Digest of the corpus file (folders: of their file names and sizes)."""


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(f"{file.relative_to(path)}:{file.stat().st_size}".encode())
            continue
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def prepare_corpus(corpus: Path, out_dir: Path, count_tokens: Callable[[str], int],
                   max_tokens: int, overflow: str = "truncate", fmt: str | None = None,
                   truncate_text: Callable[[str, int], str] | None = None) -> PreparedCorpus:
    """Read `corpus`, apply the token limit, and write `out_dir/prompts.parquet` atomically.

    count_tokens(text) -> tokens including BOS; truncate_text(text, max_tokens) -> the text of
    the first max_tokens tokens (needed for overflow='truncate').
    """
    if overflow not in OVERFLOW:
        raise InputError(f"unknown overflow policy {overflow!r}; valid policies are "
                         f"{', '.join(OVERFLOW)}")
    if max_tokens < 2:
        raise InputError(f"max_tokens={max_tokens} leaves no room for a prompt; use 2 or more")
    stats = ReadStats()
    columns: dict[str, list[Any]] = {name: [] for name in PROMPT_SCHEMA.names}
    n_truncated = n_too_long = 0
    for record in read_corpus(corpus, fmt, stats):
        text, n_tokens, truncated = record.text, count_tokens(record.text), False
        if n_tokens > max_tokens:
            if overflow == "skip" or truncate_text is None:
                n_too_long += 1
                continue
            text, truncated = truncate_text(text, max_tokens), True
            n_tokens = count_tokens(text)
            n_truncated += 1
        columns["prompt_id"].append(record.prompt_id)
        columns["text"].append(text)
        columns["metadata"].append(json.dumps(record.metadata, sort_keys=True, default=str))
        columns["n_tokens"].append(n_tokens)
        columns["truncated"].append(truncated)
    if not columns["prompt_id"]:
        raise InputError(f"corpus {corpus} has no usable prompt ({stats.summary()}); check "
                         "its format (one JSON object with a 'text' field per line, or text lines)")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / PROMPTS_FILE
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.table(columns, schema=PROMPT_SCHEMA), tmp, row_group_size=1024)
    os.replace(tmp, path)
    return PreparedCorpus(path, len(columns["prompt_id"]), n_truncated, n_too_long, stats,
                          file_digest(corpus))


def read_prompt_range(path: Path, first: int, count: int) -> pa.Table:
    """Rows [first, first + count) of a run's prompts, reading only the row groups needed."""
    parquet = pq.ParquetFile(path)
    tables: list[pa.Table] = []
    start, table_start = 0, None
    for group in range(parquet.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        if start + rows > first and start < first + count:
            table_start = start if table_start is None else table_start
            tables.append(parquet.read_row_group(group))
        start += rows
    if table_start is None:
        return PROMPT_SCHEMA.empty_table()
    return pa.concat_tables(tables).slice(first - table_start, count)
