"""Handing committed shards to the stores: DuckDB feature statistics, then the Neo4j graph.

Both stores record which shards they hold, so loading a shard again changes nothing; the
catalog marks a shard `loaded` once both have it. DuckDB has one writer process: a sink that
finds the file locked by another process leaves the shard for `atlas load RUN`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from sqlalchemy import select

from atlas.catalog import db, runs
from atlas.catalog.models import Shard, ShardState
from atlas.config import AtlasConfig
from atlas.errors import InputError, StoreError
from ingest.shards import is_complete

log = logging.getLogger(__name__)


class StoreSinks:
    """Open connections to both stores for one run; `__call__(shard_dir, index)` loads a shard."""

    def __init__(self, config: AtlasConfig, run: str, transcoder_set: str) -> None:
        from atlas.features.merge import FeatureStatsStore
        from atlas.neo4j.client import connect
        from atlas.stores.duckdb_store import connect as duckdb_connect

        self.config, self.run, self.transcoder_set = config, run, transcoder_set
        self.con = duckdb_connect(config)
        self.features = FeatureStatsStore(self.con)
        self.driver = connect(config)
        self.engine = db.make_engine(config.catalog_url_resolved)
        self.factory = db.session_factory(self.engine)

    def __call__(self, shard_dir: Path, index: int) -> None:
        from atlas.graphdb.loader import load_shard

        self.features.merge_shard_dir(shard_dir, self.transcoder_set)
        load_shard(self.driver, shard_dir, database=self.config.neo4j_database)
        mark_loaded(self.factory, self.run, [index])

    def close(self) -> None:
        self.con.close()
        self.driver.close()
        self.engine.dispose()

    def __enter__(self) -> "StoreSinks":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def mark_loaded(factory, run_name: str, indices: list[int]) -> None:  # noqa: ANN001
    """Record shards as held by both stores (shards already `loaded` stay so)."""
    with factory() as session:
        run = runs.get_run(session, run_name)
        for row in session.scalars(select(Shard).where(Shard.run_id == run.id,
                                                       Shard.index.in_(indices))).all():
            row.state = ShardState.loaded
        session.commit()


def catalog_transcoder_set(config: AtlasConfig, run_name: str) -> str | None:
    """The transcoder set of a run known to the catalog, else None (a run folder from elsewhere)."""
    engine = db.make_engine(config.catalog_url_resolved)
    try:
        with db.session_factory(engine)() as session:
            try:
                return runs.get_run(session, run_name).transcoder_set.name
            except InputError:
                return None
    finally:
        engine.dispose()


def finish_load(config: AtlasConfig, run_name: str, shard_dirs: list[Path],
                transcoder_set: str) -> int:
    """After the Neo4j load of `shard_dirs`: merge them into DuckDB and, for a run the catalog
    knows, mark them loaded. Returns the shards newly merged into DuckDB."""
    from atlas.features.merge import FeatureStatsStore
    from atlas.stores.duckdb_store import connect as duckdb_connect

    con = duckdb_connect(config)
    try:
        store = FeatureStatsStore(con)
        merged = sum(store.merge_shard_dir(path, transcoder_set) for path in shard_dirs)
    finally:
        con.close()
    if catalog_transcoder_set(config, run_name) is not None:
        engine = db.make_engine(config.catalog_url_resolved)
        try:
            mark_loaded(db.session_factory(engine), run_name,
                        [int(p.name) for p in shard_dirs if p.name.isdigit()])
        finally:
            engine.dispose()
    return merged


def committed_shards(config: AtlasConfig, run: str) -> list[tuple[Path, int]]:
    """Shards of `run` committed to disk but not yet marked loaded, in order."""
    engine = db.make_engine(config.catalog_url_resolved)
    try:
        with db.session_factory(engine)() as session:
            r = runs.get_run(session, run)
            shards = session.scalars(select(Shard).where(
                Shard.run_id == r.id, Shard.state == ShardState.committed)
                .order_by(Shard.index)).all()
            return [(Path(s.path), s.index) for s in shards]
    finally:
        engine.dispose()


def load_run(config: AtlasConfig, run: str, transcoder_set: str,
             on_shard: Callable[[int], None] | None = None) -> int:
    """Load every committed, unloaded shard of `run`; returns how many were loaded."""
    pending = committed_shards(config, run)
    with StoreSinks(config, run, transcoder_set) as sinks:
        for path, index in pending:
            if not is_complete(path):
                raise StoreError(f"shard {path} is recorded as committed but incomplete; "
                                 f"resume the run with `atlas ingest --resume {run}`")
            sinks(path, index)
            if on_shard:
                on_shard(index)
    return len(pending)
