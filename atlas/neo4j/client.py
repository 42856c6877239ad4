"""Connecting to Neo4j: the managed server or any configured URI, with driver errors wrapped."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from atlas.config import AtlasConfig
from atlas.errors import Neo4jError

if TYPE_CHECKING:
    from neo4j import Driver

DEFAULT_PASSWORD = "neo4j"  # Neo4j's own initial password, changed on the managed server's first start


def password_file(config: AtlasConfig) -> Path:
    return config.neo4j_home / "password"


def managed_uri(config: AtlasConfig) -> str:
    return f"bolt://{config.neo4j_host}:{config.neo4j_bolt_port}"


def connection_target(config: AtlasConfig) -> tuple[str, str, str]:
    """(uri, user, password) of the Neo4j this config points at."""
    if config.uses_external_neo4j:
        if config.neo4j_password is None:
            raise Neo4jError(f"neo4j_uri is {config.neo4j_uri} but no password is set; set "
                             "NEO4J_PASSWORD or neo4j_password in the config file")
        return config.neo4j_uri, config.neo4j_user, config.neo4j_password  # type: ignore[return-value]
    if config.neo4j_password is not None:
        return managed_uri(config), config.neo4j_user, config.neo4j_password
    path = password_file(config)
    if not path.exists():
        raise Neo4jError(f"no Neo4j password in {path}: the managed server was never started; "
                         "run `atlas neo4j start` (or set neo4j_uri for an existing Neo4j)")
    return managed_uri(config), config.neo4j_user, path.read_text().strip()


def write_password(path: Path, password: str) -> None:
    """Store a secret readable by the owner only (mode 0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    os.replace(tmp, path)


def open_driver(uri: str, user: str, password: str, *, timeout: float = 10.0) -> "Driver":
    """A driver that has proved it can reach and log in to `uri`."""
    import neo4j
    from neo4j import exceptions as ne

    driver = neo4j.GraphDatabase.driver(uri, auth=(user, password), connection_timeout=timeout,
                                        max_connection_lifetime=3600)
    try:
        driver.verify_connectivity()
    except ne.AuthError as e:
        driver.close()
        raise Neo4jError(f"Neo4j at {uri} rejected the credentials of user {user!r}; set the "
                         "right NEO4J_PASSWORD (managed server: see <home>/neo4j/password)") from e
    except (ne.ServiceUnavailable, ne.DriverError, OSError) as e:
        driver.close()
        raise Neo4jError(f"Neo4j is unreachable at {uri} ({type(e).__name__}); start it with "
                         "`atlas neo4j start` or check neo4j_uri") from e
    return driver


def connect(config: AtlasConfig) -> "Driver":
    """A verified driver for the configured Neo4j (managed or external)."""
    return open_driver(*connection_target(config))


@contextlib.contextmanager
def session_driver(config: AtlasConfig) -> Iterator["Driver"]:
    driver = connect(config)
    try:
        yield driver
    finally:
        driver.close()
