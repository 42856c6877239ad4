"""A feature card in Neuronpedia's feature JSON shape (the fields its feature page reads).

Field names follow Neuronpedia's `Feature` and `Activation` records (as its exporters and
SAEDashboard's converter write them): top and quantile examples as `activations` with tokens,
values, maxValue; output tokens as pos_str/pos_values and neg_str/neg_values; firing frequency
as frac_nonzero; the activation histogram as parallel bar values (bin centres) and heights.
"""

from __future__ import annotations

import math
from typing import Callable

from pydantic import BaseModel, ConfigDict, model_validator

from atlas.errors import InputError
from atlas.features.card import Example, FeatureCard


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NPActivation(_Model):
    """One example text of a feature."""

    tokens: list[str]
    values: list[float]
    maxValue: float
    maxValueTokenIndex: int
    minValue: float
    binMin: float | None = None
    """Quantile examples: lowest activation of their bucket; None for top examples."""
    binMax: float | None = None
    binContains: float | None = None
    """Quantile examples: share of the feature's activations in their bucket."""

    @model_validator(mode="after")
    def _parallel(self) -> "NPActivation":
        if len(self.tokens) != len(self.values):
            raise ValueError("tokens and values must have the same length")
        return self


class NPFeature(_Model):
    """A feature as Neuronpedia's feature page reads it."""

    modelId: str
    layer: str
    """Neuronpedia source id, `{layer}-{source set}`."""
    index: str
    sourceSetName: str
    maxActApprox: float
    frac_nonzero: float
    pos_str: list[str]
    pos_values: list[float]
    neg_str: list[str]
    neg_values: list[float]
    freq_hist_data_bar_heights: list[float]
    freq_hist_data_bar_values: list[float]
    activations: list[NPActivation]

    @model_validator(mode="after")
    def _parallel(self) -> "NPFeature":
        pairs = [("pos_str", "pos_values"), ("neg_str", "neg_values"),
                 ("freq_hist_data_bar_heights", "freq_hist_data_bar_values")]
        for a, b in pairs:
            if len(getattr(self, a)) != len(getattr(self, b)):
                raise ValueError(f"{a} and {b} must be parallel arrays")
        return self


def _tokens(example: Example, decode: Callable[[int], str] | None) -> list[str]:
    if decode is not None:
        return [decode(t) for t in example.token_ids]
    if example.tokens is None:
        raise InputError(f"example {example.prompt_id}:{example.position} has no token strings; "
                         "pass a tokenizer decode to the export")
    return list(example.tokens)


def _activation(example: Example, decode: Callable[[int], str] | None, **bins) -> NPActivation:
    values = example.values
    return NPActivation(tokens=_tokens(example, decode), values=values, maxValue=max(values),
                        maxValueTokenIndex=values.index(max(values)), minValue=min(values),
                        **bins)


def to_neuronpedia(card: FeatureCard, model_id: str, source_set: str | None = None,
                   decode: Callable[[int], str] | None = None) -> NPFeature:
    """Neuronpedia's shape of `card`; `source_set` defaults to the transcoder set name."""
    source_set = source_set or card.transcoder_set
    acts = [_activation(e, decode) for e in card.top_examples]
    for bucket in card.quantile_buckets:
        share = bucket.n_active / max(card.stats.n_active, 1)
        acts += [_activation(e, decode, binMin=bucket.act_lo, binMax=bucket.act_hi,
                             binContains=share) for e in bucket.examples]
    centres = [b.lo if b.hi is None else (math.sqrt(b.lo * b.hi) if b.lo > 0 else b.hi)
               for b in card.histogram]
    return NPFeature(
        modelId=model_id, layer=f"{card.layer}-{source_set}", index=str(card.feature),
        sourceSetName=source_set, maxActApprox=card.stats.max_act,
        frac_nonzero=card.stats.frac_active,
        pos_str=[t.token for t in card.output_pos], pos_values=[t.value for t in card.output_pos],
        neg_str=[t.token for t in card.output_neg], neg_values=[t.value for t in card.output_neg],
        freq_hist_data_bar_heights=[float(b.n) for b in card.histogram],
        freq_hist_data_bar_values=centres, activations=acts)
