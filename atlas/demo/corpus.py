"""The planted-circuit corpus: made-up facts with known two-hop structure plus an induction task.

World: `n_states` made-up states, each with a capital, and `n_cities` made-up cities spread
evenly over the states. Training text states one-hop facts ("X is in S", "the state containing X
is S", "the capital of S is C") and two-hop facts ("the capital of the state containing X is C")
for all but `held_out_per_state` cities per state; those cities' two-hop queries test composition
(the model has seen only their one-hop facts). Held-out cities alternate between the validation
split (used to pick the training checkpoint) and the test split (reported). The second task is
induction: a random run of symbols repeated, where the continuation is only predictable by
copying; its fresh evaluation runs are split the same way.

Everything is a pure function of the `CorpusConfig` (seed included).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from atlas.errors import InputError

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
FUNCTION_WORDS = ("the", "capital", "of", "state", "containing", "is", "in", ".", "copy", ":")
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr",
           "gr", "kl", "pl", "st", "tr", "sk")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
_CODAS = ("", "n", "r", "l", "s", "m", "th", "x")


@dataclass(frozen=True)
class CorpusConfig:
    """Sizes and seed of the planted corpus."""

    seed: int = 0
    """Seed of every random choice (names, fact assignment, held-out split, documents)."""
    n_states: int = 6
    """Number of states (intermediate entities); each has one capital (answer)."""
    cities_per_state: int = 8
    """Cities (subject entities) per state."""
    held_out_per_state: int = 3
    """Cities per state whose two-hop fact never appears in training text (composition test):
    the first goes to the validation split, the others to the test split."""
    n_symbols: int = 16
    """Size of the induction task's symbol alphabet."""
    induction_len: int = 5
    """Length of the random run that is repeated in an induction sequence."""
    n_documents: int = 20000
    """Training documents (one statement or induction sequence per line)."""
    induction_share: float = 0.35
    """Fraction of documents that are induction sequences."""
    n_eval_induction: int = 200
    """Held-out induction prompts (fresh random runs)."""

    @property
    def n_cities(self) -> int:
        return self.n_states * self.cities_per_state

    def fingerprint(self) -> str:
        """A short hash of the config, used to tell whether cached outputs are up to date."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class Query:
    """One evaluation prompt with its expected next token."""

    task: str
    """two_hop, one_hop_state, one_hop_capital or induction."""
    prompt: str
    """Prompt text (words separated by single spaces, no BOS)."""
    answer: str
    """The expected next word."""
    split: str
    """train (the statement is in the training text), validation or test (it is not)."""
    subject: str | None = None
    """The city (two-hop, one-hop state) or state (one-hop capital) asked about."""
    intermediate: str | None = None
    """For two-hop: the state that must be computed internally but is never named."""


@dataclass(frozen=True)
class Corpus:
    """A built corpus: the planted tables, training documents and evaluation queries."""

    config: CorpusConfig
    """The config it was built from."""
    city_state: dict[str, str]
    """city -> state (first hop)."""
    state_capital: dict[str, str]
    """state -> capital (second hop)."""
    held_out_cities: tuple[str, ...]
    """Cities whose two-hop fact is absent from the training text."""
    validation_cities: tuple[str, ...]
    """The held-out cities of the validation split (the rest are the test split)."""
    symbols: tuple[str, ...]
    """Induction alphabet."""
    documents: tuple[str, ...]
    """Training text, one document per line."""
    queries: tuple[Query, ...]
    """Evaluation prompts of every task."""

    @property
    def vocab(self) -> list[str]:
        """Every word of the corpus, special tokens first; a fixed order (token ids)."""
        return [*SPECIAL_TOKENS, *FUNCTION_WORDS, *sorted(self.state_capital),
                *sorted(self.state_capital.values()), *sorted(self.city_state), *self.symbols]

    def two_hop_answer(self, city: str) -> str:
        """The capital of the state containing `city`."""
        return self.state_capital[self.city_state[city]]

    def planted(self) -> dict:
        """The planted structure as plain JSON data (what the atlas should rediscover)."""
        return {
            "fingerprint": self.config.fingerprint(),
            "config": asdict(self.config),
            "two_hop": {
                "template": "the capital of the state containing {city} is",
                "first_hop": dict(sorted(self.city_state.items())),
                "second_hop": dict(sorted(self.state_capital.items())),
                "answers": {c: self.two_hop_answer(c) for c in sorted(self.city_state)},
                "held_out_cities": list(self.held_out_cities),
                "validation_cities": list(self.validation_cities),
            },
            "induction": {"symbols": list(self.symbols),
                          "template": "copy : s1 .. sN s1 .. s(N-1) -> sN",
                          "run_length": self.config.induction_len},
        }

    def write(self, folder: str | Path) -> Path:
        """Write corpus.jsonl (training text), prompts.jsonl (queries) and planted.json."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        _write_atomic(out / "corpus.jsonl",
                      "".join(json.dumps({"text": d}) + "\n" for d in self.documents))
        _write_atomic(out / "prompts.jsonl",
                      "".join(json.dumps(asdict(q)) + "\n" for q in self.queries))
        _write_atomic(out / "planted.json", json.dumps(self.planted(), indent=2) + "\n")
        return out


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _make_names(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    """`count` distinct pronounceable made-up words, none in `taken` (which grows)."""
    names: list[str] = []
    while len(names) < count:
        n_syll = rng.choice((2, 2, 3))
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(n_syll))
        word += rng.choice(_CODAS)
        if word not in taken and len(word) <= 10:
            taken.add(word)
            names.append(word)
    return names


def two_hop_prompt(city: str) -> str:
    return f"the capital of the state containing {city} is"


def _fact_statements(city_state: dict[str, str], state_capital: dict[str, str],
                     held_out: set[str]) -> list[str]:
    facts = []
    for city, state in city_state.items():
        facts += [f"{city} is in {state} .", f"the state containing {city} is {state} ."]
        if city not in held_out:
            facts.append(f"{two_hop_prompt(city)} {state_capital[state]} .")
    for state, capital in state_capital.items():
        facts += [f"the capital of {state} is {capital} ."] * 2
    return facts


def _induction(rng: random.Random, symbols: tuple[str, ...], length: int) -> list[str]:
    run = rng.sample(symbols, length)
    return ["copy", ":", *run, *run]


def _queries(config: CorpusConfig, city_state: dict[str, str], state_capital: dict[str, str],
             splits: dict[str, str], symbols: tuple[str, ...], rng: random.Random) -> list[Query]:
    out = []
    for city in sorted(city_state):
        state = city_state[city]
        out.append(Query("two_hop", two_hop_prompt(city), state_capital[state],
                         splits.get(city, "train"), city, state))
        out.append(Query("one_hop_state", f"{city} is in", state, "train", city))
    for state, capital in sorted(state_capital.items()):
        out.append(Query("one_hop_capital", f"the capital of {state} is", capital, "train",
                         state))
    for i in range(config.n_eval_induction):
        words = _induction(rng, symbols, config.induction_len)
        out.append(Query("induction", " ".join(words[:-1]), words[-1],
                         "validation" if i % 2 == 0 else "test"))
    return out


def build_corpus(seed: int = 0, config: CorpusConfig | None = None) -> Corpus:
    """Build the planted corpus deterministically from `config` (default sizes, given seed)."""
    config = config or CorpusConfig(seed=seed)
    if not 0 < config.held_out_per_state < config.cities_per_state:
        raise InputError(f"held_out_per_state={config.held_out_per_state} must be in 1.."
                         f"{config.cities_per_state - 1} (cities_per_state - 1) so that two-hop "
                         "facts are both trained and tested")
    rng = random.Random(config.seed)
    taken = set(FUNCTION_WORDS)
    states = _make_names(rng, config.n_states, taken)
    capitals = _make_names(rng, config.n_states, taken)
    cities = _make_names(rng, config.n_cities, taken)
    symbols = tuple(f"s{i}" for i in range(config.n_symbols))
    state_capital = dict(zip(states, capitals))
    city_state = {c: states[i % config.n_states] for i, c in enumerate(cities)}
    held_out: list[str] = []
    splits: dict[str, str] = {}
    for state in states:
        members = [c for c in cities if city_state[c] == state]
        chosen = rng.sample(members, config.held_out_per_state)
        held_out += chosen
        splits.update({c: "validation" if i == 0 else "test" for i, c in enumerate(chosen)})
    facts = _fact_statements(city_state, state_capital, set(held_out))
    documents = []
    for _ in range(config.n_documents):
        if rng.random() < config.induction_share:
            documents.append(" ".join(_induction(rng, symbols, config.induction_len)))
        else:
            documents.append(rng.choice(facts))
    queries = _queries(config, city_state, state_capital, splits, symbols, rng)
    validation = tuple(sorted(c for c, split in splits.items() if split == "validation"))
    return Corpus(config, city_state, state_capital, tuple(sorted(held_out)), validation,
                  symbols, tuple(documents), tuple(queries))
