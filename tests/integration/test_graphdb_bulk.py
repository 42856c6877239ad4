"""The offline bulk path (CSV + neo4j-admin import) builds the same graph as the Bolt loader."""

from __future__ import annotations

import pytest

from atlas.graphdb.bulk import bulk_load
from atlas.graphdb.loader import load_run
from atlas.graphdb.synthetic import SyntheticSpec, generate_run
from tests.conftest import make_test_config

from .graphdb_fixtures import graph_counts, wipe


@pytest.fixture
def own_server(tmp_path):
    """A second managed server: bulk loading stops and restarts it, so not the session's."""
    from atlas.neo4j import server

    config = make_test_config(tmp_path / "home")
    server.start(config)
    try:
        yield config
    finally:
        server.stop(config)


def test_bulk_import_equals_bolt_load(own_server, tmp_path):
    from atlas.neo4j.client import connect

    run_dir = generate_run(tmp_path / "runs", SyntheticSpec(n_prompts=20, n_shards=2, seed=5))
    stats = bulk_load(own_server, [run_dir], tmp_path / "csv")
    driver = connect(own_server)
    try:
        db = own_server.neo4j_database
        bulk = graph_counts(driver, db)
        assert stats.edges == bulk["types"]["ATTR"] > 0
        again = load_run(driver, run_dir, database=db)  # shards recorded: nothing to add
        assert again.edges == 0 and len(again.shards_skipped) == 2
        wipe(driver, db)
        load_run(driver, run_dir, database=db)
        bolt = graph_counts(driver, db)
    finally:
        driver.close()
    for counts in (bulk, bolt):
        counts["labels"].pop("SchemaMigration", None)
    assert bulk == bolt
