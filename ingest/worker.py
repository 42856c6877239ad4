"""The worker loop: claim a shard, compute it, commit its files, record it, hand it to the stores.

Exactly-once holds because a shard's content depends only on its prompt range: a worker that
dies before its rename leaves a staging folder (removed later), one that dies after the rename
but before the catalog update leaves a complete shard that the next worker rewrites with the
same content, and the stores skip shards they already hold.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import pyarrow as pa

from atlas.catalog import db, runs
from atlas.catalog.models import Shard, ShardState, utcnow
from atlas.config import AtlasConfig
from ingest.prepare import PROMPTS_FILE, read_prompt_range
from ingest.shards import ShardTables, remove_orphans, run_dir, shard_dir, write_shard

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0


@dataclass(frozen=True)
class ComputeResult:
    """A computed shard and its counts."""

    tables: ShardTables
    n_tokens: int
    n_graphs: int
    n_errors: int
    """Prompts that failed (NaN or inf activations, attribution errors), skipped and counted."""


class ShardComputer(Protocol):
    def __call__(self, prompts: pa.Table, first_row: int,
                 on_prompt: Callable[[int, bool], None]) -> ComputeResult:
        """Compute the tables of `prompts` (rows first_row... of prompts.parquet); call
        on_prompt(n_tokens, failed) once per prompt."""


ShardSink = Callable[[Path, int], None]
"""Called with (shard folder, shard index) after a shard is committed; must be idempotent."""


@dataclass
class WorkerReport:
    shards: int = 0
    prompts: int = 0
    tokens: int = 0
    graphs: int = 0
    errors: int = 0
    seconds: float = 0.0
    sink_errors: list[str] = field(default_factory=list)


class _Heartbeat(threading.Thread):
    def __init__(self, factory, job) -> None:  # noqa: ANN001
        super().__init__(daemon=True)
        self._factory, self._job, self._stop = factory, job, threading.Event()

    def run(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                with self._factory() as session:
                    runs.heartbeat(session, self._job)
            except Exception as e:  # a missed beat is retried; the next claim check tells
                log.warning("heartbeat failed: %s", e)

    def stop(self) -> None:
        self._stop.set()


def run_worker(config: AtlasConfig, run_name: str, compute: ShardComputer,
               sinks: list[ShardSink], on_prompt: Callable[[int, bool], None] | None = None,
               worker: str | None = None) -> WorkerReport:
    """Work on `run_name` until no shard is left; returns what this worker did."""
    worker = worker or f"worker-{uuid.uuid4().hex[:8]}"
    engine = db.make_engine(config.catalog_url_resolved)
    factory = db.session_factory(engine)
    report = WorkerReport()
    started = time.perf_counter()
    with factory() as session:
        run = runs.get_run(session, run_name)
        runs.release_dead_claims(session, run)
        if not runs.live_jobs(session, run):
            remove_orphans(run_dir(config.home, run_name) / "shards")
        job = runs.start_job(session, run, worker)
        session.commit()
    beat = _Heartbeat(factory, job)
    beat.start()
    error: str | None = None
    # One shard is written and loaded while the next is computed; never more than one pending.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-writer")
    pending: Future | None = None
    try:
        prompts_path = run_dir(config.home, run_name) / PROMPTS_FILE
        while True:
            with factory() as session:
                run = runs.get_run(session, run_name)
                shard = runs.claim_shard(session, run, worker)
            if shard is None:
                break
            computed = _compute(factory, shard, prompts_path, compute, on_prompt)
            if pending is not None:
                pending.result()
            pending = writer.submit(_commit, config, factory, run_name, shard, computed, sinks,
                                    report)
        if pending is not None:
            pending.result()
    except BaseException as e:
        error = f"{type(e).__name__}: {e}"
        raise
    finally:
        writer.shutdown(wait=True)
        beat.stop()
        with factory() as session:
            runs.finish_job(session, session.merge(job), error)
        engine.dispose()
        report.seconds = time.perf_counter() - started
    return report


def _release(factory, shard: Shard, e: BaseException) -> None:  # noqa: ANN001
    with factory() as session:
        row = session.get(Shard, shard.id)
        row.state, row.worker, row.error = ShardState.pending, None, f"{type(e).__name__}: {e}"
        session.commit()


@dataclass(frozen=True)
class _Computed:
    prompts: int
    result: ComputeResult
    started: float


def _compute(factory, shard: Shard, prompts_path: Path, compute: ShardComputer,  # noqa: ANN001
             on_prompt: Callable[[int, bool], None] | None) -> _Computed:
    t0 = time.perf_counter()
    try:
        prompts = read_prompt_range(prompts_path, shard.first_prompt, shard.n_prompts)
        result = compute(prompts, shard.first_prompt, on_prompt or (lambda _n, _failed: None))
    except BaseException as e:
        _release(factory, shard, e)
        raise
    return _Computed(prompts.num_rows, result, t0)


def _commit(config: AtlasConfig, factory, run_name: str, shard: Shard,  # noqa: ANN001
            computed: _Computed, sinks: list[ShardSink], report: WorkerReport) -> None:
    result = computed.result
    path = shard_dir(config.home, run_name, shard.index)
    try:
        write_shard(path, result.tables)
    except BaseException as e:
        _release(factory, shard, e)
        raise
    with factory() as session:
        row = session.get(Shard, shard.id)
        row.state, row.path, row.committed_at = ShardState.committed, str(path), utcnow()
        row.n_tokens, row.n_graphs, row.n_errors = result.n_tokens, result.n_graphs, result.n_errors
        row.n_nodes, row.n_edges = result.tables.nodes.num_rows, result.tables.edges.num_rows
        row.seconds = time.perf_counter() - computed.started
        session.commit()
    report.shards += 1
    report.prompts += computed.prompts
    report.tokens += result.n_tokens
    report.graphs += result.n_graphs
    report.errors += result.n_errors
    for sink in sinks:
        try:
            sink(path, shard.index)
        except Exception as e:  # the shard is committed; `atlas load RUN` retries the sink
            log.warning("shard %d committed but not loaded: %s", shard.index, e)
            report.sink_errors.append(f"shard {shard.index}: {e}")
