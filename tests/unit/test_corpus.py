"""Corpus reading and freezing: formats, stable ids, skip-and-count of bad rows, token limits."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from atlas.errors import InputError
from ingest.corpus import ReadStats, read_corpus, text_id
from ingest.prepare import prepare_corpus, read_prompt_range


def test_jsonl_keeps_metadata_and_skips_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"\n".join([
        json.dumps({"id": "a", "text": "hello world", "source": "x"}).encode(),
        b'{"text": "no id here"}',
        b'{"text": "   "}',                        # whitespace prompt
        b'{"text": broken',                        # malformed JSON
        b'{"id": "a", "text": "same id again"}',   # duplicate id
        b'{"text": "\xff\xfe bad utf8"}',          # invalid UTF-8
        b'{"title": "no text"}',
        b"",
    ]))
    stats = ReadStats()
    records = list(read_corpus(path, stats=stats))
    assert [(r.prompt_id, r.text, r.metadata) for r in records] == [
        ("a", "hello world", {"source": "x"}), (text_id("no id here"), "no id here", {})]
    assert stats.read == 7 and stats.kept == 2
    assert stats.skipped == {"empty prompts": 1, "malformed JSON": 1, "duplicates": 1,
                             "invalid UTF-8": 1, "rows without a text string": 1}


def test_text_parquet_and_hf_formats_agree(tmp_path: Path) -> None:
    texts = ["one prompt", "two prompt", "one prompt", "three"]
    (tmp_path / "c.txt").write_text("\n".join(texts) + "\n")
    pq.write_table(pa.table({"text": texts}), tmp_path / "c.parquet")
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "dataset_info.json").write_text("{}")
    table = pa.table({"text": texts})
    with pa.OSFile(str(hf / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    expected = ["one prompt", "two prompt", "three"]   # the repeat is a duplicate by content id
    for source in (tmp_path / "c.txt", tmp_path / "c.parquet", hf):
        assert [r.text for r in read_corpus(source)] == expected


def test_missing_file_and_unknown_format_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        list(read_corpus(tmp_path / "nope.jsonl"))
    (tmp_path / "c.txt").write_text("x\n")
    with pytest.raises(InputError, match="valid formats are"):
        list(read_corpus(tmp_path / "c.txt", fmt="csv"))
    pq.write_table(pa.table({"prompt": ["x"]}), tmp_path / "p.parquet")
    with pytest.raises(InputError, match="no 'text' column"):
        list(read_corpus(tmp_path / "p.parquet"))


def _word_tokens(text: str) -> int:
    return 1 + len(text.split())           # BOS + one token per word


def _truncate_words(text: str, max_tokens: int) -> str:
    return " ".join(text.split()[: max_tokens - 1])


@pytest.mark.parametrize("overflow, kept, truncated, too_long", [("truncate", 3, 1, 0),
                                                                 ("skip", 2, 0, 1)])
def test_token_limit_truncates_or_skips(tmp_path: Path, overflow: str, kept: int,
                                        truncated: int, too_long: int) -> None:
    (tmp_path / "c.txt").write_text("a b\nc d e f g h\ni\n")
    prepared = prepare_corpus(tmp_path / "c.txt", tmp_path / "run", _word_tokens, 4, overflow,
                              truncate_text=_truncate_words)
    assert (prepared.n_prompts, prepared.n_truncated, prepared.n_too_long) == (kept, truncated,
                                                                               too_long)
    table = pq.read_table(prepared.path)
    assert max(table["n_tokens"].to_pylist()) <= 4
    if overflow == "truncate":
        assert table["text"].to_pylist()[1] == "c d e"


def test_empty_corpus_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("\n  \n")
    with pytest.raises(InputError, match="no usable prompt"):
        prepare_corpus(tmp_path / "c.txt", tmp_path / "run", _word_tokens, 8)
    assert not (tmp_path / "run" / "prompts.parquet").exists()


def test_prompt_ranges_cross_row_groups(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("\n".join(f"prompt {i}" for i in range(2500)) + "\n")
    prepared = prepare_corpus(tmp_path / "c.txt", tmp_path / "run", _word_tokens, 8)
    for first, count in [(0, 10), (1020, 10), (2040, 100), (2490, 50)]:
        rows = read_prompt_range(prepared.path, first, count)["text"].to_pylist()
        assert rows == [f"prompt {i}" for i in range(first, min(first + count, 2500))]
