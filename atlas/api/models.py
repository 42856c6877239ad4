"""Wire models of the HTTP API: every response and request body forbids unknown fields."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

T = TypeVar("T")


class Strict(BaseModel):
    """Base of every wire model: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(Strict):
    """Every error response: one line, never a stack trace."""

    error: str


class Page(Strict, Generic[T]):
    """One page of a list; ask for `next_offset` to get the next one."""

    results: list[T]
    offset: int
    limit: int
    has_more: bool
    next_offset: int | None


class SearchHit(Strict):
    """A feature found by words or by meaning."""

    feature: str
    label: str | None
    layer: int
    index: int
    score: float


class ExampleHit(Strict):
    """A feature found by examples: it fires more on the example texts than on the baseline."""

    feature: str
    layer: int
    index: int
    score: float
    mean_examples: float
    mean_baseline: float
    frac_examples_active: float


class Circuit(Strict):
    """A recurring path of features (row of the recurring-circuits query)."""

    features: list[str]
    labels: list[str | None]
    length: int
    token: int | None
    support: int
    mean_weight: float
    mean_abs_weight: float
    example_prompts: list[str]


class CircuitPrompt(Strict):
    """A prompt containing a circuit (row of the circuit-prompts query)."""

    prompt_id: str
    run: str
    text: str | None
    hop_weights: list[float]
    total_abs_weight: float


class PromptSummary(Strict):
    """A prompt with a stored graph."""

    prompt_id: str
    run: str
    text: str | None
    n_tokens: int | None


class RunInfo(Strict):
    """An ingestion run and its progress (shards by state)."""

    name: str
    state: str
    n_shards: int
    by_state: dict[str, int]
    n_graphs: int
    n_tokens: int
    n_errors: int
    created_at: dt.datetime
    """UTC, with its offset (RFC 3339)."""

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        """SQLite hands back the catalog's UTC times without their offset: put it back."""
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


class ParamInfo(Strict):
    """A declared parameter of a named query."""

    name: str
    type: str
    nullable: bool
    required: bool
    default: Any
    help: str


class ColumnInfo(Strict):
    """A declared result column of a named query."""

    name: str
    type: str
    help: str


class QueryInfo(Strict):
    """A named query: what it does, its parameters and columns."""

    name: str
    summary: str
    params: list[ParamInfo]
    columns: list[ColumnInfo]


class QueryRequest(Strict):
    """Body of POST /api/queries/{name}: parameter values (never Cypher)."""

    params: dict[str, Any] = Field(default_factory=dict)


class QueryResult(Strict):
    """Rows of a named query keyed by its declared columns."""

    query: str
    columns: list[str]
    rows: list[dict[str, Any]]


class LabelRequest(Strict):
    """Body of PUT /api/features/{key}/label."""

    label: str = Field(min_length=1, max_length=500)


class LabelResult(Strict):
    """The label now stored on a feature."""

    feature: str
    label: str
    source: str


class Health(Strict):
    """Liveness of the API process (touches no store)."""

    status: str
    version: str
    writes_enabled: bool
