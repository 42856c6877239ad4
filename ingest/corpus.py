"""Reading prompt corpora (JSONL, plain text, Parquet, saved HF datasets) into stable records.

Bad rows are skipped and counted, never fatal: empty or whitespace-only prompts, lines that are
not valid UTF-8, malformed JSON lines, and repeated prompt ids. A missing or unreadable file
is an `InputError`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from atlas.errors import InputError

FORMATS = ("jsonl", "txt", "parquet", "hf")


@dataclass(frozen=True)
class CorpusRecord:
    """One prompt of a corpus."""

    prompt_id: str
    """Given by the corpus (`id`), or the first 16 hex digits of the text's SHA-1."""
    text: str
    """The prompt."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """The corpus row's other fields."""


@dataclass
class ReadStats:
    """What reading skipped, by reason."""

    read: int = 0
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        parts = [f"{self.kept} prompts kept of {self.read} read"]
        parts += [f"{n} {reason}" for reason, n in sorted(self.skipped.items())]
        return ", ".join(parts)


def text_id(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def detect_format(path: Path) -> str:
    if path.is_dir():
        if (path / "dataset_info.json").exists() or list(path.glob("*.arrow")):
            return "hf"
        raise InputError(f"{path} is a folder but not a saved HF dataset (no dataset_info.json"
                         " or .arrow files); pass a .jsonl, .txt or .parquet file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    return "txt"


def _rows_jsonl(path: Path, stats: ReadStats) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            stats.read += 1
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                stats.skipped["invalid UTF-8"] += 1
                continue
            except json.JSONDecodeError:
                stats.skipped["malformed JSON"] += 1
                continue
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                stats.skipped["rows without a text string"] += 1
                continue
            yield row


def _rows_txt(path: Path, stats: ReadStats) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as f:
        for raw in f:
            stats.read += 1
            try:
                yield {"text": raw.decode("utf-8").rstrip("\r\n")}
            except UnicodeDecodeError:
                stats.skipped["invalid UTF-8"] += 1


def _rows_table(table: Any, stats: ReadStats, where: Path) -> Iterator[dict[str, Any]]:
    if "text" not in table.column_names:
        raise InputError(f"{where} has no 'text' column (columns: "
                         f"{', '.join(table.column_names)}); rename the prompt column to 'text'")
    for batch in table.to_batches(max_chunksize=4096):
        for row in batch.to_pylist():
            stats.read += 1
            if not isinstance(row.get("text"), str):
                stats.skipped["rows without a text string"] += 1
                continue
            yield row


def _rows_parquet(path: Path, stats: ReadStats) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    for group in range(parquet.num_row_groups):
        yield from _rows_table(parquet.read_row_group(group), stats, path)


def _rows_hf(path: Path, stats: ReadStats) -> Iterator[dict[str, Any]]:
    """A folder written by `datasets.Dataset.save_to_disk`: Arrow IPC stream files."""
    import pyarrow as pa

    files = sorted(path.glob("*.arrow"))
    if not files:
        raise InputError(f"no .arrow files in {path}; save the dataset with save_to_disk")
    for file in files:
        with pa.memory_map(str(file)) as source:
            try:
                reader = pa.ipc.open_stream(source)
            except pa.ArrowInvalid:
                reader = pa.ipc.open_file(source)
            yield from _rows_table(reader.read_all(), stats, file)


_READERS = {"jsonl": _rows_jsonl, "txt": _rows_txt, "parquet": _rows_parquet, "hf": _rows_hf}


def read_corpus(path: Path, fmt: str | None = None,
                stats: ReadStats | None = None) -> Iterator[CorpusRecord]:
    """Stream the corpus's valid, first-seen prompts in file order."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"corpus {path} does not exist; check the --corpus path")
    fmt = fmt or detect_format(path)
    if fmt not in _READERS:
        raise InputError(f"unknown corpus format {fmt!r}; valid formats are {', '.join(FORMATS)}")
    stats = stats if stats is not None else ReadStats()
    seen: set[str] = set()
    try:
        for row in _READERS[fmt](path, stats):
            text = row.pop("text")
            if not text.strip():
                stats.skipped["empty prompts"] += 1
                continue
            given = row.pop("id", None)
            prompt_id = str(given) if given is not None else text_id(text)
            if prompt_id in seen:
                stats.skipped["duplicates"] += 1
                continue
            seen.add(prompt_id)
            stats.kept += 1
            yield CorpusRecord(prompt_id, text, row)
    except OSError as e:
        raise InputError(f"cannot read corpus {path}: {e.strerror or e}; check the file") from e
