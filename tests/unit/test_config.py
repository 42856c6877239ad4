from pathlib import Path

import pytest

from atlas.config import load_config
from atlas.errors import ConfigError


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('neo4j_bolt_port = 7001\nneo4j_heap = "2g"\n'
                                          'duckdb_threads = 3\n')
    env = {"ATLAS_HOME": str(tmp_path), "ATLAS_NEO4J_HEAP": "3g", "ATLAS_DUCKDB_THREADS": "4"}
    config = load_config({"duckdb_threads": 5}, env=env)
    assert config.home == tmp_path
    assert config.neo4j_bolt_port == 7001          # file beats default
    assert config.neo4j_heap == "3g"               # environment beats file
    assert config.duckdb_threads == 5              # flag beats environment
    assert config.neo4j_http_port == 7474          # default
    assert config.catalog_url_resolved == f"sqlite:///{tmp_path / 'catalog.sqlite'}"


def test_conventional_neo4j_variables_select_external_server(tmp_path: Path) -> None:
    env = {"ATLAS_HOME": str(tmp_path), "NEO4J_URI": "neo4j://db.example:7687",
           "NEO4J_USER": "alice", "NEO4J_PASSWORD": "s3cret"}
    config = load_config(env=env)
    assert config.uses_external_neo4j
    assert config.neo4j_user == "alice"
    shown = config.masked()
    assert shown["neo4j_password"] == "***"
    assert "s3cret" not in str(shown)


def test_unknown_key_in_file_names_valid_keys(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("neo4j_port = 1\n")
    with pytest.raises(ConfigError, match="unknown key.*neo4j_port.*valid keys are"):
        load_config(env={"ATLAS_HOME": str(tmp_path)})


def test_bad_values_are_one_line_errors(tmp_path: Path) -> None:
    env = {"ATLAS_HOME": str(tmp_path), "ATLAS_NEO4J_BOLT_PORT": "seven"}
    with pytest.raises(ConfigError, match="ATLAS_NEO4J_BOLT_PORT") as info:
        load_config(env=env)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="both 9000"):
        load_config({"neo4j_bolt_port": 9000, "neo4j_http_port": 9000},
                    env={"ATLAS_HOME": str(tmp_path)})


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(env={"ATLAS_HOME": str(tmp_path)})
    with pytest.raises(AttributeError):
        config.neo4j_heap = "9g"  # type: ignore[misc]
