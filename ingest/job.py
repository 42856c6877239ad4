"""Creating and resuming ingestion runs: validation, corpus freezing, catalog records, workers."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from atlas.catalog import db, runs
from atlas.config import AtlasConfig
from atlas.errors import InputError
from ingest.prepare import PreparedCorpus, prepare_corpus
from ingest.settings import IngestSettings
from ingest.shards import run_dir
from ingest.worker import WorkerReport, run_worker

log = logging.getLogger(__name__)


def _check_paths(settings: IngestSettings) -> None:
    model = Path(settings.model)
    if not (model / "config.json").exists():
        raise InputError(f"model folder {model} has no config.json; pass a folder saved with "
                         "save_pretrained")
    tdir = Path(settings.transcoders)
    if not tdir.is_dir():
        raise InputError(f"transcoder folder {tdir} does not exist; check --transcoders")
    if not Path(settings.corpus).exists():
        raise InputError(f"corpus {settings.corpus} does not exist; check --corpus")


def _freeze_corpus(settings: IngestSettings, out_dir: Path) -> PreparedCorpus:
    from transformers import AutoTokenizer

    from atlas.models import encode_prompt

    tokenizer = AutoTokenizer.from_pretrained(settings.model)

    def count(text: str) -> int:
        return len(encode_prompt(tokenizer, text))

    def truncate(text: str, max_tokens: int) -> str:
        ids = encode_prompt(tokenizer, text)[1:max_tokens].tolist()
        return tokenizer.decode(ids)

    return prepare_corpus(Path(settings.corpus), out_dir, count, settings.max_tokens,
                          settings.overflow, settings.corpus_format, truncate)


def _check_fit(settings: IngestSettings) -> None:
    """Refuse a transcoder set that does not fit the model before any work is done."""
    from transformers import AutoConfig

    from atlas.transcoders import load_transcoders

    cfg = AutoConfig.from_pretrained(settings.model)
    n_layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer")
    d_model = getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd")
    load_transcoders(settings.transcoders).validate_for_model(n_layers, d_model)


def create_run(config: AtlasConfig, name: str, settings: IngestSettings) -> PreparedCorpus:
    """Validate the inputs, freeze the corpus, and record the run and its shards.

    On any failure nothing is left behind: no run folder, no catalog rows.
    """
    _check_paths(settings)
    engine = db.make_engine(config.catalog_url_resolved)
    factory = db.session_factory(engine)
    out = run_dir(config.home, name)
    try:
        with factory() as session:
            runs.refuse_existing(session, name)
        _check_fit(settings)
        if out.exists():
            shutil.rmtree(out)
        prepared = _freeze_corpus(settings, out)
        spec = runs.RunSpec(
            name=name, model_name=Path(settings.model).resolve().name,
            model_path=str(Path(settings.model).resolve()),
            transcoder_set_name=transcoder_set_name(settings),
            transcoder_path=str(Path(settings.transcoders).resolve()), transcoder_kind="auto",
            corpus_name=f"{Path(settings.corpus).name}@{prepared.sha256[:12]}",
            corpus_path=str(Path(settings.corpus).resolve()),
            corpus_format=settings.corpus_format or "auto", corpus_sha256=prepared.sha256,
            n_prompts=prepared.n_prompts, shard_size=settings.shard_size,
            settings=settings.to_json())
        with factory() as session:
            runs.create_run(session, spec)
            session.commit()
        return prepared
    except BaseException:
        if out.exists() and not _run_recorded(factory, name):
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        engine.dispose()


def _run_recorded(factory, name: str) -> bool:  # noqa: ANN001
    with factory() as session:
        try:
            runs.refuse_existing(session, name)
        except InputError:
            return True
        return False


def transcoder_set_name(settings: IngestSettings) -> str:
    return Path(settings.transcoders).resolve().name


def run_settings(config: AtlasConfig, name: str) -> IngestSettings:
    engine = db.make_engine(config.catalog_url_resolved)
    try:
        with db.session_factory(engine)() as session:
            return IngestSettings.from_json(runs.get_run(session, name).settings)
    finally:
        engine.dispose()


def refuse_if_running(config: AtlasConfig, name: str) -> None:
    """A second `ingest` on a run that live workers are on is refused (use --worker to join)."""
    engine = db.make_engine(config.catalog_url_resolved)
    try:
        with db.session_factory(engine)() as session:
            live = runs.live_jobs(session, runs.get_run(session, name))
    finally:
        engine.dispose()
    if live:
        job = live[0]
        raise InputError(f"run {name!r} is being ingested by {job.worker} (pid {job.pid} on "
                         f"{job.host}); wait for it, or add a worker with "
                         f"`atlas ingest --worker --run {name}`")


@dataclass(frozen=True)
class IngestOutcome:
    """What one `atlas ingest` process did."""

    report: WorkerReport
    helpers_failed: int


def spawn_helpers(config: AtlasConfig, name: str, count: int) -> list[subprocess.Popen]:
    """Start `count` more worker processes on this machine (they load nothing into stores)."""
    cmd = [sys.executable, "-m", "atlas.cli.main", "--home", str(config.home), "ingest",
           "--worker", "--run", name, "--no-load", "--quiet"]
    return [subprocess.Popen(cmd, stdin=subprocess.DEVNULL) for _ in range(count)]


def work(config: AtlasConfig, name: str, sinks: list, workers: int = 1,
         on_prompt: Callable[[int, bool], None] | None = None) -> IngestOutcome:
    """Run this process's worker (plus workers - 1 helpers) until the run has no shard left."""
    from ingest.compute import AttributionShardComputer

    settings = run_settings(config, name)
    computer = AttributionShardComputer.load(name, transcoder_set_name(settings), settings)
    helpers = spawn_helpers(config, name, workers - 1) if workers > 1 else []
    try:
        report = run_worker(config, name, computer, sinks, on_prompt)
    finally:
        codes = [h.wait() for h in helpers]
    return IngestOutcome(report, sum(1 for c in codes if c != 0))
