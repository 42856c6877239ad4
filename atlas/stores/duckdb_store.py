"""The atlas DuckDB file: opening it with capped memory and threads; transactions."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from atlas.config import AtlasConfig
from atlas.errors import StoreError

if TYPE_CHECKING:
    import duckdb


def open_path(path: Path, memory_limit: str = "4GB", threads: int = 2,
              read_only: bool = False) -> "duckdb.DuckDBPyConnection":
    """Open (read-write: create) the DuckDB file at `path`, capped at `memory_limit`/`threads`.

    A read-write open creates the missing parent folders. DuckDB allows one writing process per
    file; a second writer, a corrupt file or an unusable folder gets a one-line StoreError.
    A read-only open of a missing file is an error instead of an empty database.
    """
    import duckdb

    if read_only and not path.exists():
        raise StoreError(f"DuckDB file {path} does not exist; run `atlas init` and ingest a run "
                         "first, or set duckdb_path")
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create folder {path.parent} for the DuckDB file "
                             f"({e.strerror}); set duckdb_path to a writable place") from e
    try:
        return duckdb.connect(str(path), read_only=read_only,
                              config={"memory_limit": memory_limit, "threads": threads,
                                      "preserve_insertion_order": False})
    except duckdb.Error as e:
        first = str(e).splitlines()[0][:200]
        raise StoreError(f"cannot open DuckDB file {path} ({first}); close the other writer, or "
                         "if the file is corrupt or from another DuckDB version move it aside "
                         "and run `atlas init`") from e


def connect(config: AtlasConfig, read_only: bool = False) -> "duckdb.DuckDBPyConnection":
    """The atlas DuckDB file of `config`, with its memory limit and thread count."""
    return open_path(config.duckdb_path_resolved, config.duckdb_memory_limit,
                     config.duckdb_threads, read_only)


@contextlib.contextmanager
def transaction(con: "duckdb.DuckDBPyConnection") -> Iterator["duckdb.DuckDBPyConnection"]:
    """BEGIN … COMMIT, or ROLLBACK when the block raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def has_table(con: "duckdb.DuckDBPyConnection", name: str) -> bool:
    rows = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                       [name]).fetchall()
    return rows[0][0] > 0


def require_tables(con: "duckdb.DuckDBPyConnection", *names: str) -> None:
    """Raise a StoreError when the schema lacks one of `names` (migrations not applied)."""
    missing = [n for n in names if not has_table(con, n)]
    if missing:
        raise StoreError(f"DuckDB schema lacks table(s) {', '.join(missing)}; run `atlas init` "
                         "to apply the DuckDB migrations")
