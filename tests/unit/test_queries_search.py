"""Labels, Lucene escaping, paging, example ranking and the LLM labeler's wire format (no network)."""

from __future__ import annotations

import numpy as np
import pytest

from atlas.errors import ConfigError, InputError
from atlas.graphdb import examples, llm_labeler
from atlas.graphdb.labels import AUTO_LABELER, auto_label, auto_labels
from atlas.graphdb.search import lucene_escape, page_of


def test_auto_label_is_deterministic_and_readable():
    label = auto_label([" dog", " cat", " dog", " fox", " owl"], ["bark"])
    assert label == 'in " dog", " cat", " fox" -> out "bark"'
    assert auto_label([], []) == ""
    (row,) = auto_labels([("s:1:2", ["a"], ["b"], ["x y", "z"])])
    assert row.source == AUTO_LABELER and row.top_text == "x y | z" and row.at


def test_lucene_escape_keeps_words_and_neutralises_syntax():
    assert lucene_escape("capital city") == "capital city"
    assert lucene_escape('a:b (c) "d" AND e*') == 'a\\:b \\(c\\) \\"d\\" and e\\*'


def test_page_envelope():
    page = page_of([{"i": i} for i in range(4)], offset=6, limit=3)
    assert page.as_dict() == {"results": [{"i": 0}, {"i": 1}, {"i": 2}], "has_more": True,
                              "next_offset": 9}
    assert page_of([{"i": 0}], 0, 3).next_offset is None


def test_rank_by_examples_prefers_features_silent_on_baseline():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, (50, 4))
    base[:, 2] = 0.0
    ex = rng.uniform(0, 1, (5, 4))
    ex[:, 2] = 3.0
    ranked = examples.rank_by_examples(ex, base, ["a", "b", "c", "d"], top_k=2)
    assert ranked[0]["feature"] == "c" and ranked[0]["frac_examples_active"] == 1.0
    with pytest.raises(InputError):
        examples.rank_by_examples(ex, base[:, :3], ["a", "b", "c", "d"])


def test_llm_labeler_payload_and_parsing_offline():
    with pytest.raises(ConfigError, match="ATLAS_LABELER_BASE_URL"):
        llm_labeler.LabelerConfig.from_env({})
    cfg = llm_labeler.LabelerConfig.from_env({"ATLAS_LABELER_BASE_URL": "http://h/v1/",
                                              "ATLAS_LABELER_MODEL": "m"})
    payload = llm_labeler.build_request(cfg, [" Paris"], [" France"], ["the [[Paris]] trip"])
    assert payload["model"] == "m" and "Paris" in payload["messages"][1]["content"]
    sent = []
    label = llm_labeler.llm_label(
        cfg, "s:1:2", [" Paris"], [" France"], ["ex"],
        post=lambda c, p: sent.append(p) or {"choices": [{"message": {"content": ' "cities" '}}]})
    assert label.label == "cities" and label.model == "m" and label.source == "llm-chat-v1"
    assert sent == [payload | {"messages": sent[0]["messages"]}]
    with pytest.raises(InputError):
        llm_labeler.parse_response({"error": "x"})
