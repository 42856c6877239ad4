"""The shard computer: prompts attributed several per pass give the tables of one at a time."""

from pathlib import Path

import pyarrow as pa
import pytest

from atlas.transcoders import random_transcoders, save_transcoders
from ingest.compute import AttributionShardComputer
from ingest.prepare import PROMPT_SCHEMA
from ingest.settings import IngestSettings
from tests.fixtures.tiny_models import D_MODEL, N_LAYERS, tiny_model_dir

TEXTS = ["prompt number 1 says hello", "hi", "a much longer prompt about cats and dogs",
         "hi", "seven", "the end of the shard"]


@pytest.fixture(scope="module")
def tc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compute-tc")
    return Path(save_transcoders(random_transcoders(N_LAYERS, D_MODEL, 64, seed=3), root / "tc"))


def _shard(tc_dir: Path, **settings: object):
    s = IngestSettings(model=str(tiny_model_dir("gpt2")), transcoders=str(tc_dir),
                       corpus="unused.jsonl", batch_size=16, **settings)
    computer = AttributionShardComputer.load("r", "ts", s)
    prompts = pa.table({"prompt_id": [f"p{i}" for i in range(len(TEXTS))], "text": TEXTS,
                        "metadata": ["{}"] * len(TEXTS), "n_tokens": [0] * len(TEXTS),
                        "truncated": [False] * len(TEXTS)}, schema=PROMPT_SCHEMA)
    seen: list[tuple[int, bool]] = []
    result = computer(prompts, 10, lambda n, failed: seen.append((n, failed)))
    return result, seen


def _edges(result) -> dict[tuple, float]:
    return {(r["prompt_id"], r["source"], r["target"]): r["weight"]
            for r in result.tables.edges.to_pylist()}


@pytest.mark.parametrize("graph_every", [1, 2])
def test_attribution_batch_does_not_change_the_shard(tc_dir, graph_every):
    one, seen_one = _shard(tc_dir, attribution_batch=1, graph_every=graph_every)
    many, seen_many = _shard(tc_dir, attribution_batch=4, graph_every=graph_every)
    assert seen_one == seen_many and len(seen_many) == len(TEXTS)
    assert many.n_graphs == one.n_graphs == len(TEXTS) // graph_every
    assert many.n_errors == one.n_errors == 0
    assert many.tables.prompts.drop(["replacement_score", "completeness_score"]).equals(
        one.tables.prompts.drop(["replacement_score", "completeness_score"]))
    assert many.tables.activations.equals(one.tables.activations)
    assert many.tables.nodes.num_rows == one.tables.nodes.num_rows
    a, b = _edges(many), _edges(one)
    assert a.keys() == b.keys()
    scale = max(abs(w) for w in b.values())
    assert max(abs(a[k] - b[k]) for k in b) <= 1e-5 * scale
