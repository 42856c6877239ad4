"""Reading the demo's planted-structure files (planted.json, prompts.jsonl) via strict models."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from atlas.errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TwoHop(_Strict):
    """The two-hop task: city -> state (first hop) -> capital (second hop)."""

    template: str
    first_hop: dict[str, str]
    second_hop: dict[str, str]
    answers: dict[str, str]
    held_out_cities: list[str]
    validation_cities: list[str]


class Induction(_Strict):
    """The induction task's alphabet and run length."""

    symbols: list[str]
    template: str
    run_length: int


class Planted(_Strict):
    """Everything planted in a demo corpus (planted.json)."""

    fingerprint: str
    config: dict
    two_hop: TwoHop
    induction: Induction

    def intermediate(self, city: str) -> str:
        """The state the model must compute for `city`'s two-hop prompt."""
        return self.two_hop.first_hop[city]


class PromptRecord(_Strict):
    """One line of prompts.jsonl (mirrors atlas.demo.corpus.Query)."""

    task: str
    prompt: str
    answer: str
    split: str
    subject: str | None = None
    intermediate: str | None = None


def load_planted(folder: str | Path) -> Planted:
    """The planted structure stored in a demo folder."""
    path = Path(folder) / "planted.json"
    try:
        return Planted.model_validate_json(path.read_text())
    except OSError as e:
        raise InputError(f"cannot read {path}: {e}; build the demo: python -m atlas.demo DIR") \
            from e
    except ValidationError as e:
        raise InputError(f"{path} is not a planted-structure file "
                         f"({e.error_count()} errors); rebuild the demo") from e


def load_prompts(folder: str | Path, task: str | None = None) -> list[PromptRecord]:
    """The evaluation prompts of a demo folder, optionally only those of one task."""
    path = Path(folder) / "prompts.jsonl"
    try:
        lines = path.read_text().splitlines()
        records = [PromptRecord.model_validate(json.loads(line)) for line in lines if line]
    except OSError as e:
        raise InputError(f"cannot read {path}: {e}; build the demo: python -m atlas.demo DIR") \
            from e
    except (ValidationError, json.JSONDecodeError) as e:
        raise InputError(f"{path} holds an invalid prompt record; rebuild the demo") from e
    return [r for r in records if task is None or r.task == task]
