"""DuckDB schema migrations: `migrations/duckdb/NNNN_name.sql`, each applied once in a transaction."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from atlas.errors import StoreError
from atlas.paths import MIGRATIONS_DIR
from atlas.stores.migration_files import check_not_newer, list_migrations

if TYPE_CHECKING:
    import duckdb

DUCKDB_MIGRATIONS = MIGRATIONS_DIR / "duckdb"

_BOOTSTRAP = ("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
              "name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)")


def migrate(con: "duckdb.DuckDBPyConnection", directory: Path = DUCKDB_MIGRATIONS) -> list[str]:
    """Apply the pending migrations in order, each with its record in one transaction."""
    import duckdb

    files = list_migrations(directory, ".sql")
    try:
        con.execute(_BOOTSTRAP)
        done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
        check_not_newer("the DuckDB file", max(done, default=None), files)
        applied = []
        for migration in files:
            if migration.version in done:
                continue
            con.execute("BEGIN TRANSACTION")
            try:
                for statement in migration.statements():
                    con.execute(statement)
                con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                            [migration.version, migration.name])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            applied.append(f"{migration.version:04d}_{migration.name}")
        return applied
    except duckdb.Error as e:
        raise StoreError(f"DuckDB schema migration failed: {e}") from e
