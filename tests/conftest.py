"""Session fixtures: a real Neo4j on free ports with a throwaway home, seeds, tiers."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path
from typing import Iterator

import pytest

from atlas.config import AtlasConfig
from atlas.paths import PROJECT_ROOT

# Jars are resolved once per checkout and shared by the throwaway homes of test sessions.
TEST_NEO4J_RUNTIME = Path(os.environ.get("ATLAS_TEST_NEO4J_RUNTIME",
                                         PROJECT_ROOT / ".atlas-home" / "neo4j-runtime"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_test_config(home: Path, **changes: object) -> AtlasConfig:
    """A config for a managed Neo4j on free ports under `home`, sized for a shared 2-core box."""
    values: dict[str, object] = dict(
        home=home, neo4j_bolt_port=free_port(), neo4j_http_port=free_port(),
        neo4j_runtime=TEST_NEO4J_RUNTIME, neo4j_heap="768m", neo4j_pagecache="256m",
        duckdb_memory_limit="1GB", neo4j_start_timeout=180.0)
    values.update(changes)
    return AtlasConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    try:
        import numpy as np
        np.random.seed(0)
    except ImportError:
        pass


@pytest.fixture(scope="session")
def atlas_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AtlasConfig]:
    """An initialised atlas (catalog, Neo4j schema, DuckDB schema) on a running managed Neo4j."""
    from atlas.initialize import init_atlas
    from atlas.neo4j import server

    config = make_test_config(tmp_path_factory.mktemp("atlas-home"))
    server.start(config)
    try:
        init_atlas(config)
        yield config
    finally:
        server.stop(config)


@pytest.fixture(scope="session")
def neo4j_driver(atlas_config: AtlasConfig):
    from atlas.neo4j.client import connect

    driver = connect(atlas_config)
    yield driver
    driver.close()


@pytest.fixture
def clean_neo4j(neo4j_driver, atlas_config: AtlasConfig):
    """An empty graph (schema and migration records kept) for one test."""
    with neo4j_driver.session(database=atlas_config.neo4j_database) as session:
        session.run("MATCH (n) WHERE NOT n:SchemaMigration "
                    "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
    return neo4j_driver


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device; none is visible")
    for item in items:
        path = str(item.fspath)
        if f"{os.sep}integration{os.sep}" in path:
            item.add_marker(pytest.mark.integration)
        if f"{os.sep}gpu{os.sep}" in path:
            item.add_marker(pytest.mark.gpu)
            if not has_cuda:
                item.add_marker(skip_gpu)
