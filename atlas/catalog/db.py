"""Catalog engine and schema upgrades through Alembic (SQLite by default, any SQLAlchemy URL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from atlas.errors import StoreError
from atlas.paths import MIGRATIONS_DIR

CATALOG_MIGRATIONS = MIGRATIONS_DIR / "catalog"


def make_engine(url: str) -> Engine:
    """An engine; SQLite files get WAL and a busy timeout so several workers can share them."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True,
                                                                        exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(CATALOG_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except (OperationalError, DatabaseError) as e:
        raise StoreError(f"cannot open the catalog at {engine.url!r}: {e.orig}; check "
                         "catalog_url, or move a corrupt file aside") from e


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the catalog to the newest revision; returns (before, after).

    A catalog at a revision this code does not know (written by a newer version) is refused.
    """
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(engine.url.render_as_string(hide_password=False))
    scripts = ScriptDirectory.from_config(cfg)
    head = scripts.get_current_head()
    before = current_revision(engine)
    if before is not None and before not in {s.revision for s in scripts.walk_revisions()}:
        raise StoreError(f"the catalog at {engine.url!r} is at revision {before}, newer than this "
                         f"code (newest known {head}); upgrade feature-atlas")
    if before != head:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    return before, head  # type: ignore[return-value]
