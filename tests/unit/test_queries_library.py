"""Named query headers: every file parses, parameters are validated and typed."""

from __future__ import annotations

import re

import pytest

from atlas.errors import InputError, StoreError
from atlas.graphdb.queries import bind_params, load_query, parse_header, query_names

REQUIRED = {"recurring-circuits", "circuit-prompts", "feature-neighborhood", "paths-between",
            "hubs", "compare", "prompt-graph", "search-text", "search-semantic"}


def test_library_has_the_required_queries():
    assert REQUIRED <= set(query_names())


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_header_declares_params_used_and_columns_returned(name):
    spec = load_query(name)
    body = "\n".join(line for line in spec.text.splitlines() if not line.startswith("//"))
    used = set(re.findall(r"\$(\w+)", body))
    assert used == {p.name for p in spec.params}
    assert spec.columns and spec.summary
    assert "{" not in "".join(p.name for p in spec.params)


def test_values_are_typed_and_defaults_filled():
    spec = load_query("recurring-circuits")
    bound = bind_params(spec, {"min_prompts": "5", "prompts": "a,b", "token": "7"})
    assert bound["min_prompts"] == 5 and bound["prompts"] == ["a", "b"] and bound["token"] == 7
    assert bound["limit"] == 20 and bound["max_length"] == 4


@pytest.mark.parametrize("params, message", [
    ({"min_prompt": 3}, "unknown parameter"),
    ({"min_prompts": "three"}, "not a valid int"),
    ({"min_prompts": 2.5}, "not a valid int"),
    ({"min_prompts": None}, "must not be null"),
])
def test_bad_params_are_one_line_input_errors(params, message):
    with pytest.raises(InputError, match=message) as err:
        bind_params(load_query("recurring-circuits"), params)
    assert "\n" not in str(err.value)


def test_missing_and_choice():
    with pytest.raises(InputError, match="missing parameter"):
        bind_params(load_query("feature-neighborhood"), {})
    with pytest.raises(InputError, match="not one of up, down, both"):
        bind_params(load_query("feature-neighborhood"), {"feature": "x:1:2", "direction": "left"})


def test_unknown_query_lists_valid_names():
    with pytest.raises(InputError, match="valid names are .*recurring-circuits"):
        load_query("recurring")


def test_header_name_must_match_file():
    with pytest.raises(StoreError, match="declares name"):
        parse_header("a", "// name: b\nRETURN 1")


def test_recurring_circuits_levels_are_one_subquery_written_three_times():
    """Cypher has no functions: the three extension levels are copies; an edit must reach all."""
    text = load_query("recurring-circuits").text
    levels = re.split(r"^// Extension level \d.*\n", text, flags=re.M)[1:]
    assert len(levels) == 3
    bodies = [level[:level.index("\n}\n")] for level in levels]
    same = {re.sub(r"\b(frontier|found|top|b)\d\b", r"\1N", body) for body in bodies}
    assert len(same) == 1, "the extension levels of recurring-circuits.cypher differ"
