"""Shard folders on disk (docs/shard-format.md): written aside, then renamed into place whole."""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from atlas.errors import StoreError

TABLES = ("prompts", "nodes", "edges", "activations")
SUCCESS = "_SUCCESS"


def run_dir(home: Path, run: str) -> Path:
    return home / "runs" / run


def shard_dir(home: Path, run: str, index: int) -> Path:
    return run_dir(home, run) / "shards" / f"{index:05d}"


def is_complete(path: Path) -> bool:
    return (path / SUCCESS).exists()


@dataclass(frozen=True)
class ShardTables:
    """The four tables of one shard, as Arrow tables with the columns of the shard format."""

    prompts: pa.Table
    nodes: pa.Table
    edges: pa.Table
    activations: pa.Table


def write_shard(path: Path, tables: ShardTables) -> None:
    """Write the shard beside `path` and rename it into place; readers see all of it or none.

    A complete shard already at `path` (a worker died after its rename, before the catalog
    recorded it) is replaced: the content of a shard is a function of its prompt range.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".tmp-{path.name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        for name in TABLES:
            pq.write_table(getattr(tables, name), staging / f"{name}.parquet",
                           compression="zstd")
        (staging / SUCCESS).touch()
        _fsync_dir(staging)
        if path.exists():
            shutil.rmtree(path)
        os.rename(staging, path)
        _fsync_dir(path.parent)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        reason = "disk full" if e.errno == 28 else (e.strerror or str(e))
        raise StoreError(f"cannot write shard {path}: {reason}; free space and resume the run "
                         "(nothing half-written was kept)") from e
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_orphans(shards_root: Path) -> int:
    """Delete staging folders left by workers that died mid-write."""
    if not shards_root.exists():
        return 0
    orphans = [p for p in shards_root.iterdir() if p.name.startswith(".tmp-")]
    for p in orphans:
        shutil.rmtree(p, ignore_errors=True)
    return len(orphans)


def read_table(path: Path, name: str) -> pa.Table:
    if not is_complete(path):
        raise StoreError(f"shard {path} is incomplete (no {SUCCESS}); resume its run")
    return pq.read_table(path / f"{name}.parquet")
