"""Ranking features by how much more they fire on example texts than on a baseline corpus.

The activations come from the model runtime (another module); this module only ranks. Wire a
provider with `set_activation_provider(fn)`, fn(texts) -> [n_texts, n_features] max activation
of each feature over each text's tokens, plus the feature keys of its columns.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from atlas.errors import InputError

ActivationProvider = Callable[[list[str]], tuple[np.ndarray, list[str]]]
"""texts -> (activations [n_texts, n_features], feature keys of the columns)."""

_provider: list[ActivationProvider] = []


def set_activation_provider(fn: ActivationProvider | None) -> None:
    """Register the model runtime's activation function (None clears it)."""
    _provider.clear()
    if fn is not None:
        _provider.append(fn)


def activation_provider() -> ActivationProvider:
    """The registered provider; InputError when the model runtime has not registered one."""
    if not _provider:
        raise InputError("search --examples needs the model runtime to compute activations, and "
                         "none is registered; call atlas.graphdb.examples.set_activation_provider")
    return _provider[0]


def rank_by_examples(examples: np.ndarray, baseline: np.ndarray, keys: list[str],
                     top_k: int = 20, eps: float = 1e-6) -> list[dict]:
    """Features ranked by a z-score of their mean activation on examples against the baseline.

    examples: [n_examples, n_features], baseline: [n_baseline, n_features], each row a text's
    max activation per feature. score = (mean_ex - mean_base) / (std_base + eps) — features
    silent on the baseline but active on the examples rank first; ties by fraction of examples
    where the feature is active, then by key.
    """
    examples, baseline = np.asarray(examples, np.float64), np.asarray(baseline, np.float64)
    if examples.ndim != 2 or baseline.ndim != 2 or examples.shape[1] != baseline.shape[1]:
        raise InputError(f"activation shapes {examples.shape} and {baseline.shape} must be "
                         "[n_texts, n_features] with the same n_features")
    if examples.shape[1] != len(keys) or not len(examples) or not len(baseline):
        raise InputError(f"{len(keys)} feature keys for {examples.shape[1]} columns, "
                         f"{len(examples)} examples, {len(baseline)} baseline texts; need all > 0")
    mean_ex, mean_base = examples.mean(0), baseline.mean(0)
    score = (mean_ex - mean_base) / (baseline.std(0) + eps)
    active = (examples > 0).mean(0)
    order = sorted(range(len(keys)), key=lambda i: (-score[i], -active[i], keys[i]))[:top_k]
    return [{"feature": keys[i], "score": float(score[i]), "mean_examples": float(mean_ex[i]),
             "mean_baseline": float(mean_base[i]), "frac_examples_active": float(active[i])}
            for i in order]


def search_by_examples(texts: list[str], baseline_texts: list[str], top_k: int = 20) -> list[dict]:
    """Rank features for example texts against baseline texts with the registered provider."""
    provider = activation_provider()
    ex, keys = provider(texts)
    base, base_keys = provider(baseline_texts)
    if base_keys != keys:
        raise InputError("the activation provider returned different feature columns for the "
                         "examples and the baseline; it must use one feature order")
    return rank_by_examples(ex, base, keys, top_k)
