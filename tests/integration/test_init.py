"""`atlas init` on real stores: applies once, changes nothing the second time, refuses newer stores."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text

from atlas.catalog import db
from atlas.config import replace
from atlas.errors import StoreError
from atlas.initialize import init_atlas
from atlas.stores import duckdb_schema, neo4j_schema
from atlas.stores.duckdb_store import connect


def test_second_init_changes_nothing(atlas_config) -> None:
    report = init_atlas(atlas_config)
    assert not report.changed
    engine = db.make_engine(atlas_config.catalog_url_resolved)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"models", "transcoder_sets", "corpora", "runs", "ingestion_jobs", "shards",
            "alembic_version"} <= tables


def test_neo4j_migrations_apply_once_and_refuse_newer(neo4j_driver, atlas_config,
                                                      tmp_path: Path) -> None:
    migrations = tmp_path / "neo4j"
    migrations.mkdir()
    (migrations / "0001_probe.cypher").write_text(
        "CREATE CONSTRAINT probe_key IF NOT EXISTS FOR (p:ProbeX) REQUIRE p.key IS UNIQUE;\n")
    # a separate database would be cleaner, but Community has one: use a scratch label and undo
    db_name = atlas_config.neo4j_database
    before = neo4j_schema.applied_versions(neo4j_driver, db_name)
    try:
        neo4j_driver.execute_query("MATCH (m:SchemaMigration) SET m:Hidden REMOVE m:SchemaMigration",
                                   database_=db_name)
        assert neo4j_schema.migrate(neo4j_driver, db_name, migrations) == ["0001_probe"]
        assert neo4j_schema.migrate(neo4j_driver, db_name, migrations) == []
        records, _, _ = neo4j_driver.execute_query("SHOW CONSTRAINTS YIELD name RETURN name",
                                                   database_=db_name)
        assert "probe_key" in {r["name"] for r in records}
        neo4j_driver.execute_query("CREATE (:SchemaMigration {version: 9999, name: 'future'})",
                                   database_=db_name)
        with pytest.raises(StoreError, match="version 9999, newer than this code"):
            neo4j_schema.migrate(neo4j_driver, db_name, migrations)
    finally:
        neo4j_driver.execute_query("MATCH (m:SchemaMigration) DETACH DELETE m", database_=db_name)
        neo4j_driver.execute_query("MATCH (m:Hidden) SET m:SchemaMigration REMOVE m:Hidden",
                                   database_=db_name)
        neo4j_driver.execute_query("DROP CONSTRAINT probe_key IF EXISTS", database_=db_name)
    assert neo4j_schema.applied_versions(neo4j_driver, db_name) == before


def test_neo4j_schema_is_exactly_what_the_migrations_create(neo4j_driver, atlas_config) -> None:
    """ensure_schema (loaders, bulk import) and `atlas init` share one source: the migrations."""
    db_name = atlas_config.neo4j_database
    neo4j_schema.ensure_schema(neo4j_driver, db_name)
    text = "\n".join(p.read_text() for p in sorted(neo4j_schema.NEO4J_MIGRATIONS.glob("*.cypher")))
    created = r"CREATE (?:CONSTRAINT|(?:FULLTEXT |VECTOR )?INDEX) (\w+) IF NOT EXISTS"
    declared = set(re.findall(created, text)) | {"schema_migration_version"}
    records, _, _ = neo4j_driver.execute_query(
        "SHOW INDEXES YIELD name, type, state WHERE type <> 'LOOKUP' RETURN name, state",
        database_=db_name)
    assert {r["name"] for r in records} == declared
    assert {r["state"] for r in records} == {"ONLINE"}


def test_duckdb_migrations_apply_once_and_refuse_newer(tmp_path: Path, atlas_config) -> None:
    migrations = tmp_path / "duck"
    migrations.mkdir()
    (migrations / "0001_t.sql").write_text("CREATE TABLE t (x INTEGER);\nINSERT INTO t VALUES (1);\n")
    config = replace(atlas_config, duckdb_path=tmp_path / "x.duckdb")
    con = connect(config)
    try:
        assert duckdb_schema.migrate(con, migrations) == ["0001_t"]
        assert duckdb_schema.migrate(con, migrations) == []
        assert con.execute("SELECT count(*) FROM t").fetchall() == [(1,)]
        con.execute("INSERT INTO schema_migrations (version, name) VALUES (7, 'future')")
        with pytest.raises(StoreError, match="version 7, newer than this code"):
            duckdb_schema.migrate(con, migrations)
    finally:
        con.close()


def test_failed_duckdb_migration_leaves_nothing(tmp_path: Path, atlas_config) -> None:
    migrations = tmp_path / "duck"
    migrations.mkdir()
    (migrations / "0001_bad.sql").write_text("CREATE TABLE ok (x INTEGER);\nCREATE TABLE oops (;\n")
    con = connect(replace(atlas_config, duckdb_path=tmp_path / "y.duckdb"))
    try:
        with pytest.raises(StoreError, match="DuckDB schema migration failed"):
            duckdb_schema.migrate(con, migrations)
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert "ok" not in tables
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchall() == [(0,)]
    finally:
        con.close()


def test_corrupt_duckdb_file_is_a_store_error(tmp_path: Path, atlas_config) -> None:
    bad = tmp_path / "corrupt.duckdb"
    bad.write_bytes(b"this is not a duckdb file" * 1000)
    with pytest.raises(StoreError, match="move it aside"):
        connect(replace(atlas_config, duckdb_path=bad))


def test_newer_catalog_is_refused(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'cat.sqlite'}")
    db.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    with pytest.raises(StoreError, match="revision f00dfeed, newer than this code"):
        db.upgrade(engine)
    engine.dispose()


def test_cli_init_and_status(atlas_config) -> None:
    from atlas.cli.main import cli

    home = ["--home", str(atlas_config.home)]
    env = {"ATLAS_NEO4J_BOLT_PORT": str(atlas_config.neo4j_bolt_port),
           "ATLAS_NEO4J_HTTP_PORT": str(atlas_config.neo4j_http_port),
           "ATLAS_NEO4J_RUNTIME": str(atlas_config.neo4j_runtime)}
    result = CliRunner().invoke(cli, [*home, "init"], env=env)
    assert result.exit_code == 0, result.output
    assert "already up to date" in result.output
    result = CliRunner().invoke(cli, [*home, "neo4j", "status"], env=env)
    assert result.exit_code == 0 and "version: 5.26." in result.output
