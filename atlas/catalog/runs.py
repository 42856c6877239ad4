"""Catalog operations of ingestion: registering runs, claiming shards, recording their outcome.

Shard claims are compare-and-set updates (`... WHERE state = 'pending'`, one row or none), so
any number of workers on any machines sharing the catalog take disjoint shards, on SQLite and
PostgreSQL alike. A claim whose worker stopped beating is taken back.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from atlas.catalog.models import (Corpus, IngestionJob, Model, Run, RunState, Shard, ShardState,
                                  TranscoderSet, utcnow)
from atlas.errors import InputError

STALE_AFTER = dt.timedelta(seconds=120)


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back without a zone; they were written in UTC."""
    return t.replace(tzinfo=dt.timezone.utc) if t is not None and t.tzinfo is None else t


def get_or_create(session: Session, cls: type, name: str, **values: Any) -> Any:
    row = session.scalar(select(cls).where(cls.name == name))
    if row is None:
        row = cls(name=name, **values)
        session.add(row)
        session.flush()
    return row


def get_run(session: Session, name: str) -> Run:
    run = session.scalar(select(Run).where(Run.name == name))
    if run is None:
        known = session.scalars(select(Run.name).order_by(Run.name)).all()
        raise InputError(f"no run named {name!r}; known runs are "
                         f"{', '.join(known) if known else 'none'} (see `atlas runs`)")
    return run


@dataclass(frozen=True)
class RunSpec:
    """What a new run is made of."""

    name: str
    model_name: str
    model_path: str
    transcoder_set_name: str
    transcoder_path: str
    transcoder_kind: str
    corpus_name: str
    corpus_path: str
    corpus_format: str
    corpus_sha256: str
    n_prompts: int
    shard_size: int
    settings: dict[str, Any]


def refuse_existing(session: Session, name: str) -> None:
    if session.scalar(select(Run.id).where(Run.name == name)) is not None:
        raise InputError(f"run {name!r} already exists; resume it with "
                         f"`atlas ingest --resume {name}` or choose another --run name")


def create_run(session: Session, spec: RunSpec) -> Run:
    """Record the run and its shards (contiguous prompt ranges of `shard_size`)."""
    refuse_existing(session, spec.name)
    model = get_or_create(session, Model, spec.model_name, path=spec.model_path)
    tset = get_or_create(session, TranscoderSet, spec.transcoder_set_name, model_id=model.id,
                         path=spec.transcoder_path, kind=spec.transcoder_kind)
    corpus = get_or_create(session, Corpus, spec.corpus_name, path=spec.corpus_path,
                           format=spec.corpus_format, sha256=spec.corpus_sha256,
                           n_prompts=spec.n_prompts)
    n_shards = max(1, -(-spec.n_prompts // spec.shard_size))
    run = Run(name=spec.name, model_id=model.id, transcoder_set_id=tset.id,
              corpus_id=corpus.id, settings=spec.settings, n_shards=n_shards)
    session.add(run)
    session.flush()
    for index in range(n_shards):
        first = index * spec.shard_size
        session.add(Shard(run_id=run.id, index=index, first_prompt=first,
                          n_prompts=min(spec.shard_size, spec.n_prompts - first)))
    session.flush()
    return run


def start_job(session: Session, run: Run, worker: str) -> IngestionJob:
    job = IngestionJob(run_id=run.id, worker=worker, host=socket.gethostname(), pid=os.getpid(),
                       heartbeat_at=utcnow())
    session.add(job)
    run.state = RunState.running
    session.flush()
    return job


def _job_alive(job: IngestionJob, now: dt.datetime) -> bool:
    if job.state != "running":
        return False
    if job.host == socket.gethostname() and job.pid is not None:
        try:
            os.kill(job.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
    beat = _aware(job.heartbeat_at)
    return beat is not None and now - beat < STALE_AFTER


def live_jobs(session: Session, run: Run, exclude: int | None = None) -> list[IngestionJob]:
    now = utcnow()
    jobs = session.scalars(select(IngestionJob).where(IngestionJob.run_id == run.id,
                                                      IngestionJob.state == "running")).all()
    return [j for j in jobs if j.id != exclude and _job_alive(j, now)]


def release_dead_claims(session: Session, run: Run) -> int:
    """Give shards claimed by workers that died (kill -9, lost machine) back to the pool."""
    now = utcnow()
    jobs = {j.worker: j for j in session.scalars(
        select(IngestionJob).where(IngestionJob.run_id == run.id)).all()}
    released = 0
    for shard in session.scalars(select(Shard).where(Shard.run_id == run.id,
                                                     Shard.state == ShardState.claimed)).all():
        job = jobs.get(shard.worker or "")
        if job is None or not _job_alive(job, now):
            shard.state, shard.worker, shard.claimed_at = ShardState.pending, None, None
            released += 1
    for job in jobs.values():
        if job.state == "running" and not _job_alive(job, now):
            job.state, job.finished_at, job.error = "dead", now, "worker stopped beating"
    session.flush()
    return released


def claim_shard(session: Session, run: Run, worker: str) -> Shard | None:
    """Atomically take the lowest pending shard of the run, or None when none is left."""
    while True:
        candidate = session.scalar(select(Shard.id).where(
            Shard.run_id == run.id, Shard.state.in_([ShardState.pending, ShardState.failed]))
            .order_by(Shard.index).limit(1))
        if candidate is None:
            return None
        taken = session.execute(
            update(Shard).where(Shard.id == candidate,
                                Shard.state.in_([ShardState.pending, ShardState.failed]))
            .values(state=ShardState.claimed, worker=worker, claimed_at=utcnow(), error=None))
        session.commit()
        if taken.rowcount == 1:
            return session.get(Shard, candidate)


def heartbeat(session: Session, job: IngestionJob) -> None:
    session.execute(update(IngestionJob).where(IngestionJob.id == job.id)
                    .values(heartbeat_at=utcnow()))
    session.commit()


def finish_job(session: Session, job: IngestionJob, error: str | None = None) -> None:
    job.state = "failed" if error else "done"
    job.finished_at, job.error = utcnow(), error
    run = session.get(Run, job.run_id)
    if run is not None:
        states = {s.state for s in run.shards}
        if states <= {ShardState.committed, ShardState.loaded}:
            run.state = RunState.done
        elif error:
            run.state = RunState.failed
    session.commit()


@dataclass(frozen=True)
class RunProgress:
    """A run's shard counts by state, for `atlas runs`."""

    name: str
    state: str
    n_shards: int
    by_state: dict[str, int]
    n_graphs: int
    n_tokens: int
    n_errors: int
    created_at: dt.datetime


def run_progress(session: Session) -> list[RunProgress]:
    out = []
    for run in session.scalars(select(Run).order_by(Run.created_at)).all():
        counts = dict(session.execute(select(Shard.state, func.count()).where(
            Shard.run_id == run.id).group_by(Shard.state)).all())
        totals = session.execute(select(func.coalesce(func.sum(Shard.n_graphs), 0),
                                        func.coalesce(func.sum(Shard.n_tokens), 0),
                                        func.coalesce(func.sum(Shard.n_errors), 0))
                                 .where(Shard.run_id == run.id)).one()
        out.append(RunProgress(run.name, run.state.value, run.n_shards or 0,
                               {k.value: v for k, v in counts.items()}, *totals,
                               created_at=run.created_at))
    return out
