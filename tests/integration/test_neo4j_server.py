"""The managed Neo4j: real server process, restarts, kill -9 recovery, and one-line errors."""

from __future__ import annotations

import os
import signal
import socket
import stat
import time
from pathlib import Path

import pytest

from atlas.config import replace
from atlas.errors import Neo4jError
from atlas.neo4j import client, runtime, server
from tests.conftest import make_test_config


def test_status_reports_version_address_pid_and_store(atlas_config) -> None:
    status = server.status(atlas_config)
    assert status.running
    assert status.version.startswith("5.26.") and status.edition == "community"
    assert status.address == f"bolt://127.0.0.1:{atlas_config.neo4j_bolt_port}"
    assert status.pid == server.running_pid(atlas_config)
    assert status.store_bytes > 0


def test_password_is_generated_and_private(atlas_config) -> None:
    path = client.password_file(atlas_config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 16


def test_second_start_is_a_noop(atlas_config) -> None:
    pid = server.running_pid(atlas_config)
    assert server.start(atlas_config).pid == pid


def test_kill_9_then_start_keeps_data(tmp_path: Path) -> None:
    config = make_test_config(tmp_path)
    server.start(config)
    try:
        with client.session_driver(config) as driver:
            driver.execute_query("CREATE (:Probe {value: 42})")
        os.kill(server.running_pid(config), signal.SIGKILL)
        time.sleep(1)
        assert server.running_pid(config) is None      # stale pid file detected and removed
        assert server.start(config).running
        with client.session_driver(config) as driver:
            records, _, _ = driver.execute_query("MATCH (p:Probe) RETURN p.value AS v")
        assert [r["v"] for r in records] == [42]
    finally:
        server.stop(config)
    assert not server.status(config).running


def test_port_taken_is_refused_before_starting(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        config = make_test_config(tmp_path, neo4j_bolt_port=port)
        with pytest.raises(Neo4jError, match=f"port {port} on 127.0.0.1 is taken"):
            server.start(config)
    assert server.running_pid(config) is None


def test_wrong_password_and_unreachable_server_are_one_line_errors(atlas_config) -> None:
    with pytest.raises(Neo4jError, match="rejected the credentials"):
        client.open_driver(client.managed_uri(atlas_config), "neo4j", "wrong-password")
    closed = make_test_config(atlas_config.home)
    with pytest.raises(Neo4jError, match="unreachable"):
        client.open_driver(client.managed_uri(closed), "neo4j", "x", timeout=2)


def test_external_uri_never_starts_a_server(tmp_path: Path) -> None:
    config = make_test_config(tmp_path, neo4j_uri="bolt://127.0.0.1:1", neo4j_password="x")
    with pytest.raises(Neo4jError, match="neo4j_uri is set"):
        server.start(config)
    assert not (tmp_path / "neo4j" / "neo4j.pid").exists()


def test_old_java_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_home = tmp_path / "jdk"
    (fake_home / "bin").mkdir(parents=True)
    java = fake_home / "bin" / "java"
    java.write_text('#!/bin/sh\necho \'openjdk version "11.0.2" 2019-01-15\' >&2\n')
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(fake_home))
    with pytest.raises(Neo4jError, match="Java 11 .* too old"):
        runtime.find_java()


def test_unresolvable_version_is_a_maven_error(tmp_path: Path) -> None:
    with pytest.raises(Neo4jError, match="cannot resolve Neo4j 5.26.999 from Maven Central"):
        runtime.resolve_runtime(tmp_path, "5.26.999")
    assert not (tmp_path / "5.26.999" / "lib").exists()
    assert list((tmp_path / "5.26.999").glob("lib.*")) == []


def test_full_disk_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10, 10, 1024))
    with pytest.raises(Neo4jError, match="disk full"):
        server.start(make_test_config(tmp_path))
