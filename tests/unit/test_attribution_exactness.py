"""The local replacement model and its edges, checked against the slow linear replay.

- the replacement model (features + errors, frozen attention and norms) reproduces the logits;
- exactness: each node's input = Σ incoming edges + fixed terms (all sources at 0);
- perturbation: scaling one source by (1 + δ) moves each target by δ · A[t, s];
- batch size does not change the graph (fast path vs single-row reference).
"""

import pytest
import torch

from atlas.attribution import attribute
from atlas.attribution.replacement import logits_from_final
from atlas.attribution.replay import LinearReplay, SourceScales
from atlas.models import encode_prompt, load_model
from tests.fixtures.tiny_models import ARCHS, tiny_model_dir, tiny_transcoders

PROMPT = "The cat sat on"
VARIANTS = [  # (kind, activation, skip, input hook, output hook)
    ("plt", "relu", False, "mlp.hook_in", "hook_mlp_out"),
    ("plt", "jumprelu", True, "ln2.hook_normalized", "hook_mlp_out"),
    ("clt", "relu", True, "hook_resid_mid", "mlp.hook_out"),
    ("plt", "topk", False, "mlp.hook_in", "mlp.hook_out"),
]


def _setup(arch, variant):
    kind, act, skip, hook_in, hook_out = variant
    loaded = load_model(tiny_model_dir(arch))
    tset = tiny_transcoders(loaded, kind=kind, activation=act, skip=skip, input_hook=hook_in,
                            output_hook=hook_out, top_k=4 if act == "topk" else None)
    ids = encode_prompt(loaded.tokenizer, PROMPT)
    return loaded, tset, ids


def _logit_inputs(loaded, graph, final):
    W_U = loaded.adapter.W_U.float()
    vecs = (W_U[:, graph.logit_token_ids] - W_U.mean(-1, keepdim=True)).T
    return vecs @ final[-1].float()


@pytest.mark.parametrize("arch", ARCHS)
def test_replacement_reproduces_logits(arch):
    loaded, tset, ids = _setup(arch, VARIANTS[1])
    replay = LinearReplay(loaded, tset, ids)
    _, final = replay.run(SourceScales.ones(replay.ctx))
    ours = logits_from_final(loaded.adapter, final)
    reference = loaded.model(ids[None]).logits[0]
    assert replay.ctx.n_features > 0
    assert (ours - reference).abs().max() < 1e-4
    replay.close()


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v)))
@pytest.mark.parametrize("arch", ["gpt2", "llama", "gemma2", "qwen3"])
def test_node_inputs_are_sums_of_edges(arch, variant):
    loaded, tset, ids = _setup(arch, variant)
    graph = attribute(ids, loaded, tset, batch_size=16)
    replay = LinearReplay(loaded, tset, ids)
    tin1, final1 = replay.run(SourceScales.ones(replay.ctx))
    tin0, final0 = replay.run(SourceScales.ones(replay.ctx, 0.0))
    feats = graph.feature_nodes()
    assert len(feats) > 0
    change = replay.feature_inputs(tin1, feats) - replay.feature_inputs(tin0, feats)
    edges = graph.adjacency[:graph.n_features].sum(1)
    scale = graph.adjacency.abs().max()
    assert (change - edges).abs().max() < 1e-4 * scale
    logit_change = _logit_inputs(loaded, graph, final1) - _logit_inputs(loaded, graph, final0)
    assert (logit_change - graph.adjacency[graph.logit_start:].sum(1)).abs().max() < 1e-4 * scale
    replay.close()


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_perturbing_a_source_moves_targets_by_edge_weight(arch):
    loaded, tset, ids = _setup(arch, VARIANTS[2])
    graph = attribute(ids, loaded, tset, batch_size=16)
    replay = LinearReplay(loaded, tset, ids)
    base = SourceScales.ones(replay.ctx)
    tin1, final1 = replay.run(base)
    feats = graph.feature_nodes()
    gen = torch.Generator().manual_seed(0)
    A = graph.adjacency
    strongest = A[:graph.n_features].abs().sum(0).topk(6).indices.tolist()
    sampled = torch.randint(0, graph.token_start + graph.n_pos, (4,), generator=gen).tolist()
    for source in strongest + sampled:
        scales = SourceScales.ones(replay.ctx)
        kind = graph.node_kind(source)
        if kind == "feature":
            scales.features[int(graph.selected_features[source])] = 1.5
        elif kind == "error":
            scales.errors.view(-1)[source - graph.error_start] = 1.5
        else:
            scales.tokens[source - graph.token_start] = 1.5
        tin2, final2 = replay.run(scales)
        moved = replay.feature_inputs(tin2, feats) - replay.feature_inputs(tin1, feats)
        assert torch.allclose(moved, 0.5 * A[:graph.n_features, source], atol=1e-4 * A.abs().max())
        moved_logits = _logit_inputs(loaded, graph, final2) - _logit_inputs(loaded, graph, final1)
        assert torch.allclose(moved_logits, 0.5 * A[graph.logit_start:, source],
                              atol=1e-4 * A.abs().max())
    replay.close()


def test_batch_size_does_not_change_the_graph():
    loaded, tset, ids = _setup("llama", VARIANTS[2])
    big = attribute(ids, loaded, tset, batch_size=64)
    one = attribute(ids, loaded, tset, batch_size=1)
    assert torch.equal(big.selected_features, one.selected_features)
    assert (big.adjacency - one.adjacency).abs().max() < 1e-5 * big.adjacency.abs().max()


def test_max_feature_nodes_keeps_rows_of_visited_features():
    loaded, tset, ids = _setup("gpt2", VARIANTS[0])
    full = attribute(ids, loaded, tset, batch_size=8)
    part = attribute(ids, loaded, tset, batch_size=8, max_feature_nodes=10)
    assert part.n_features == 10
    rows = full.adjacency[part.selected_features]
    cols = torch.cat([part.selected_features,
                      torch.arange(full.n_features, full.n_nodes - full.n_logits)])
    expected = rows[:, cols]
    got = part.adjacency[:10, :len(cols)]
    assert (expected - got).abs().max() < 1e-5 * full.adjacency.abs().max()


def test_bf16_runs_and_roughly_agrees_with_fp32():
    folder = tiny_model_dir("llama")
    fp32 = load_model(folder)
    tset = tiny_transcoders(fp32)
    g32 = attribute(PROMPT, fp32, tset, batch_size=16)
    g16 = attribute(PROMPT, load_model(folder, dtype="bf16"), tset, batch_size=16)
    assert g16.adjacency.dtype == torch.float32
    assert torch.equal(g32.logit_token_ids[:1], g16.logit_token_ids[:1])
    assert g16.n_features > 0
