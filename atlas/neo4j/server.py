"""Lifecycle of the managed Neo4j server: config file, pid file, start, stop, status, logs.

The server lives under `<home>/neo4j`: `runtime/<version>/lib` (jars), `conf/neo4j.conf`
(rewritten at each start from the atlas config), `data/` (kept across restarts), `logs/`,
`neo4j.pid` and `password` (mode 0600).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from atlas.config import AtlasConfig
from atlas.errors import Neo4jError
from atlas.neo4j import client, runtime

log = logging.getLogger(__name__)

MIN_FREE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class ServerStatus:
    """What `atlas neo4j status` reports."""

    running: bool
    """Bolt answered with the stored credentials."""
    address: str
    """Bolt URI."""
    pid: int | None
    """Process id of the managed server (None for an external Neo4j)."""
    version: str | None
    """Kernel version from `CALL dbms.components()`."""
    edition: str | None
    """community or enterprise."""
    store_bytes: int | None
    """Size of the data folder of the managed server."""


def _pid_file(config: AtlasConfig) -> Path:
    return config.neo4j_home / "neo4j.pid"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        text = cmdline.read_bytes().decode(errors="replace")
        return runtime.ENTRY_POINT in text and "<defunct>" not in text
    return True


def running_pid(config: AtlasConfig) -> int | None:
    """The pid of our live server, or None; a stale pid file is removed."""
    path = _pid_file(config)
    if not path.exists():
        return None
    try:
        pid = int(path.read_text().strip())
    except ValueError:
        pid = -1
    if pid > 0 and _process_alive(pid):
        return pid
    log.info("removing stale pid file %s", path)
    path.unlink(missing_ok=True)
    return None


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def write_conf(config: AtlasConfig) -> Path:
    home = config.neo4j_home
    host = config.neo4j_host
    lines = [
        f"server.default_listen_address={host}",
        f"server.bolt.listen_address={host}:{config.neo4j_bolt_port}",
        f"server.http.listen_address={host}:{config.neo4j_http_port}",
        "server.https.enabled=false",
        f"server.memory.pagecache.size={config.neo4j_pagecache}",
        "dbms.memory.transaction.total.max=2g",
        "dbms.security.auth_enabled=true",
        f"server.directories.data={home / 'data'}",
        f"server.directories.logs={home / 'logs'}",
        f"server.directories.run={home / 'run'}",
        f"server.directories.import={home / 'import'}",
        "db.tx_log.rotation.retention_policy=1 days",
        "db.tx_log.preallocate=false",
        "server.jvm.additional=-XX:+ExitOnOutOfMemoryError",
    ]
    conf = home / "conf" / "neo4j.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    tmp = conf.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, conf)
    return conf


def _preflight(config: AtlasConfig) -> None:
    home = config.neo4j_home
    home.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(home).free < MIN_FREE_BYTES:
        raise Neo4jError(f"disk full: less than 512 MiB free under {home}; free space or move "
                         "the atlas home (--home / ATLAS_HOME)")
    for name in ("neo4j_bolt_port", "neo4j_http_port"):
        port = getattr(config, name)
        if not _port_free(config.neo4j_host, port):
            raise Neo4jError(f"port {port} on {config.neo4j_host} is taken by another process; "
                             f"stop it or choose another port ({name} / ATLAS_{name.upper()})")


def start(config: AtlasConfig) -> ServerStatus:
    """Start the managed server in the background; return once Bolt answers.

    A second call while it runs is a no-op. A stale pid file (after `kill -9`) is cleared and
    the server restarts on its existing data.
    """
    if config.uses_external_neo4j:
        raise Neo4jError(f"neo4j_uri is set ({config.neo4j_uri}): the atlas uses that Neo4j and "
                         "does not start its own; unset neo4j_uri to use the managed server")
    if running_pid(config) is not None:
        return status(config)
    java = runtime.find_java()
    _preflight(config)
    lib = runtime.resolve_runtime(config.neo4j_runtime_resolved, config.neo4j_version)
    write_conf(config)
    pw_path = client.password_file(config)
    if not pw_path.exists():
        client.write_password(pw_path, secrets.token_urlsafe(18))
    logs = config.neo4j_home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    console = logs / "console.log"
    cmd = runtime.java_command(java, lib, config.neo4j_home, config.neo4j_heap)
    with open(console, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=config.neo4j_home)
    _pid_file(config).write_text(f"{proc.pid}\n")
    try:
        _wait_for_bolt(config, proc)
    except BaseException:
        _terminate(proc.pid, grace=10)
        _pid_file(config).unlink(missing_ok=True)
        raise
    return status(config)


def _wait_for_bolt(config: AtlasConfig, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + config.neo4j_start_timeout
    uri = client.managed_uri(config)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Neo4jError(f"Neo4j exited with code {proc.returncode} during start: "
                             f"{last_error_line(config)}; see `atlas neo4j logs`")
        if not _port_free(config.neo4j_host, config.neo4j_bolt_port):
            try:
                _ensure_password(config, uri)
                return
            except Neo4jError as e:
                if "rejected" in str(e):
                    raise
        time.sleep(1.0)
    raise Neo4jError(f"Neo4j did not answer on {uri} within {config.neo4j_start_timeout:.0f} s: "
                     f"{last_error_line(config)}; see `atlas neo4j logs` or raise "
                     "neo4j_start_timeout")


def _ensure_password(config: AtlasConfig, uri: str) -> None:
    """Log in with the stored password; on first start, replace Neo4j's initial password."""
    from neo4j import exceptions as ne

    password = client.password_file(config).read_text().strip()
    try:
        client.open_driver(uri, config.neo4j_user, password, timeout=5).close()
        return
    except Neo4jError as e:
        if "rejected" not in str(e):
            raise
    try:
        driver = client.open_driver(uri, config.neo4j_user, client.DEFAULT_PASSWORD, timeout=5)
    except Neo4jError as e:
        raise Neo4jError(f"Neo4j at {uri} rejects the password in {client.password_file(config)}"
                         "; restore that file or delete <home>/neo4j/data to start afresh") from e
    try:
        with driver.session(database="system") as session:
            session.run("ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
                        old=client.DEFAULT_PASSWORD, new=password).consume()
    except ne.Neo4jError as e:
        raise Neo4jError(f"cannot set the initial Neo4j password: {e.message}") from e
    finally:
        driver.close()


def _terminate(pid: int, grace: float) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _process_alive(pid):
            _reap(pid)
            return
        time.sleep(0.5)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(config: AtlasConfig, grace: float = 60.0) -> bool:
    """Stop the managed server; False when it was not running."""
    pid = running_pid(config)
    if pid is None:
        return False
    _terminate(pid, grace)
    _pid_file(config).unlink(missing_ok=True)
    return True


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def status(config: AtlasConfig) -> ServerStatus:
    """Version, address, pid and store size; `running` is False when Bolt does not answer."""
    from neo4j import exceptions as ne

    external = config.uses_external_neo4j
    pid = None if external else running_pid(config)
    address = config.neo4j_uri if external else client.managed_uri(config)
    store = None if external else _dir_bytes(config.neo4j_home / "data")
    if not external and pid is None:
        return ServerStatus(False, address, None, None, None, store)
    try:
        driver = client.connect(config)
    except Neo4jError:
        return ServerStatus(False, address, pid, None, None, store)
    try:
        records, _, _ = driver.execute_query(
            "CALL dbms.components() YIELD name, versions, edition "
            "RETURN versions[0] AS version, edition")
    except ne.Neo4jError as e:
        raise Neo4jError(f"Neo4j at {address} answered an error: {e.message}") from e
    finally:
        driver.close()
    return ServerStatus(True, address, pid, records[0]["version"], records[0]["edition"], store)


def log_files(config: AtlasConfig) -> list[Path]:
    logs = config.neo4j_home / "logs"
    return [p for p in (logs / "neo4j.log", logs / "console.log", logs / "debug.log")
            if p.exists()]


def tail(path: Path, lines: int) -> list[str]:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 256 * 1024))
        return f.read().decode(errors="replace").splitlines()[-lines:]


def last_error_line(config: AtlasConfig) -> str:
    """The most telling line of the server's logs, for one-line error messages."""
    for path in log_files(config):
        for line in reversed(tail(path, 200)):
            if any(k in line for k in ("ERROR", "Exception", "Caused by")):
                return line.strip()[:200]
    return "no error in the logs"
