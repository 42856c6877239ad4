"""The ingestion progress bar: prompts/s, tokens/s, ETA and errors of this worker."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from atlas.catalog import db, runs
from atlas.catalog.models import Shard, ShardState
from atlas.config import AtlasConfig


def prompts_left(config: AtlasConfig, name: str) -> int:
    engine = db.make_engine(config.catalog_url_resolved)
    try:
        with db.session_factory(engine)() as session:
            run = runs.get_run(session, name)
            return session.scalar(select(func.coalesce(func.sum(Shard.n_prompts), 0)).where(
                Shard.run_id == run.id,
                Shard.state.not_in([ShardState.committed, ShardState.loaded]))) or 0
    finally:
        engine.dispose()


class IngestProgress:
    """A rich progress bar fed by the worker's per-prompt callback."""

    def __init__(self, config: AtlasConfig, name: str, enabled: bool = True) -> None:
        self.total = prompts_left(config, name)
        self.name, self.enabled = name, enabled
        self.prompts = self.tokens = self.errors = 0
        self.started = time.perf_counter()
        self._progress = None
        self._task = None

    def __enter__(self) -> "IngestProgress":
        if self.enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeRemainingColumn)

            self._progress = Progress(TextColumn(f"[bold]{self.name}"), BarColumn(),
                                      MofNCompleteColumn(), TextColumn("{task.fields[rates]}"),
                                      TimeRemainingColumn(), transient=False)
            self._progress.start()
            self._task = self._progress.add_task("ingest", total=self.total, rates="")
        return self

    def on_prompt(self, n_tokens: int, failed: bool) -> None:
        self.prompts += 1
        self.tokens += n_tokens
        self.errors += int(failed)
        if self._progress is not None:
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            rates = (f"{self.prompts / elapsed:.1f} prompts/s  {self.tokens / elapsed:.0f} "
                     f"tok/s  errors {self.errors}")
            self._progress.update(self._task, advance=1, rates=rates)

    def __exit__(self, *_exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
