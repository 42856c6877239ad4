"""`atlas init`: bring the catalog, the Neo4j schema and the DuckDB schema to this code's version."""

from __future__ import annotations

from dataclasses import dataclass

from atlas.config import AtlasConfig
from atlas.errors import StoreError


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


def open_duckdb(config: AtlasConfig, read_only: bool = False):
    """The DuckDB file of the atlas, with memory and threads capped by the config."""
    import duckdb

    path = config.duckdb_path_resolved
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only,
                              config={"memory_limit": config.duckdb_memory_limit,
                                      "threads": config.duckdb_threads})
    except duckdb.Error as e:
        first = str(e).splitlines()[0][:160]
        raise StoreError(f"cannot open DuckDB file {path} ({first}); if it is corrupt or from "
                         "another DuckDB version, move it aside and run `atlas init`") from e


def init_atlas(config: AtlasConfig) -> InitReport:
    """Apply every pending migration of the three stores; a second run changes nothing."""
    from atlas.catalog import db
    from atlas.neo4j.client import session_driver
    from atlas.stores import duckdb_schema, neo4j_schema

    config.home.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(config.catalog_url_resolved)
    try:
        before, after = db.upgrade(engine)
    finally:
        engine.dispose()
    with session_driver(config) as driver:
        neo4j_applied = neo4j_schema.migrate(driver, config.neo4j_database)
    con = open_duckdb(config)
    try:
        duckdb_applied = duckdb_schema.migrate(con)
    finally:
        con.close()
    return InitReport(before, after, neo4j_applied, duckdb_applied)
