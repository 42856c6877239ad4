"""Reading Cypher from queries/ files (the schema is atlas.stores.neo4j_schema's)."""

from __future__ import annotations

import functools

from atlas.errors import StoreError
from atlas.paths import QUERIES_DIR


@functools.cache
def read_cypher(relative: str) -> str:
    """Text of queries/<relative> (e.g. "load/nodes.cypher"); StoreError when missing."""
    path = QUERIES_DIR / relative
    try:
        return path.read_text()
    except OSError as e:
        raise StoreError(f"Cypher file {path} is missing; restore it from the repository") from e
