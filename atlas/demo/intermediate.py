"""Finding the planted intermediate: answer-anchored recurring circuits and their state features.

The question a researcher asks of the two-hop prompts is "what recurs on the way to *this*
answer?": for each capital, `recurring-circuits` runs on the two-hop prompts whose answer it is,
anchored on the capital's output token (the last feature of every path feeds that logit). Asked
over all two-hop prompts at once, the paths shared by every prompt win on support, and those are
the template's ("is", "of"), not any one state's.

A feature on such a path *stands for* a state when its top-activating examples in the feature
store (DuckDB) are predominantly the state's own token or tokens of its cities. planted.json is
read only to score what the atlas returned, never to choose what it is asked.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Callable

from atlas.config import AtlasConfig
from atlas.demo.planted import Planted

TOP_EXAMPLES = 10
"""How many of a feature's top-activating examples are read to name its state."""
MIN_SHARE = 0.7
"""Share of those examples that must belong to one state (its token or its cities)."""


@dataclass(frozen=True)
class StateReading:
    """What a feature's top-activating examples are about."""

    state: str | None
    """The state most of its top examples belong to (None when none does)."""
    share: float
    """Fraction of the top examples that are that state's token or one of its cities."""
    tokens: tuple[str, ...]
    """The tokens its top examples fire on, strongest first."""


@dataclass(frozen=True)
class IntermediateFinding:
    """A feature on a top answer-anchored path that stands for the answer's state."""

    state: str
    """The intermediate entity (never named in the two-hop prompts)."""
    answer: str
    """The capital: the output token the path feeds."""
    feature: str
    """Feature key `<transcoder_set>:<layer>:<index>`."""
    label: str | None
    """The feature's automatic label."""
    rank: int
    """1-based rank of the path among the answer's recurring circuits."""
    path: tuple[str, ...]
    """Feature keys of the whole path (the last one feeds the answer's logit)."""
    support: int
    """Prompts of this answer containing the path."""
    n_prompts: int
    """Two-hop prompts whose answer this is."""
    share: float
    """Fraction of the feature's top examples that are the state or its cities."""
    top_tokens: tuple[str, ...]
    """The tokens its top examples fire on, strongest first."""
    example_prompts: tuple[str, ...]
    """Prompt ids containing the path."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def answer_circuits(driver, config: AtlasConfig, answers: dict[str, list[str]],  # noqa: ANN001
                    token_ids: dict[str, int], limit: int = 5) -> dict[str, list[dict]]:
    """{answer: top recurring paths ending in its logit, within the prompts whose answer it is}.

    A path must recur in at least half of those prompts (and at least 2).
    """
    from atlas.graphdb.queries import run_named_query

    out = {}
    for answer, ids in sorted(answers.items()):
        params = {"prompts": ids, "token": token_ids[answer], "min_length": 1, "limit": limit,
                  "min_prompts": max(2, math.ceil(len(ids) / 2))}
        out[answer] = run_named_query(driver, "recurring-circuits", params,
                                      database=config.neo4j_database)
    return out


def read_state(tokens: list[str], planted: Planted) -> StateReading:
    """The state that the top-example tokens are about (the state itself or its cities)."""
    states = set(planted.two_hop.second_hop)
    owner = [t if t in states else planted.two_hop.first_hop.get(t) for t in tokens]
    counts = Counter(s for s in owner if s is not None)
    if not counts or not tokens:
        return StateReading(None, 0.0, tuple(tokens))
    state, n = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return StateReading(state, n / len(tokens), tuple(tokens))


def top_tokens_reader(con, run: str) -> Callable[[str], list[str]]:  # noqa: ANN001
    """feature key -> the tokens of its strongest examples in the feature store (cached)."""
    from atlas.graphdb.keys import parse_feature_key

    cache: dict[str, list[str]] = {}

    def read(key: str) -> list[str]:
        if key not in cache:
            tset, layer, index = parse_feature_key(key)
            rows = con.execute(
                "SELECT ctx_tokens, position - ctx_start FROM feature_top_examples "
                "WHERE run = ? AND transcoder_set = ? AND layer = ? AND feature = ? "
                "ORDER BY activation DESC, prompt_id, position LIMIT ?",
                [run, tset, layer, index, TOP_EXAMPLES]).fetchall()
            cache[key] = [tokens[i] for tokens, i in rows]
        return cache[key]

    return read


def find_intermediates(circuits: dict[str, list[dict]], answers: dict[str, list[str]],
                       planted: Planted, top_tokens: Callable[[str], list[str]]
                       ) -> list[IntermediateFinding]:
    """For each answer, the best-ranked path feature that stands for the answer's state."""
    state_of = {capital: state for state, capital in planted.two_hop.second_hop.items()}
    found = []
    for answer, rows in sorted(circuits.items()):
        hit = _first_state_feature(rows, state_of[answer], planted, top_tokens)
        if hit is None:
            continue
        rank, row, key, reading = hit
        found.append(IntermediateFinding(
            state=state_of[answer], answer=answer, feature=key,
            label=row["labels"][row["features"].index(key)], rank=rank,
            path=tuple(row["features"]), support=row["support"], n_prompts=len(answers[answer]),
            share=reading.share, top_tokens=reading.tokens,
            example_prompts=tuple(row["example_prompts"])))
    return found


def _first_state_feature(rows: list[dict], state: str, planted: Planted,
                         top_tokens: Callable[[str], list[str]]
                         ) -> tuple[int, dict, str, StateReading] | None:
    for rank, row in enumerate(rows, start=1):
        for key in row["features"]:
            reading = read_state(top_tokens(key), planted)
            if reading.state == state and reading.share >= MIN_SHARE:
                return rank, row, key, reading
    return None
