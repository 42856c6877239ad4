"""Shard bookkeeping in a real SQLite catalog: disjoint claims, dead workers, atomic shard files."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from atlas.catalog import db, runs
from atlas.catalog.models import IngestionJob, Shard, ShardState
from atlas.errors import InputError, StoreError
from ingest.shards import ShardTables, is_complete, read_table, remove_orphans, write_shard


def _spec(name: str = "r1", n_prompts: int = 10, shard_size: int = 3) -> runs.RunSpec:
    return runs.RunSpec(name=name, model_name="m", model_path="/m", transcoder_set_name="t",
                        transcoder_path="/t", transcoder_kind="plt", corpus_name="c",
                        corpus_path="/c", corpus_format="txt", corpus_sha256="0" * 64,
                        n_prompts=n_prompts, shard_size=shard_size, settings={"x": 1})


@pytest.fixture
def factory(tmp_path: Path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    db.upgrade(engine)
    yield db.session_factory(engine)
    engine.dispose()


def test_run_is_cut_into_contiguous_shards(factory) -> None:
    with factory() as session:
        run = runs.create_run(session, _spec())
        session.commit()
        ranges = [(s.first_prompt, s.n_prompts) for s in run.shards]
    assert ranges == [(0, 3), (3, 3), (6, 3), (9, 1)]
    with factory() as session, pytest.raises(InputError, match="already exists"):
        runs.create_run(session, _spec())


def test_concurrent_claims_are_disjoint(factory) -> None:
    with factory() as session:
        runs.create_run(session, _spec(n_prompts=40, shard_size=1))
        session.commit()
    taken: dict[str, list[int]] = {}

    def work(name: str) -> None:
        got = []
        with factory() as session:
            run = runs.get_run(session, "r1")
            while (shard := runs.claim_shard(session, run, name)) is not None:
                got.append(shard.index)
        taken[name] = got

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = sorted(i for got in taken.values() for i in got)
    assert every == list(range(40))


def test_claims_of_dead_workers_are_released(factory) -> None:
    with factory() as session:
        run = runs.create_run(session, _spec())
        job = runs.start_job(session, run, "dead-worker")
        job.pid = 2 ** 22 + 12345          # no such process on this host
        session.commit()
        shard = runs.claim_shard(session, run, "dead-worker")
        assert runs.live_jobs(session, run) == []
        assert runs.release_dead_claims(session, run) == 1
        session.commit()
        assert session.get(Shard, shard.id).state == ShardState.pending
        assert session.get(IngestionJob, job.id).state == "dead"


def test_live_worker_keeps_its_claim(factory) -> None:
    with factory() as session:
        run = runs.create_run(session, _spec())
        runs.start_job(session, run, "me")     # this process: alive, fresh heartbeat
        session.commit()
        runs.claim_shard(session, run, "me")
        assert len(runs.live_jobs(session, run)) == 1
        assert runs.release_dead_claims(session, run) == 0


def _tables(n: int) -> ShardTables:
    t = pa.table({"x": list(range(n))})
    return ShardTables(prompts=t, nodes=t, edges=t, activations=t)


def test_shard_written_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "shards" / "00000"
    write_shard(path, _tables(3))
    assert is_complete(path) and read_table(path, "edges").num_rows == 3
    write_shard(path, _tables(5))          # a rewrite replaces the whole shard
    assert read_table(path, "nodes").num_rows == 5


    bad = ShardTables(prompts=pa.table({"x": [1]}), nodes=None, edges=None, activations=None)  # type: ignore[arg-type]
    with pytest.raises(Exception):
        write_shard(tmp_path / "shards" / "00001", bad)
    assert not (tmp_path / "shards" / "00001").exists()
    assert [p.name for p in (tmp_path / "shards").iterdir()] == ["00000"]
    (tmp_path / "shards" / ".tmp-00002-dead").mkdir()
    assert remove_orphans(tmp_path / "shards") == 1


def test_incomplete_shard_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    with pytest.raises(StoreError, match="incomplete"):
        read_table(tmp_path / "s", "nodes")
