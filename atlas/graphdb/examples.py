"""Ranking features by how much more they fire on example texts than on a baseline corpus.

This module only ranks; the activations (each text's max activation per feature over its
tokens) are computed by atlas.features.text_activations, and atlas.features.by_examples runs the
whole search for a run.
"""

from __future__ import annotations

import numpy as np

from atlas.errors import InputError


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

