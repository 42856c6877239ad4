"""`atlas init`: bring the catalog, the Neo4j schema and the DuckDB schema to this code's version."""

from __future__ import annotations

from dataclasses import dataclass

from atlas.config import AtlasConfig


@dataclass(frozen=True)
class InitReport:
    """What `atlas init` changed; all lists empty and revisions equal mean nothing changed."""

    catalog_before: str | None
    """Catalog Alembic revision before."""
    catalog_after: str
    """Catalog Alembic revision after."""
    neo4j_applied: list[str]
    """Neo4j migrations applied now."""
    duckdb_applied: list[str]
    """DuckDB migrations applied now."""

    @property
    def changed(self) -> bool:
        return bool(self.neo4j_applied or self.duckdb_applied
                    or self.catalog_before != self.catalog_after)


def init_atlas(config: AtlasConfig) -> InitReport:
    """Apply every pending migration of the three stores; a second run changes nothing."""
    from atlas.catalog import db
    from atlas.neo4j.client import session_driver
    from atlas.stores import duckdb_schema, neo4j_schema
    from atlas.stores.duckdb_store import connect

    config.home.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(config.catalog_url_resolved)
    try:
        before, after = db.upgrade(engine)
    finally:
        engine.dispose()
    with session_driver(config) as driver:
        neo4j_applied = neo4j_schema.migrate(driver, config.neo4j_database)
    con = connect(config)
    try:
        duckdb_applied = duckdb_schema.migrate(con)
    finally:
        con.close()
    return InitReport(before, after, neo4j_applied, duckdb_applied)
