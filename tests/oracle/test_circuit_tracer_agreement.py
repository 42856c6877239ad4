"""Agreement with circuit-tracer 0.5.0 on the same weights and transcoders (fp32, CPU).

circuit-tracer runs on a TransformerLens twin built from the same HF weights (no weight
processing) and reads our transcoder files with its own loaders. Compared: tokens, active
features, logit targets, adjacency (max abs diff < 1e-4 x max|A|), pruning masks, scores,
frontend JSON nodes and links. Also: files written by circuit-tracer's own savers load here.
"""

import json
import warnings

import pytest
import torch

from atlas.attribution import attribute, compute_graph_scores, prune_graph
from atlas.graph.frontend import read_frontend_json, to_frontend
from atlas.models import load_model
from atlas.transcoders import load_transcoders, save_transcoders
from tests.fixtures.tiny_models import tiny_model_dir, tiny_transcoders
from tests.oracle.twin import ct_transcoders, tl_replacement_model

pytestmark = [pytest.mark.oracle,
              pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]

PROMPT = "The cat sat on"
CASES = {  # name: (arch, kind, activation, skip, input hook, output hook)
    "gpt2-plt": ("gpt2", "plt", "relu", False, "mlp.hook_in", "hook_mlp_out"),
    "gpt2-jumprelu-skip": ("gpt2", "plt", "jumprelu", True, "ln2.hook_normalized",
                           "hook_mlp_out"),
    "gpt2-clt": ("gpt2", "clt", "relu", False, "hook_resid_mid", "hook_mlp_out"),
    "llama-plt-skip": ("llama", "plt", "relu", True, "mlp.hook_in", "mlp.hook_out"),
    "llama-clt-jumprelu": ("llama", "clt", "jumprelu", False, "ln2.hook_normalized",
                           "hook_mlp_out"),
}


def _pair(case, tmp_path, max_feature_nodes=None, batch_size=16):
    arch, kind, act, skip, hook_in, hook_out = CASES[case]
    loaded = load_model(tiny_model_dir(arch))
    tset = tiny_transcoders(loaded, kind=kind, activation=act, skip=skip, input_hook=hook_in,
                            output_hook=hook_out)
    folder = save_transcoders(tset, tmp_path / "tc")
    ours = attribute(PROMPT, loaded, load_transcoders(folder), batch_size=batch_size,
                     max_feature_nodes=max_feature_nodes)
    twin = tl_replacement_model(tiny_model_dir(arch), loaded.model, loaded.tokenizer,
                                ct_transcoders(folder))
    from circuit_tracer.attribution.attribute import attribute as ct_attribute

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ct_attribute(PROMPT, twin, batch_size=batch_size,
                              max_feature_nodes=max_feature_nodes)
    return loaded, ours, theirs


def _assert_same_graph(ours, theirs):
    assert torch.equal(ours.input_ids, theirs.input_tokens)
    assert torch.equal(ours.active_features, theirs.active_features)
    assert torch.allclose(ours.activation_values, theirs.activation_values, atol=1e-5)
    assert ours.logit_token_ids.tolist() == [t.vocab_idx for t in theirs.logit_targets]
    assert torch.allclose(ours.logit_probabilities, theirs.logit_probabilities, atol=1e-6)
    assert torch.equal(ours.selected_features, theirs.selected_features)
    A, B = ours.adjacency, theirs.adjacency_matrix
    assert A.shape == B.shape
    assert (A - B).abs().max() < 1e-4 * B.abs().max()


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_graph_pruning_and_scores(case, tmp_path):
    from circuit_tracer.graph import compute_graph_scores as ct_scores
    from circuit_tracer.graph import prune_graph as ct_prune

    _, ours, theirs = _pair(case, tmp_path)
    assert ours.n_features > 0
    _assert_same_graph(ours, theirs)
    mine, ref = prune_graph(ours), ct_prune(theirs)
    assert torch.equal(mine.node_mask, ref.node_mask)
    assert torch.equal(mine.edge_mask, ref.edge_mask)
    assert torch.allclose(mine.cumulative_scores, ref.cumulative_scores, atol=1e-5)
    for a, b in zip(compute_graph_scores(ours), ct_scores(theirs)):
        assert abs(a - b) < 1e-5


def test_frontend_json_matches(tmp_path):
    from circuit_tracer.utils.create_graph_files import create_graph_files

    _, ours, theirs = _pair("gpt2-jumprelu-skip", tmp_path)
    create_graph_files(theirs, "g", str(tmp_path / "ct"), scan="tiny")
    raw = json.loads((tmp_path / "ct" / "g.json").read_text())
    parsed = read_frontend_json(tmp_path / "ct" / "g.json")
    assert json.loads(parsed.model_dump_json()) == raw  # their JSON round-trips our models
    mine = to_frontend(ours, "g", scan="tiny")
    assert [n.node_id for n in mine.nodes] == [n.node_id for n in parsed.nodes]
    for a, b in zip(mine.nodes, parsed.nodes):
        da, db = a.model_dump(), b.model_dump()
        for key in ("influence", "activation", "token_prob"):
            x, y = da.pop(key), db.pop(key)
            assert (x is None) == (y is None) and (x is None or abs(x - y) < 1e-5)
        assert da == db
    assert [(link.source, link.target) for link in mine.links] == \
        [(link.source, link.target) for link in parsed.links]
    scale = max(abs(link.weight) for link in parsed.links)
    for a, b in zip(mine.links, parsed.links):
        assert abs(a.weight - b.weight) < 1e-4 * scale


def test_max_feature_nodes_selects_the_same_features(tmp_path):
    _, ours, theirs = _pair("gpt2-plt", tmp_path, max_feature_nodes=30, batch_size=4)
    assert ours.n_features == 30  # two re-rankings (queues of 16)
    _assert_same_graph(ours, theirs)


@pytest.mark.parametrize("kind", ["plt", "clt"])
def test_files_written_by_circuit_tracer_load_here(kind, tmp_path):
    """circuit-tracer's own savers write the folder; our loader reads it; same graph."""
    import yaml

    case = "gpt2-jumprelu-skip" if kind == "plt" else "llama-clt-jumprelu"
    arch = CASES[case][0]
    loaded = load_model(tiny_model_dir(arch))
    ours_first = save_transcoders(tiny_transcoders(loaded, kind=kind, activation="jumprelu",
                                                   skip=kind == "plt",
                                                   input_hook=CASES[case][4]), tmp_path / "a")
    ct_set = ct_transcoders(ours_first)
    ct_set.to_safetensors(str(tmp_path / "b"))
    config = yaml.safe_load((ours_first / "config.yaml").read_text())
    config.pop("activation_function")
    (tmp_path / "b" / "config.yaml").write_text(yaml.safe_dump(config))
    from_ct = load_transcoders(tmp_path / "b")
    g1 = attribute(PROMPT, loaded, load_transcoders(ours_first), batch_size=16)
    g2 = attribute(PROMPT, loaded, from_ct, batch_size=16)
    assert from_ct.config.activation == "jumprelu"
    assert torch.equal(g1.active_features, g2.active_features)
    assert torch.equal(g1.adjacency, g2.adjacency)
