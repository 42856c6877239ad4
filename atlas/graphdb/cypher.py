"""Reading Cypher from queries/ files; making sure the Neo4j schema is migrated and online."""

from __future__ import annotations

import functools
import logging

from neo4j.exceptions import DriverError, Neo4jError as DriverNeo4jError

from atlas.errors import Neo4jError, StoreError
from atlas.paths import QUERIES_DIR

log = logging.getLogger(__name__)


@functools.cache
def read_cypher(relative: str) -> str:
    """Text of queries/<relative> (e.g. "load/nodes.cypher"); StoreError when missing."""
    path = QUERIES_DIR / relative
    try:
        return path.read_text()
    except OSError as e:
        raise StoreError(f"Cypher file {path} is missing; restore it from the repository") from e


def ensure_schema(driver, database: str = "neo4j") -> None:
    """Apply pending Neo4j migrations (the recorded runner of `atlas init`) and wait for indexes."""
    from atlas.stores.neo4j_schema import migrate

    migrate(driver, database)
    try:
        driver.execute_query("CALL db.awaitIndexes(300)", database_=database)
    except (DriverError, DriverNeo4jError) as e:
        raise Neo4jError(f"waiting for Neo4j indexes failed: {e}; check the server") from e
    log.debug("neo4j schema ensured on database %s", database)
