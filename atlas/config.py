"""The one typed configuration: defaults < config file < environment < CLI flags.

`load_config` builds a frozen `AtlasConfig` once; nothing mutates it afterwards. The config file
is TOML (``$ATLAS_HOME/config.toml`` or the path in ``$ATLAS_CONFIG``) with the field names below
as keys. Each field's environment variable is ``ATLAS_<NAME>`` in upper case; the Neo4j
connection also honours the conventional ``NEO4J_URI``, ``NEO4J_USER`` and ``NEO4J_PASSWORD``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from atlas.errors import ConfigError

DEFAULT_HOME = Path("~/.cache/feature-atlas")


def _doc(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class AtlasConfig:
    """Effective settings of one atlas process."""

    home: Path = field(default=DEFAULT_HOME, metadata=_doc(
        "Atlas home: Neo4j runtime and data, catalog, DuckDB file, runs."))
    neo4j_uri: str | None = field(default=None, metadata=_doc(
        "Bolt URI of an external Neo4j (Docker, Desktop, Aura, cluster). When set, the atlas "
        "never starts its own server."))
    neo4j_user: str = field(default="neo4j", metadata=_doc("Neo4j user name."))
    neo4j_password: str | None = field(default=None, metadata=_doc(
        "Neo4j password. For the managed server it is generated on first start and stored "
        "with mode 0600 in <home>/neo4j/password."))
    neo4j_database: str = field(default="neo4j", metadata=_doc("Neo4j database name."))
    neo4j_host: str = field(default="127.0.0.1", metadata=_doc(
        "Address the managed Neo4j listens on."))
    neo4j_bolt_port: int = field(default=7687, metadata=_doc("Bolt port of the managed Neo4j."))
    neo4j_http_port: int = field(default=7474, metadata=_doc("HTTP port of the managed Neo4j."))
    neo4j_version: str = field(default="5.26.12", metadata=_doc(
        "Neo4j Community version resolved from Maven Central (5.26 LTS runs on Java 17)."))
    neo4j_runtime: Path | None = field(default=None, metadata=_doc(
        "Folder of resolved Neo4j jars; default <home>/neo4j/runtime. Homes may share one."))
    neo4j_heap: str = field(default="1g", metadata=_doc("Managed Neo4j JVM heap (max)."))
    neo4j_pagecache: str = field(default="1g", metadata=_doc("Managed Neo4j page cache."))
    neo4j_start_timeout: float = field(default=120.0, metadata=_doc(
        "Seconds `atlas neo4j start` waits for Bolt to answer."))
    catalog_url: str | None = field(default=None, metadata=_doc(
        "SQLAlchemy URL of the catalog; default sqlite:///<home>/catalog.sqlite."))
    duckdb_path: Path | None = field(default=None, metadata=_doc(
        "DuckDB file of activation statistics; default <home>/atlas.duckdb."))
    duckdb_memory_limit: str = field(default="4GB", metadata=_doc(
        "DuckDB memory cap (it shares the machine with Neo4j and torch)."))
    duckdb_threads: int = field(default=2, metadata=_doc("DuckDB worker threads."))
    api_host: str = field(default="127.0.0.1", metadata=_doc(
        "Address `atlas serve` binds (loopback by default; 0.0.0.0 exposes it)."))
    api_port: int = field(default=8765, metadata=_doc("Port `atlas serve` listens on."))
    api_workers: int = field(default=1, metadata=_doc(
        "Processes `atlas serve` forks to answer requests (each opens the stores read-only; "
        "more than one uses more cores)."))
    api_cors_origins: str = field(default="", metadata=_doc(
        "Comma-separated origins allowed by CORS for the HTTP API; empty: none."))
    api_token: str | None = field(default=None, metadata=_doc(
        "Bearer token of the HTTP API's write endpoints (env ATLAS_API_TOKEN); unset: they "
        "are disabled."))

    @property
    def catalog_url_resolved(self) -> str:
        return self.catalog_url or f"sqlite:///{self.home / 'catalog.sqlite'}"

    @property
    def duckdb_path_resolved(self) -> Path:
        return self.duckdb_path or self.home / "atlas.duckdb"

    @property
    def neo4j_home(self) -> Path:
        return self.home / "neo4j"

    @property
    def neo4j_runtime_resolved(self) -> Path:
        return self.neo4j_runtime or self.neo4j_home / "runtime"

    @property
    def uses_external_neo4j(self) -> bool:
        return self.neo4j_uri is not None

    def masked(self) -> dict[str, Any]:
        """The settings as plain values, with secrets replaced by '***'."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRETS and value is not None:
                value = "***"
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out


_SECRETS = {"neo4j_password", "api_token"}
_CONVENTIONAL_ENV = {"neo4j_uri": "NEO4J_URI", "neo4j_user": "NEO4J_USER",
                     "neo4j_password": "NEO4J_PASSWORD"}


def _coerce(name: str, raw: Any, source: str) -> Any:
    target = {f.name: f for f in fields(AtlasConfig)}[name]
    kind = str(target.type)
    try:
        if raw is None:
            return None
        if "Path" in kind:
            return Path(str(raw)).expanduser()
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{source}: {name}={raw!r} is not a valid {kind}; fix the value") from e


def _from_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read config file {path}: {e}; fix or remove it") from e
    known = {f.name for f in fields(AtlasConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"config file {path}: unknown key(s) {', '.join(unknown)}; "
                          f"valid keys are {', '.join(sorted(known))}")
    return {k: _coerce(k, v, str(path)) for k, v in data.items()}


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(AtlasConfig):
        for var in (f"ATLAS_{f.name.upper()}", _CONVENTIONAL_ENV.get(f.name)):
            if var and env.get(var):
                out[f.name] = _coerce(f.name, env[var], f"environment {var}")
    return out


def load_config(overrides: Mapping[str, Any] | None = None,
                env: Mapping[str, str] | None = None) -> AtlasConfig:
    """Build the effective config: defaults < file < environment < `overrides` (CLI flags).

    Overrides whose value is None are ignored, so click options can be passed straight in.
    """
    env = os.environ if env is None else env
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    from_env = _from_env(env)
    home = Path(flags.get("home") or from_env.get("home") or DEFAULT_HOME).expanduser()
    config_path = Path(flags.pop("config", None) or env.get("ATLAS_CONFIG")
                       or home / "config.toml").expanduser()
    values: dict[str, Any] = {}
    values.update(_from_file(config_path))
    values.update(from_env)
    values.update({k: _coerce(k, v, "command line") for k, v in flags.items()})
    values["home"] = Path(values.get("home", home)).expanduser()
    config = AtlasConfig(**values)
    _validate(config)
    return config


def _validate(config: AtlasConfig) -> None:
    for port_field in ("neo4j_bolt_port", "neo4j_http_port", "api_port"):
        port = getattr(config, port_field)
        if not 0 < port < 65536:
            raise ConfigError(f"{port_field}={port} is not a TCP port; use 1..65535")
    if not 1 <= config.api_workers <= 64:
        raise ConfigError(f"api_workers={config.api_workers} is out of range; use 1..64")
    if config.neo4j_bolt_port == config.neo4j_http_port:
        raise ConfigError(f"neo4j_bolt_port and neo4j_http_port are both {config.neo4j_bolt_port};"
                          " give them different ports")


def replace(config: AtlasConfig, **changes: Any) -> AtlasConfig:
    """A copy of `config` with some fields changed (the original stays frozen)."""
    return dataclasses.replace(config, **changes)
