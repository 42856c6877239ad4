"""Neo4j schema: migrations `migrations/neo4j/NNNN_name.cypher`, each applied once and recorded."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from atlas.errors import Neo4jError
from atlas.paths import MIGRATIONS_DIR
from atlas.stores.migration_files import check_not_newer, list_migrations

if TYPE_CHECKING:
    from neo4j import Driver

log = logging.getLogger(__name__)

NEO4J_MIGRATIONS = MIGRATIONS_DIR / "neo4j"

_BOOTSTRAP = ("CREATE CONSTRAINT schema_migration_version IF NOT EXISTS "
              "FOR (m:SchemaMigration) REQUIRE m.version IS UNIQUE")
_APPLIED = "MATCH (m:SchemaMigration) RETURN m.version AS version ORDER BY version"
_RECORD = ("MERGE (m:SchemaMigration {version: $version}) "
           "SET m.name = $name, m.applied_at = datetime($applied_at)")
_AWAIT_INDEXES = "CALL db.awaitIndexes(300)"


def applied_versions(driver: "Driver", database: str) -> list[int]:
    records, _, _ = driver.execute_query(_APPLIED, database_=database)
    return [r["version"] for r in records]


def migrate(driver: "Driver", database: str = "neo4j",
            directory: Path = NEO4J_MIGRATIONS) -> list[str]:
    """Apply the pending migrations in order; returns the names applied (empty: up to date).

    Schema statements cannot share a transaction with writes in Neo4j, so each statement runs
    on its own and the migration is recorded after its last statement; statements use
    IF NOT EXISTS so a migration interrupted half-way can simply run again.
    """
    from neo4j import exceptions as ne

    files = list_migrations(directory, ".cypher")
    try:
        driver.execute_query(_BOOTSTRAP, database_=database)
        done = set(applied_versions(driver, database))
        check_not_newer("the Neo4j database", max(done, default=None), files)
        applied = []
        for migration in files:
            if migration.version in done:
                continue
            for statement in migration.statements():
                driver.execute_query(statement, database_=database)
            driver.execute_query(_RECORD, version=migration.version, name=migration.name,
                                 applied_at=dt.datetime.now(dt.timezone.utc).isoformat(),
                                 database_=database)
            applied.append(f"{migration.version:04d}_{migration.name}")
        return applied
    except ne.Neo4jError as e:
        raise Neo4jError(f"Neo4j schema migration failed: {e.message}") from e


def ensure_schema(driver: "Driver", database: str = "neo4j") -> None:
    """Apply pending migrations (as `atlas init` does) and wait until every index is online.

    For loaders and tests that need a queryable schema right now, e.g. after a bulk import.
    """
    from neo4j.exceptions import DriverError, Neo4jError as DriverNeo4jError

    migrate(driver, database)
    try:
        driver.execute_query(_AWAIT_INDEXES, database_=database)
    except (DriverError, DriverNeo4jError) as e:
        raise Neo4jError(f"waiting for Neo4j indexes failed: {e}; check the server") from e
    log.debug("neo4j schema ensured on database %s", database)
