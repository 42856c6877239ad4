"""attribute_many (several prompts per forward/backward pass) against one-prompt attribute.

The slow reference is `attribute` of each prompt alone (itself checked against the linear replay
and circuit-tracer). Prompts of different lengths share passes (right padding), identical
prompts share a pass, and with max_feature_nodes the influence-ordered visiting must not change.
"""

import pytest
import torch

from atlas.attribution import attribute, attribute_many
from atlas.errors import InputError
from atlas.models import load_model
from tests.fixtures.tiny_models import tiny_model_dir, tiny_transcoders

PROMPTS = ["The cat sat on", "A dog", "The cat sat on", "Rain fell all night over the hills",
           "Hello there, world", "Yes"]
VARIANTS = [  # (kind, activation, skip, input hook, output hook)
    ("plt", "relu", False, "mlp.hook_in", "hook_mlp_out"),
    ("clt", "jumprelu", True, "hook_resid_mid", "mlp.hook_out"),
    ("plt", "relu", True, "ln2.hook_normalized", "hook_mlp_out"),
]


def _setup(arch, variant):
    kind, act, skip, hook_in, hook_out = variant
    loaded = load_model(tiny_model_dir(arch))
    tset = tiny_transcoders(loaded, kind=kind, activation=act, skip=skip, input_hook=hook_in,
                            output_hook=hook_out)
    return loaded, tset


def _assert_same(many, ones):
    assert len(many) == len(ones)
    for got, want in zip(many, ones):
        assert got.prompt == want.prompt
        assert torch.equal(got.input_ids, want.input_ids)
        assert torch.equal(got.active_features, want.active_features)
        assert torch.equal(got.selected_features, want.selected_features)
        assert torch.equal(got.logit_token_ids, want.logit_token_ids)
        assert got.adjacency.shape == want.adjacency.shape
        scale = want.adjacency.abs().max()
        assert scale > 0
        assert (got.adjacency - want.adjacency).abs().max() <= 1e-5 * scale
        assert torch.allclose(got.activation_values, want.activation_values, rtol=1e-5,
                              atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v)))
@pytest.mark.parametrize("arch", ["gpt2", "llama", "gemma2"])
def test_many_prompts_per_pass_equal_one_at_a_time(arch, variant):
    loaded, tset = _setup(arch, variant)
    ones = [attribute(p, loaded, tset, batch_size=8) for p in PROMPTS]
    assert len({g.n_pos for g in ones}) > 2  # the groups really mix lengths
    _assert_same(attribute_many(PROMPTS, loaded, tset, batch_size=8, prompts_per_pass=4), ones)


def test_max_feature_nodes_visits_the_same_features_in_a_shared_pass():
    loaded, tset = _setup("gpt2", VARIANTS[0])
    settings = dict(batch_size=4, max_feature_nodes=9, update_interval=1)
    ones = [attribute(p, loaded, tset, **settings) for p in PROMPTS]
    assert all(g.n_features == 9 for g in ones if g.active_features.shape[0] >= 9)
    _assert_same(attribute_many(PROMPTS, loaded, tset, prompts_per_pass=3, **settings), ones)


def test_one_pass_for_all_prompts_and_order_kept():
    loaded, tset = _setup("qwen3", VARIANTS[0])
    ones = [attribute(p, loaded, tset, batch_size=256) for p in PROMPTS]
    many = attribute_many(PROMPTS, loaded, tset, batch_size=256, prompts_per_pass=64)
    assert {g.metadata["prompts_per_pass"] for g in many} == {len(PROMPTS)}
    _assert_same(many, ones)


def test_prompts_per_pass_must_be_positive():
    loaded, tset = _setup("llama", VARIANTS[0])
    with pytest.raises(InputError, match="prompts_per_pass=0"):
        attribute_many(PROMPTS, loaded, tset, prompts_per_pass=0)
