"""Store handles shared by the API's requests, opened on first use and closed at shutdown."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterator

from fastapi import Request

from atlas.api.batcher import Batcher
from atlas.config import AtlasConfig

log = logging.getLogger(__name__)


class LruCache:
    """A small thread-safe least-recently-used map (bounded number of entries)."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class Resources:
    """The Neo4j driver, the read-only DuckDB connection, the catalog, the embedder and the runs'
    example searchers (model, transcoders, baseline activations).

    Each is opened once, on the first request that needs it (so the server starts even while
    a store is down, and such a request gets that store's one-line error), and shared by all
    threads: the driver is thread-safe, DuckDB is used through a cursor per request.
    """

    def __init__(self, config: AtlasConfig, embedder_factory: Callable[[], Any] | None = None):
        self.config = config
        self._lock = threading.Lock()
        self._handles: dict[str, Any] = {}
        self._embedder_factory = embedder_factory
        self._duckdb_slots = threading.BoundedSemaphore(max(1, config.duckdb_threads))
        """Requests inside DuckDB at once, so 20+ concurrent requests do not oversubscribe it."""
        self.cards = LruCache(4096)
        """Serialized feature cards. Exact while the DuckDB handle is open: a read-only DuckDB
        file cannot be written by another process meanwhile (DuckDB's file lock)."""

    def _get(self, name: str, opener: Callable[[], Any]) -> Any:
        handle = self._handles.get(name)
        if handle is None:
            with self._lock:
                handle = self._handles.get(name)
                if handle is None:
                    handle = self._handles[name] = opener()
        return handle

    @property
    def database(self) -> str:
        return self.config.neo4j_database

    def driver(self):  # noqa: ANN201 - neo4j.Driver, imported lazily
        from atlas.neo4j.client import connect

        return self._get("driver", lambda: connect(self.config))

    @contextlib.contextmanager
    def duckdb(self) -> Iterator[Any]:
        """A cursor of the shared read-only DuckDB connection for one request."""
        con = self._get("duckdb", self._open_duckdb)
        with self._duckdb_slots:
            cursor = con.cursor()
            try:
                yield cursor
            finally:
                cursor.close()

    def card_rows(self, run: str, transcoder_set: str, layer: int, feature: int) -> Any:
        """The stored rows of a card (CardRows), fetched with those concurrent requests miss."""
        batcher = self._get("card_batcher", lambda: Batcher(self._fetch_card_rows, 64,
                                                            max(1, self.config.duckdb_threads)))
        return batcher.get((run, transcoder_set, layer, feature))

    def card_reader(self) -> Any:
        """The feature-card reader of the DuckDB file (its run rows are read once)."""
        from atlas.features.card_reader import CardReader

        con = self._get("duckdb", self._open_duckdb)  # first: _get's lock is not reentrant

        def open_reader() -> CardReader:
            cursor = con.cursor()
            try:
                return CardReader(cursor)
            finally:
                cursor.close()

        return self._get("card_reader", open_reader)

    def _fetch_card_rows(self, keys: list[tuple[str, str, int, int]]) -> dict:
        reader = self.card_reader()
        groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for run, tset, layer, feature in keys:
            groups.setdefault((run, tset), []).append((layer, feature))
        out = {}
        with self.duckdb() as cur:
            for (run, tset), ids in groups.items():
                for (layer, feature), rows in reader.rows_many(cur, run, tset, ids).items():
                    out[run, tset, layer, feature] = rows
        return out

    def _open_duckdb(self) -> Any:
        from atlas.features.merge import TABLES
        from atlas.stores.duckdb_store import connect, require_tables

        con = connect(self.config, read_only=True)
        require_tables(con, *TABLES)
        return con

    @contextlib.contextmanager
    def catalog(self) -> Iterator[Any]:
        """A catalog session for one request."""
        from atlas.catalog.db import session_factory

        engine = self._get("catalog", self._open_catalog)
        with session_factory(engine)() as session:
            yield session

    def _open_catalog(self) -> Any:
        from atlas.catalog.db import make_engine
        from atlas.errors import StoreError

        url = self.config.catalog_url_resolved
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            raise StoreError(f"no catalog at {url}; run `atlas init` first (the API never "
                             "creates one)")
        return make_engine(url)

    def embedder(self) -> Any:
        from atlas.graphdb.search import sentence_embedder

        return self._get("embedder", self._embedder_factory or sentence_embedder)

    def example_searcher(self, run: str) -> Any:
        """The run's ExampleSearcher: its model and transcoders are loaded on the first search
        and kept (with the baseline activations) for the life of the process."""
        from atlas.api.errors import NotFoundError
        from atlas.errors import InputError
        from atlas.features.by_examples import ExampleSearcher, run_model_from_session

        key = f"examples:{run}"
        searcher = self._handles.get(key)
        if searcher is None:
            with self.catalog() as session:  # outside _get: it holds the lock catalog() takes
                try:
                    spec = run_model_from_session(session, self.config.home, run)
                except InputError as e:
                    raise NotFoundError(str(e)) from e
            searcher = self._get(key, lambda: ExampleSearcher(spec))
        return searcher

    def close(self) -> None:
        with self._lock:
            handles, self._handles = self._handles, {}
        for name, handle in handles.items():
            closer = getattr(handle, "dispose", None) or getattr(handle, "close", None)
            try:
                if closer:
                    closer()
            except Exception:  # noqa: BLE001 - shutdown must go on closing the others
                log.warning("closing %s failed", name, exc_info=True)


async def resources(request: Request) -> Resources:
    """FastAPI dependency: the app's shared store handles (async: no thread hop)."""
    return request.app.state.resources
