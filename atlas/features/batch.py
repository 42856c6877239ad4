"""Checking a batch handed in by ingestion and annotating it with histogram bins and priorities."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from atlas.errors import InputError
from atlas.features.spec import FeatureStatsConfig, bin_index, prompt_hash, sample_priority

ACTIVATION_COLUMNS = ("prompt_id", "position", "layer", "feature", "activation")
PROMPT_COLUMNS = ("prompt_id", "token_ids")
_ACT_TYPES = {"prompt_id": pa.string(), "position": pa.int32(), "layer": pa.int16(),
              "feature": pa.int32(), "activation": pa.float32()}


def _require(table: pa.Table, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InputError(f"{what} table lacks column(s) {', '.join(missing)}; it has "
                         f"{', '.join(table.column_names)} (see docs/shard-format.md)")


def check_run(activations: pa.Table, run: str) -> None:
    """Every row's `run` (when the column is there) must be `run`."""
    if "run" in activations.column_names and activations.num_rows:
        others = pc.unique(pc.filter(activations["run"],
                                     pc.not_equal(activations["run"], run)))
        if len(others):
            raise InputError(f"activations of run {others[0].as_py()!r} handed to the merge of "
                             f"run {run!r}; pass each run's shards separately")


def annotate(activations: pa.Table, config: FeatureStatsConfig) -> pa.Table:
    """The columns the merge reads, cast, plus `bin` (int16) and `priority` (uint64)."""
    _require(activations, ACTIVATION_COLUMNS, "activations")
    try:
        cols = {c: activations[c].cast(t) for c, t in _ACT_TYPES.items()}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise InputError(f"activations columns have the wrong types ({e}); see "
                         "docs/shard-format.md") from e
    act = cols["activation"].to_numpy()
    if act.size and not np.all(np.isfinite(act)):
        raise InputError("activations contain NaN or infinite values; fix the transcoder run")
    encoded = pc.dictionary_encode(cols["prompt_id"].combine_chunks())
    hashes = prompt_hash(encoded.dictionary.to_pylist(), config.sample_seed)
    per_row = hashes[encoded.indices.to_numpy(zero_copy_only=False)]
    cols["bin"] = pa.array(bin_index(act, config), pa.int16())
    cols["priority"] = pa.array(sample_priority(per_row, cols["position"].to_numpy()), pa.uint64())
    return pa.table(cols)


def prompt_table(prompts: pa.Table) -> pa.Table:
    """prompt_id, token_ids (list<int32>) and tokens (list<string>, null when not given)."""
    _require(prompts, PROMPT_COLUMNS, "prompts")
    n = prompts.num_rows
    tokens = (prompts["tokens"].cast(pa.list_(pa.string())) if "tokens" in prompts.column_names
              else pa.nulls(n, pa.list_(pa.string())))
    return pa.table({"prompt_id": prompts["prompt_id"].cast(pa.string()),
                     "token_ids": prompts["token_ids"].cast(pa.list_(pa.int32())),
                     "tokens": tokens})


def check_prompts_cover(activations: pa.Table, prompts: pa.Table) -> None:
    """Every prompt of the activations must have its tokens in `prompts`, once."""
    if pc.count_distinct(prompts["prompt_id"]).as_py() != prompts.num_rows:
        raise InputError("prompts table repeats a prompt_id; hand each prompt once per shard")
    used = pc.unique(activations["prompt_id"])
    known = pc.is_in(used, value_set=prompts["prompt_id"].combine_chunks())
    if not pc.all(known).as_py() and len(used):
        missing = pc.filter(used, pc.invert(known))[0].as_py()
        raise InputError(f"activations of prompt {missing!r} came without its token ids; pass "
                         "the batch's prompts (prompt_id, token_ids) with it")


def count_tokens(prompts: pa.Table) -> int:
    lengths = pc.list_value_length(prompts["token_ids"])
    return int(pc.sum(lengths).as_py() or 0)
