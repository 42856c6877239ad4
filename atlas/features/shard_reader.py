"""Reading a finished shard folder into batches of whole prompts for the feature merge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from atlas.errors import InputError

_PROMPT_COLUMNS = ("run", "prompt_id", "token_ids", "tokens")


@dataclass(frozen=True)
class ShardData:
    """A shard's prompts and activations, split on prompt boundaries."""

    run: str
    """Run name (the single value of the shard's `run` column)."""
    shard_id: str
    """The shard folder's name."""
    prompts: pa.Table
    """prompts.parquet: prompt_id, token_ids, tokens."""
    activations: pa.Table
    """activations.parquet."""
    batch_rows: int
    """Target activation rows per batch (a prompt is never split)."""

    def batches(self) -> Iterator[tuple[pa.Table, pa.Table]]:
        """(activations, prompts) per group of prompts of about `batch_rows` activations."""
        ids = self.prompts["prompt_id"].combine_chunks()
        counts = pc.value_counts(self.activations["prompt_id"])
        per_prompt = dict(zip(counts.field("values").to_pylist(),
                              counts.field("counts").to_pylist()))
        sizes = np.array([per_prompt.get(p, 0) for p in ids.to_pylist()], dtype=np.int64)
        group = np.cumsum(sizes) // max(self.batch_rows, 1)
        for g in np.unique(group):
            chosen = pc.filter(ids, pa.array(group == g))
            acts = self.activations.filter(pc.is_in(self.activations["prompt_id"],
                                                    value_set=chosen))
            yield acts, self.prompts.filter(pc.is_in(ids, value_set=chosen))


def read_shard(shard_dir: Path, batch_rows: int = 2_000_000) -> ShardData:
    """Read a complete shard (its `_SUCCESS` marker present)."""
    if not (shard_dir / "_SUCCESS").exists():
        raise InputError(f"shard {shard_dir} is not complete (no _SUCCESS); wait for ingestion "
                         "to finish it or remove it")
    try:
        present = pq.read_schema(shard_dir / "prompts.parquet").names
        prompts = pq.read_table(shard_dir / "prompts.parquet",
                                columns=[c for c in _PROMPT_COLUMNS if c in present])
        activations = pq.read_table(shard_dir / "activations.parquet")
    except (OSError, pa.ArrowInvalid) as e:
        raise InputError(f"cannot read shard {shard_dir}: {e}; re-run its ingestion") from e
    if "run" not in prompts.column_names:
        raise InputError(f"shard {shard_dir} prompts.parquet has no run column; see "
                         "docs/shard-format.md")
    runs = pc.unique(prompts["run"]).to_pylist()
    if len(runs) != 1:
        raise InputError(f"shard {shard_dir} holds runs {runs}; a shard belongs to one run")
    return ShardData(runs[0], shard_dir.name, prompts, activations, batch_rows)
