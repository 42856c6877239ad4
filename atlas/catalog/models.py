"""SQLAlchemy models of the catalog: models, transcoder sets, corpora, runs, jobs and shards."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, DateTime, Enum, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class ShardState(str, enum.Enum):
    pending = "pending"
    claimed = "claimed"
    committed = "committed"
    loaded = "loaded"
    failed = "failed"


class RunState(str, enum.Enum):
    created = "created"
    running = "running"
    done = "done"
    failed = "failed"


class Model(Base):
    """A causal LM known to the atlas, by local path."""

    __tablename__ = "models"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(Text)
    architecture: Mapped[str | None] = mapped_column(String(100))
    n_layers: Mapped[int | None] = mapped_column(Integer)
    d_model: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TranscoderSet(Base):
    """A set of transcoders (PLT or CLT) fitted to one model."""

    __tablename__ = "transcoder_sets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(10))  # "plt" or "clt"
    d_transcoder: Mapped[int | None] = mapped_column(Integer)
    activation: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model: Mapped[Model] = relationship()


class Corpus(Base):
    """A prompt corpus file, identified by its content hash."""

    __tablename__ = "corpora"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str | None] = mapped_column(String(64))
    n_prompts: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Run(Base):
    """One ingestion of a corpus through a model and transcoder set with fixed settings."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    transcoder_set_id: Mapped[int] = mapped_column(ForeignKey("transcoder_sets.id"))
    corpus_id: Mapped[int] = mapped_column(ForeignKey("corpora.id"))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[RunState] = mapped_column(Enum(RunState, native_enum=False, length=20),
                                            default=RunState.created)
    n_shards: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                    onupdate=utcnow)
    model: Mapped[Model] = relationship()
    transcoder_set: Mapped[TranscoderSet] = relationship()
    corpus: Mapped[Corpus] = relationship()
    shards: Mapped[list["Shard"]] = relationship(back_populates="run", order_by="Shard.index")


class IngestionJob(Base):
    """One worker process working on a run."""

    __tablename__ = "ingestion_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    worker: Mapped[str] = mapped_column(String(200))
    host: Mapped[str | None] = mapped_column(String(200))
    pid: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)


class Shard(Base):
    """A contiguous slice of a run's corpus and the state of its outputs."""

    __tablename__ = "shards"
    __table_args__ = (UniqueConstraint("run_id", "index", name="uq_shard_run_index"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    index: Mapped[int] = mapped_column(Integer)
    first_prompt: Mapped[int] = mapped_column(Integer)
    n_prompts: Mapped[int] = mapped_column(Integer)
    state: Mapped[ShardState] = mapped_column(Enum(ShardState, native_enum=False, length=20),
                                              default=ShardState.pending)
    worker: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    committed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    path: Mapped[str | None] = mapped_column(Text)
    n_tokens: Mapped[int | None] = mapped_column(Integer)
    n_graphs: Mapped[int | None] = mapped_column(Integer)
    n_nodes: Mapped[int | None] = mapped_column(Integer)
    n_edges: Mapped[int | None] = mapped_column(Integer)
    n_skipped: Mapped[int | None] = mapped_column(Integer)
    n_errors: Mapped[int | None] = mapped_column(Integer)
    seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    run: Mapped[Run] = relationship(back_populates="shards")
