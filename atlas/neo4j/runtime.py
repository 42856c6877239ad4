"""Finding Java and resolving the Neo4j Community jars from Maven Central into the atlas home."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from atlas.errors import Neo4jError
from atlas.paths import NEO4J_POM

log = logging.getLogger(__name__)

MIN_JAVA = 17
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
_ENTRY_JAR = "neo4j-{version}.jar"


def find_java() -> Path:
    """The `java` executable (JAVA_HOME first, then PATH), checked to be Java 17 or newer."""
    import os

    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path))
    java = next((c for c in candidates if c.exists()), None)
    if java is None:
        raise Neo4jError("Java not found: Neo4j needs Java 17; install it (apt-get install "
                         "openjdk-17-jre-headless) or set JAVA_HOME")
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise Neo4jError(f"Java {major} at {java} is too old: Neo4j 5.26 needs Java {MIN_JAVA}+; "
                         "install openjdk-17 or point JAVA_HOME at it")
    return java


def java_major_version(java: Path) -> int:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True,
                             timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Neo4jError(f"cannot run {java} -version: {e}; check the Java install") from e
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise Neo4jError(f"cannot read the Java version from {java}: {out.strip()[:80]!r}")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major


def resolve_runtime(runtime_root: Path, version: str) -> Path:
    """The folder of Neo4j `version` jars, resolved with Maven on first use and cached.

    Jars are copied into a temporary folder and renamed into place, so an interrupted download
    never leaves a half runtime behind.
    """
    lib = runtime_root / version / "lib"
    if (lib / _ENTRY_JAR.format(version=version)).exists():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jError("Maven not found: it resolves Neo4j from Maven Central; install it "
                         "(apt-get install maven) or set neo4j_uri to use an existing Neo4j")
    lib.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="lib.", dir=lib.parent))
    log.info("resolving Neo4j %s from Maven Central into %s", version, lib)
    cmd = [mvn, "-B", "-q", "-f", str(NEO4J_POM), "dependency:copy-dependencies",
           f"-Dneo4j.version={version}", f"-DoutputDirectory={staging}",
           "-DincludeScope=runtime"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise Neo4jError("Maven took over 30 minutes resolving Neo4j; check the network to "
                         "Maven Central") from e
    if done.returncode != 0 or not (staging / _ENTRY_JAR.format(version=version)).exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise Neo4jError(f"cannot resolve Neo4j {version} from Maven Central "
                         f"({_maven_reason(done.stdout + done.stderr)}); check the network or "
                         "the neo4j_version setting, or set neo4j_uri to use an existing Neo4j")
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    return lib


def _maven_reason(output: str) -> str:
    for line in output.splitlines():
        if "[ERROR]" in line and line.strip() != "[ERROR]":
            return line.replace("[ERROR]", "").strip()[:160]
    return "maven failed"


def java_command(java: Path, lib: Path, home: Path, heap: str) -> list[str]:
    """The command line that runs the Neo4j server process on `home` (conf/, data/, logs/)."""
    return [
        str(java), f"-Xms{heap}", f"-Xmx{heap}",
        "-XX:+UseG1GC", "-XX:-OmitStackTraceInFastThrow", "-XX:+DisableExplicitGC",
        "-XX:+ExitOnOutOfMemoryError", "-Djdk.nio.maxCachedBufferSize=1024",
        "-Dio.netty.tryReflectionSetAccessible=true", "-Dfile.encoding=UTF-8",
        "-Dlog4j2.disable.jmx=true",
        "--add-opens=java.base/java.nio=ALL-UNNAMED",
        "--add-opens=java.base/java.io=ALL-UNNAMED",
        "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
        "--add-opens=java.base/java.lang=ALL-UNNAMED",
        "-cp", f"{lib}/*", ENTRY_POINT,
        f"--home-dir={home}", f"--config-dir={home / 'conf'}",
    ]
