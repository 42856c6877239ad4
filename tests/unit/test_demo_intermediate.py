"""Which path features the demo reports as standing for a two-hop answer's unnamed state."""

from __future__ import annotations

from atlas.demo.intermediate import MIN_SHARE, find_intermediates, read_state
from atlas.demo.planted import Planted

PLANTED = Planted.model_validate({
    "fingerprint": "x", "config": {},
    "two_hop": {"template": "t", "first_hop": {"a1": "A", "a2": "A", "b1": "B", "b2": "B"},
                "second_hop": {"A": "capA", "B": "capB"},
                "answers": {"a1": "capA", "a2": "capA", "b1": "capB", "b2": "capB"},
                "held_out_cities": [], "validation_cities": []},
    "induction": {"symbols": ["s0"], "template": "t", "run_length": 1}})

TOP = {"f:0:1": ["a1", "a2", "A", "a1", "a2", "a1", "a2", "is", "a1", "a2"],   # A, 0.9
       "f:0:2": ["is", "is", "of", "is", "is"],                               # template
       "f:0:3": ["a1", "b1", "a2", "b2", "a1", "b1", "a2", "b2", "a1", "b1"],   # A and B mixed
       "f:1:4": ["b1", "b2", "b1", "b2", "B", "b1", "b2", "b1", "b2", "b1"]}    # B, 1.0


def _row(*features: str) -> dict:
    return {"features": list(features), "labels": [None] * len(features), "support": 4,
            "example_prompts": ["p1"]}


def test_read_state_counts_the_state_and_its_cities() -> None:
    assert read_state(TOP["f:0:1"], PLANTED).state == "A"
    assert read_state(TOP["f:0:1"], PLANTED).share == 0.9
    assert read_state(TOP["f:0:2"], PLANTED).state is None
    mixed = read_state(TOP["f:0:3"], PLANTED)
    assert mixed.state == "A" and mixed.share == 0.5 < MIN_SHARE


def test_first_path_feature_of_the_answers_own_state_is_reported() -> None:
    circuits = {"capA": [_row("f:0:2"), _row("f:1:4"), _row("f:0:3", "f:0:2"),
                         _row("f:0:1", "f:0:2")],
                "capB": [_row("f:0:2"), _row("f:0:1")]}       # only another state's feature
    answers = {"capA": ["p1", "p2"], "capB": ["p3", "p4"]}
    found = find_intermediates(circuits, answers, PLANTED, TOP.__getitem__)
    assert [(f.answer, f.state, f.feature, f.rank, f.path) for f in found] == [
        ("capA", "A", "f:0:1", 4, ("f:0:1", "f:0:2"))]
    assert found[0].n_prompts == 2 and found[0].top_tokens == tuple(TOP["f:0:1"])
