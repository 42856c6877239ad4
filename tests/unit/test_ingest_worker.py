"""The worker loop in a real SQLite catalog: the next shard is computed while the previous one is
written (never more than one pending), and a failed write stops the worker and frees its shard."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from atlas.catalog import db, runs
from atlas.catalog.models import ShardState
from atlas.config import AtlasConfig
from atlas.errors import StoreError
from atlas.graph.shards import ACTIVATION_SCHEMA, EDGE_SCHEMA, NODE_SCHEMA, PROMPT_SCHEMA
from ingest.prepare import PROMPT_SCHEMA as CORPUS_SCHEMA
from ingest.prepare import PROMPTS_FILE
from ingest.shards import ShardTables, run_dir, shard_dir
from ingest.worker import ComputeResult, run_worker

N_PROMPTS, SHARD_SIZE = 8, 2


@pytest.fixture
def config(tmp_path: Path) -> AtlasConfig:
    config = AtlasConfig(home=tmp_path)
    engine = db.make_engine(config.catalog_url_resolved)
    db.upgrade(engine)
    with db.session_factory(engine)() as session:
        runs.create_run(session, runs.RunSpec(
            name="r", model_name="m", model_path="/m", transcoder_set_name="t",
            transcoder_path="/t", transcoder_kind="plt", corpus_name="c", corpus_path="/c",
            corpus_format="txt", corpus_sha256="0" * 64, n_prompts=N_PROMPTS,
            shard_size=SHARD_SIZE, settings={}))
        session.commit()
    engine.dispose()
    folder = run_dir(tmp_path, "r")
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"prompt_id": [f"p{i}" for i in range(N_PROMPTS)],
                             "text": ["x"] * N_PROMPTS, "metadata": ["{}"] * N_PROMPTS,
                             "n_tokens": [1] * N_PROMPTS, "truncated": [False] * N_PROMPTS},
                            schema=CORPUS_SCHEMA), folder / PROMPTS_FILE)
    return config


class Recorder:
    """A shard computer and sink that log events; the sink of the first shard waits (up to a
    limit) for the second shard's compute to start, which only overlap makes possible."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.second_started = threading.Event()
        self.overlapped = False
        self.lock = threading.Lock()

    def log(self, kind: str, index: int) -> None:
        with self.lock:
            self.events.append((kind, index))

    def __call__(self, prompts: pa.Table, first_row: int, on_prompt) -> ComputeResult:  # noqa: ANN001
        index = first_row // SHARD_SIZE
        self.log("compute", index)
        if index == 1:
            self.second_started.set()
        tables = ShardTables(PROMPT_SCHEMA.empty_table(), NODE_SCHEMA.empty_table(),
                             EDGE_SCHEMA.empty_table(), ACTIVATION_SCHEMA.empty_table())
        return ComputeResult(tables, n_tokens=prompts.num_rows, n_graphs=0, n_errors=0)

    def sink(self, path: Path, index: int) -> None:
        if index == 0:
            self.overlapped = self.second_started.wait(timeout=20)
        self.log("written", index)


def _states(config: AtlasConfig) -> list[ShardState]:
    engine = db.make_engine(config.catalog_url_resolved)
    with db.session_factory(engine)() as session:
        states = [s.state for s in runs.get_run(session, "r").shards]
    engine.dispose()
    return states


def test_next_shard_is_computed_while_the_previous_is_written(config) -> None:
    rec = Recorder()
    report = run_worker(config, "r", rec, [rec.sink])
    assert rec.overlapped
    assert report.shards == N_PROMPTS // SHARD_SIZE and report.tokens == N_PROMPTS
    assert _states(config) == [ShardState.committed] * (N_PROMPTS // SHARD_SIZE)
    order = rec.events
    for i in range(N_PROMPTS // SHARD_SIZE - 2):  # at most one shard waits to be written
        assert order.index(("written", i)) < order.index(("compute", i + 2))


def test_a_failed_write_stops_the_worker_and_frees_the_shard(config) -> None:
    blocker = shard_dir(config.home, "r", 1)
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where shard 1's folder goes")  # rmtree of it fails
    rec = Recorder()
    rec.second_started.set()
    with pytest.raises(StoreError, match="cannot write shard"):
        run_worker(config, "r", rec, [rec.sink])
    states = _states(config)
    assert states[0] == ShardState.committed and states[1] == ShardState.pending
    assert not [p for p in blocker.parent.iterdir() if p.name.startswith(".tmp-")]
