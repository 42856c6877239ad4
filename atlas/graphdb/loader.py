"""Loading shard Parquet files into Neo4j: batched, idempotent, resumable, safe with concurrent loaders.

Unit of atomicity: a batch of whole prompts (about `batch_edges` edges). One write transaction
claims the batch's prompts (MERGE on the unique uid), then, for the prompts it created, writes
features, tokens, graph nodes, edges and the aggregate increments. A prompt is therefore either
fully loaded, aggregates included, or absent: re-running a load skips loaded prompts (idempotent,
resumable), and a second loader racing on the same prompt waits on the uid lock and then skips
it. Deadlocks between loaders that MERGE the same features are transient errors that the
driver's `execute_write` retries. A completely loaded shard is recorded as (:LoadedShard).
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from neo4j.exceptions import DriverError, Neo4jError as DriverNeo4jError

from atlas.errors import InputError, Neo4jError
from atlas.graphdb.cypher import read_cypher
from atlas.graphdb.shard_rows import ShardTables, batch_rows, plan_batches, prompt_rows, read_shard

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
"""Called with the number of edges just handled (loaded or skipped)."""


@dataclass
class LoadStats:
    """What a load did."""

    prompts_loaded: int = 0
    """Prompts written by this load."""
    prompts_skipped: int = 0
    """Prompts already present (earlier or concurrent load)."""
    nodes: int = 0
    """Graph nodes written."""
    edges: int = 0
    """Per-prompt edges written."""
    aggregates: int = 0
    """Aggregate edge increments applied."""
    shards_skipped: list[str] = field(default_factory=list)
    """Shards skipped because already recorded as loaded."""
    seconds: float = 0.0
    """Wall time."""

    def add(self, other: "LoadStats") -> None:
        for name in ("prompts_loaded", "prompts_skipped", "nodes", "edges", "aggregates",
                     "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.shards_skipped.extend(other.shards_skipped)


def _write_batch(tx, tables: ShardTables, pids: list[str], token: str, stats: LoadStats) -> None:
    """Transaction function for one batch; re-runnable (the driver retries it on deadlock)."""
    prompts = tables.prompts[tables.prompts["prompt_id"].isin(pids)]
    claimed = tx.run(read_cypher("load/prompts.cypher"),
                     rows=prompt_rows(prompts, tables.shard), token=token).data()
    fresh = [r["uid"] for r in claimed if r["fresh"]]
    stats.prompts_skipped = len(claimed) - len(fresh)
    stats.prompts_loaded = len(fresh)
    stats.nodes = stats.edges = stats.aggregates = 0
    if not fresh:
        return
    rows = batch_rows(tables, fresh)
    tx.run(read_cypher("load/features.cypher"), rows=rows.features).consume()
    if rows.tokens:
        tx.run(read_cypher("load/tokens.cypher"), rows=rows.tokens).consume()
    tx.run(read_cypher("load/graph.cypher"), rows=rows.graphs).consume()
    if rows.agg:
        tx.run(read_cypher("load/agg.cypher"), rows=rows.agg).consume()
    if rows.agg_out:
        tx.run(read_cypher("load/agg_out.cypher"), rows=rows.agg_out).consume()
    stats.nodes, stats.edges = rows.n_nodes, rows.n_edges
    stats.aggregates = len(rows.agg) + len(rows.agg_out)


def _shard_key(run: str, shard: str) -> str:
    return f"{run}/{shard}"


def load_shard(driver, shard_dir: Path, database: str = "neo4j", progress: Progress | None = None,
               batch_edges: int = 10_000) -> LoadStats:
    """Load one shard folder (docs/shard-format.md); returns what was written.

    Idempotent: a shard recorded as loaded is skipped; otherwise each prompt already present is
    skipped. Safe to run concurrently with other loaders, on the same or other shards.
    """
    if batch_edges < 1:
        raise InputError(f"batch_edges={batch_edges} must be >= 1; use 5000-20000")
    start = time.perf_counter()
    tables = read_shard(Path(shard_dir))
    key = _shard_key(tables.run, tables.shard)
    total = LoadStats()
    try:
        loaded = driver.execute_query(read_cypher("load/shard_loaded.cypher"), key=key,
                                      database_=database).records[0]["loaded"]
        if loaded:
            total.shards_skipped.append(key)
            total.prompts_skipped = len(tables.prompts)
            if progress:
                progress(len(tables.edges))
            return total
        token = uuid.uuid4().hex
        edge_counts = tables.edges["prompt_id"].value_counts()
        with driver.session(database=database) as session:
            for pids in plan_batches(tables, batch_edges):
                stats = LoadStats()
                session.execute_write(_write_batch, tables, pids, token, stats)
                total.add(stats)
                if progress:
                    progress(int(edge_counts.reindex(pids).fillna(0).sum()))
        driver.execute_query(read_cypher("load/shard_done.cypher"), key=key, run=tables.run,
                             shard=tables.shard, prompts=len(tables.prompts),
                             edges=len(tables.edges), database_=database)
    except (DriverError, DriverNeo4jError) as e:
        raise Neo4jError(f"loading shard {shard_dir} failed: {e}; fix the cause and re-run "
                         "(the load resumes where it stopped)") from e
    total.seconds = time.perf_counter() - start
    log.info("shard %s: %d prompts, %d edges in %.1f s", key, total.prompts_loaded, total.edges,
             total.seconds)
    return total


def shard_dirs(run_dir: Path) -> list[Path]:
    """Complete shard folders of a run (those with _SUCCESS), in name order."""
    shards = Path(run_dir) / "shards"
    if not shards.is_dir():
        raise InputError(f"run folder {run_dir} has no shards/ folder; check the run name")
    return sorted(p for p in shards.iterdir() if p.is_dir() and (p / "_SUCCESS").exists())


def count_edges(shards: list[Path]) -> int:
    """Total rows of the shards' edges.parquet files (from Parquet metadata, cheap)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p / "edges.parquet").metadata.num_rows for p in shards)


def load_run(driver, run_dir: Path, database: str = "neo4j", progress: Progress | None = None,
             batch_edges: int = 10_000, workers: int = 1) -> LoadStats:
    """Load every complete shard of a run folder (<home>/runs/<run>); see `load_shard`.

    workers > 1 loads that many shards at once (threads sharing the driver); 2 suits a 2-core
    machine: one loader prepares rows while the server writes the other's batch.
    """
    if workers < 1:
        raise InputError(f"workers={workers} must be >= 1")
    total = LoadStats()
    start = time.perf_counter()
    shards = shard_dirs(run_dir)

    def one(shard: Path) -> LoadStats:
        return load_shard(driver, shard, database=database, progress=progress,
                          batch_edges=batch_edges)

    if workers == 1:
        results = [one(shard) for shard in shards]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, shards))
    for stats in results:
        total.add(stats)
    total.seconds = time.perf_counter() - start
    return total
