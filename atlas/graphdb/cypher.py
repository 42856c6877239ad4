"""Reading Cypher from queries/ files and applying the Neo4j schema migrations (idempotently)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from neo4j.exceptions import DriverError, Neo4jError as DriverNeo4jError

from atlas.errors import Neo4jError, StoreError
from atlas.paths import MIGRATIONS_DIR, QUERIES_DIR

log = logging.getLogger(__name__)


@functools.cache
def read_cypher(relative: str) -> str:
    """Text of queries/<relative> (e.g. "load/nodes.cypher"); StoreError when missing."""
    path = QUERIES_DIR / relative
    try:
        return path.read_text()
    except OSError as e:
        raise StoreError(f"Cypher file {path} is missing; restore it from the repository") from e


def split_statements(text: str) -> list[str]:
    """Statements of a migration file: `;`-separated, `//` comment lines dropped."""
    body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
    return [s.strip() for s in body.split(";") if s.strip()]


def migration_files(folder: Path = MIGRATIONS_DIR / "neo4j") -> list[Path]:
    """Migration files in the order they apply (their numeric prefix)."""
    return sorted(folder.glob("*.cypher"))


def ensure_schema(driver, database: str = "neo4j") -> None:
    """Apply every Neo4j migration statement (all use IF NOT EXISTS) and wait for the indexes.

    A helper for tests and benchmarks on a fresh server; `atlas init` is the recorded runner.
    """
    try:
        for path in migration_files():
            for statement in split_statements(path.read_text()):
                driver.execute_query(statement, database_=database)
        driver.execute_query("CALL db.awaitIndexes(300)", database_=database)
    except (DriverError, DriverNeo4jError) as e:
        raise Neo4jError(f"applying Neo4j migrations failed: {e}; check the server") from e
    log.debug("neo4j schema ensured on database %s", database)
