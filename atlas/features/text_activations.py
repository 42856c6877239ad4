"""Each feature's largest activation over a text's tokens, for any texts, from the activation pass.

The per-token activations come from `ingest.activations.batch_activations` (the pass ingestion
runs over a corpus), so a text's numbers here are the numbers its prompt has in the feature store.
Columns are layer-major: column `layer * d_transcoder + index` is feature (layer, index), keyed
as everywhere else by `atlas.graphdb.keys.feature_key`.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from atlas.errors import InputError
from atlas.graphdb.keys import feature_key

log = logging.getLogger(__name__)


def feature_keys(transcoder_set: str, n_layers: int, d_transcoder: int) -> list[str]:
    """Keys of the n_features = n_layers * d_transcoder columns, layer-major."""
    return [feature_key(transcoder_set, layer, index)
            for layer in range(n_layers) for index in range(d_transcoder)]


def check_texts(texts: list[str]) -> None:
    """InputError unless there is at least one text and none is blank."""
    if not texts:
        raise InputError("no texts given; pass at least one non-empty text")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"text {i + 1} of {len(texts)} is empty; pass non-empty texts")


def tokenize_texts(tokenizer, texts: list[str], max_tokens: int) -> list[list[int]]:
    """Token ids of each text as ingestion makes them: BOS first, cut to `max_tokens` ids."""
    from atlas.models import encode_prompt

    check_texts(texts)
    return [encode_prompt(tokenizer, text)[:max_tokens].tolist() for text in texts]


def _fold(out: np.ndarray, rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
          n_positions: np.ndarray) -> None:
    """Write into out[rows] the max over positions of the sparse (row, col, value) entries.

    Entries absent from the sparse table are activations of exactly 0, so a feature that is
    not active at every position has max(0, its largest value) (this matters only for
    activations that can be negative, e.g. topk).
    """
    uniq, inverse = np.unique(rows, return_inverse=True)
    best = np.full((len(uniq), out.shape[1]), -np.inf, dtype=np.float32)
    count = np.zeros((len(uniq), out.shape[1]), dtype=np.int32)
    np.maximum.at(best, (inverse, cols), values)
    np.add.at(count, (inverse, cols), 1)
    partial = count < n_positions[uniq][:, None]
    best[partial] = np.maximum(best[partial], 0.0)
    out[uniq] = best


def max_activations(model, tset, token_ids: list[list[int]], batch: int = 16,
                    progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, list[bool]]:
    """Max activation of every feature over each text's tokens, BOS (position 0) excluded.

    model: atlas.models.LoadedModel; tset: atlas.transcoders.TranscoderSet on its device and
    dtype; token_ids: one id list per text, BOS first. Returns (acts [n_texts n_features]
    float32, whether each text had a NaN or inf activation — such a text's row is all 0).
    progress(n) is called after each batch with the number of texts it held.
    """
    from ingest.activations import batch_activations

    if batch < 1:
        raise InputError(f"batch={batch} must be at least 1")
    n_features = tset.n_layers * tset.d_transcoder
    out = np.zeros((len(token_ids), n_features), dtype=np.float32)
    n_positions = np.array([max(len(ids) - 1, 0) for ids in token_ids], dtype=np.int64)
    failed: list[bool] = []
    for lo in range(0, len(token_ids), batch):
        chunk = token_ids[lo:lo + batch]
        table, bad = batch_activations(model, tset, "", [str(lo + i) for i in range(len(chunk))],
                                       chunk)
        failed += bad
        if table.num_rows:
            rows = np.asarray(table["prompt_id"].to_pylist(), dtype=np.int64)
            cols = (table["layer"].to_numpy().astype(np.int64) * tset.d_transcoder
                    + table["feature"].to_numpy().astype(np.int64))
            _fold(out, rows, cols, table["activation"].to_numpy(), n_positions)
        if progress is not None:
            progress(len(chunk))
    if any(failed):
        log.warning("%d of %d texts had non-finite activations", sum(failed), len(failed))
    return out, failed
