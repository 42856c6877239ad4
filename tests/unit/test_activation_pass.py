"""The batched activation pass agrees with the single-prompt attribution's active features."""

from __future__ import annotations

import pytest
import torch

from atlas.attribution import attribute
from atlas.graph.shards import activation_table
from atlas.models import encode_prompt, load_model
from atlas.transcoders import random_transcoders
from ingest.activations import batch_activations, pad_batch
from tests.fixtures.tiny_models import D_MODEL, N_LAYERS, tiny_model_dir

PROMPTS = ["The cat sat", "a much longer prompt with more tokens in it", "hi"]


def _rows(table) -> dict[tuple, float]:
    cols = table.select(["prompt_id", "position", "token_id", "layer", "feature"]).to_pylist()
    return {tuple(c.values()): a for c, a in zip(cols, table["activation"].to_pylist())}


@pytest.mark.parametrize("arch, hook", [("gpt2", "mlp.hook_in"), ("llama", "ln2.hook_normalized"),
                                        ("gemma2", "hook_resid_mid")])
def test_batched_pass_equals_single_prompt_reference(arch: str, hook: str) -> None:
    model = load_model(tiny_model_dir(arch), dtype="fp32")
    tset = random_transcoders(N_LAYERS, D_MODEL, 64, input_hook=hook, seed=1)
    ids = [encode_prompt(model.tokenizer, p).tolist() for p in PROMPTS]
    names = [f"p{i}" for i in range(len(PROMPTS))]
    batched, bad = batch_activations(model, tset, "r", names, ids)
    assert bad == [False] * len(PROMPTS)
    expected: dict[tuple, float] = {}
    for name, seq in zip(names, ids):
        expected |= _rows(activation_table(attribute(seq, model, tset, max_feature_nodes=0),
                                           "r", name))
    got = _rows(batched)
    assert batched.num_rows > 0 and got.keys() == expected.keys()
    assert torch.allclose(torch.tensor([got[k] for k in expected]),
                          torch.tensor(list(expected.values())), atol=1e-4)
    assert 0 not in batched["position"].to_pylist()          # BOS dropped, as graphs zero it


def test_non_finite_activations_are_flagged_and_dropped() -> None:
    model = load_model(tiny_model_dir("gpt2"), dtype="fp32")
    tset = random_transcoders(N_LAYERS, D_MODEL, 64, seed=1)
    tset.b_enc[1][3] = float("nan")
    ids = [encode_prompt(model.tokenizer, p).tolist() for p in PROMPTS]
    table, bad = batch_activations(model, tset, "r", ["a", "b", "c"], ids)
    assert bad == [True, True, True]
    assert table.num_rows == 0


def test_right_padding_masks_tail() -> None:
    ids, mask = pad_batch([[5, 6, 7], [5]], pad_id=5)
    assert ids.tolist() == [[5, 6, 7], [5, 5, 5]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
