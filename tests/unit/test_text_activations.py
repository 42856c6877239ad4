"""Max activation per feature over a text's tokens: batched pass vs a single-prompt reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from atlas.errors import InputError
from atlas.features.text_activations import _fold, feature_keys, max_activations, tokenize_texts
from atlas.models import capture_mlp_io, load_model
from atlas.transcoders import random_transcoders
from tests.fixtures.tiny_models import D_MODEL, N_LAYERS, tiny_model_dir

TEXTS = ["The cat sat", "a much longer prompt with more tokens in it", "hi", "zq"]


def reference_max(model, tset, ids: list[int], first: int = 1) -> np.ndarray:
    """One prompt alone: MLP inputs by plain hooks, encoded per layer, max over positions first:."""
    mlp_in, _ = capture_mlp_io(model, torch.tensor([ids]))        # [n_layers 1 pos d_model]
    per_layer = [tset.encode(layer, mlp_in[layer, 0, first:]).max(0).values
                 for layer in range(tset.n_layers)]                # n_layers x [d_transcoder]
    return torch.cat(per_layer).numpy()


def test_batched_max_equals_single_prompt_reference() -> None:
    model = load_model(tiny_model_dir("gpt2"), dtype="fp32")
    tset = random_transcoders(N_LAYERS, D_MODEL, 64, seed=1)
    ids = tokenize_texts(model.tokenizer, TEXTS, max_tokens=32)
    assert all(seq[0] == 256 for seq in ids) and len(ids[1]) == 32   # BOS first, cut to 32
    done: list[int] = []
    acts, bad = max_activations(model, tset, ids, batch=3, progress=done.append)
    assert acts.shape == (len(TEXTS), N_LAYERS * 64) and bad == [False] * len(TEXTS)
    assert done == [3, 1]
    expected = np.stack([reference_max(model, tset, seq) for seq in ids])
    assert (acts > 0).any() and (acts == 0).any()
    np.testing.assert_allclose(acts, expected, atol=1e-5)
    with_bos = np.stack([reference_max(model, tset, seq, first=0) for seq in ids])
    assert not np.allclose(acts, with_bos, atol=1e-5)           # so BOS is truly left out


def test_fold_counts_absent_positions_as_zero() -> None:
    out = np.zeros((2, 3), np.float32)
    # text 0 has 2 positions: feature 0 is -1 at both (max -1), feature 1 is -2 at one (max 0);
    # text 1 has 1 position: feature 2 is 5.
    rows, cols = np.array([0, 0, 0, 1]), np.array([0, 0, 1, 2])
    values = np.array([-1.0, -1.5, -2.0, 5.0], np.float32)
    _fold(out, rows, cols, values, np.array([2, 1]))
    np.testing.assert_array_equal(out, [[-1.0, 0.0, 0.0], [0.0, 0.0, 5.0]])


def test_keys_are_layer_major_feature_keys() -> None:
    assert feature_keys("tc", 2, 3) == ["tc:0:0", "tc:0:1", "tc:0:2", "tc:1:0", "tc:1:1",
                                        "tc:1:2"]


def test_empty_texts_are_refused() -> None:
    model = load_model(tiny_model_dir("gpt2"), dtype="fp32")
    with pytest.raises(InputError, match="no texts"):
        tokenize_texts(model.tokenizer, [], 8)
    with pytest.raises(InputError, match="text 2 of 2 is empty"):
        tokenize_texts(model.tokenizer, ["ok", "  "], 8)


def _searcher(tmp_path, tset, baseline: list[str]):
    from atlas.features.by_examples import ExampleSearcher, RunModel
    from atlas.transcoders import save_transcoders

    tdir = Path(save_transcoders(tset, tmp_path / "tc"))
    spec = RunModel(run="r", model_path=tiny_model_dir("gpt2"), transcoders_path=tdir,
                    transcoder_set="tc", prompts_path=tmp_path / "none.parquet", max_tokens=16)
    return ExampleSearcher(spec, baseline=baseline)


def test_searcher_checks_texts_before_loading_the_model(tmp_path) -> None:
    searcher = _searcher(tmp_path, random_transcoders(N_LAYERS, D_MODEL, 64, seed=1), ["a b"])
    with pytest.raises(InputError, match="text 1 of 1 is empty"):
        searcher.search([""])
    assert searcher._loaded is None


def test_non_finite_examples_are_refused(tmp_path) -> None:
    tset = random_transcoders(N_LAYERS, D_MODEL, 64, seed=1)
    tset.b_enc[1][3] = float("nan")
    searcher = _searcher(tmp_path, tset, ["a cat", "a dog"])
    with pytest.raises(InputError, match="example text 1 .* non-finite activations"):
        searcher.search(["zz"])
