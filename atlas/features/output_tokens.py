"""Output tokens of features: the logits a decoder direction raises and lowers most, via W_U.

For a cross-layer transcoder the caller passes each feature's decoder rows summed over the
layers it writes to (the direction it adds to the final residual stream). No final norm is
applied: the values are the direct logit effects of a unit activation, as Neuronpedia shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pyarrow as pa

from atlas.errors import InputError
from atlas.stores.duckdb_store import transaction

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class OutputTokens:
    """Top-k positive and negative logit effects of a block of features."""

    pos_ids: np.ndarray
    """[n_features k] int64: token ids, strongest increase first."""
    pos_values: np.ndarray
    """[n_features k] float32: their logit effects."""
    neg_ids: np.ndarray
    """[n_features k] int64: token ids, strongest decrease first."""
    neg_values: np.ndarray
    """[n_features k] float32: their (negative) logit effects."""


def compute_output_tokens(w_dec: Any, w_u: Any, k: int = 10, chunk_size: int = 256,
                          device: str = "cpu", dtype: str = "float32") -> OutputTokens:
    """Top-k of `w_dec @ w_u` per feature, a chunk of features at a time.

    w_dec: [n_features d_model] (torch tensor or numpy array); w_u: [d_model d_vocab].
    Memory is `chunk_size * d_vocab` values at a time.
    """
    import torch

    dt = getattr(torch, dtype)
    w_dec = torch.as_tensor(w_dec).to(device=device, dtype=dt)
    w_u = torch.as_tensor(w_u).to(device=device, dtype=dt)
    if w_dec.ndim != 2 or w_u.ndim != 2 or w_dec.shape[1] != w_u.shape[0]:
        raise InputError(f"W_dec {tuple(w_dec.shape)} and W_U {tuple(w_u.shape)} do not chain as "
                         "[n_features d_model] @ [d_model d_vocab]; pass W_U unembedding-first")
    k = min(k, w_u.shape[1])
    parts: dict[str, list[np.ndarray]] = {"pi": [], "pv": [], "ni": [], "nv": []}
    with torch.no_grad():
        for start in range(0, w_dec.shape[0], chunk_size):
            logits = w_dec[start:start + chunk_size] @ w_u
            top = torch.topk(logits, k, dim=1)
            low = torch.topk(logits, k, dim=1, largest=False)
            parts["pi"].append(top.indices.cpu().numpy())
            parts["pv"].append(top.values.float().cpu().numpy())
            parts["ni"].append(low.indices.cpu().numpy())
            parts["nv"].append(low.values.float().cpu().numpy())
    cat = {key: (np.concatenate(v) if v else np.zeros((0, k))) for key, v in parts.items()}
    return OutputTokens(cat["pi"].astype(np.int64), cat["pv"].astype(np.float32),
                        cat["ni"].astype(np.int64), cat["nv"].astype(np.float32))


def output_token_table(run: str, transcoder_set: str, layer: int, features: np.ndarray,
                       out: OutputTokens, decode: Callable[[int], str]) -> pa.Table:
    """The rows of feature_output_tokens for `features` ([n_features] int, rows of `out`)."""
    features = np.asarray(features, dtype=np.int64)
    if out.pos_ids.shape[0] != features.size:
        raise InputError(f"{features.size} feature indices for {out.pos_ids.shape[0]} rows of "
                         "output tokens; pass one index per decoder row")
    k = out.pos_ids.shape[1]
    ids = np.concatenate([out.pos_ids, out.neg_ids], axis=1)
    values = np.concatenate([out.pos_values, out.neg_values], axis=1)
    sign = np.repeat(np.array([1, -1], dtype=np.int8), k)
    rank = np.tile(np.arange(k, dtype=np.int16), 2)
    n = features.size
    flat_ids = ids.reshape(-1)
    decoded = {t: decode(t) for t in np.unique(flat_ids).tolist()}
    strings = [decoded[t] for t in flat_ids.tolist()]
    return pa.table({
        "run": pa.array([run] * flat_ids.size, pa.string()),
        "transcoder_set": pa.array([transcoder_set] * flat_ids.size, pa.string()),
        "layer": pa.array(np.full(flat_ids.size, layer, dtype=np.int16)),
        "feature": pa.array(np.repeat(features, 2 * k).astype(np.int32)),
        "sign": pa.array(np.tile(sign, n)),
        "rank": pa.array(np.tile(rank, n)),
        "token_id": pa.array(flat_ids.astype(np.int32)),
        "token": pa.array(strings, pa.string()),
        "value": pa.array(values.reshape(-1).astype(np.float32)),
    })


_DELETE_OUTPUTS = ("DELETE FROM feature_output_tokens WHERE run = ? AND transcoder_set = ? "
                   "AND layer = ? AND feature IN (SELECT DISTINCT feature FROM _output_tokens)")


def write_output_tokens(con: "duckdb.DuckDBPyConnection", run: str, transcoder_set: str,
                        layer: int, features: np.ndarray, out: OutputTokens,
                        decode: Callable[[int], str]) -> int:
    """Replace the output tokens of `features` of a layer (one transaction); returns rows."""
    rows = output_token_table(run, transcoder_set, layer, features, out, decode)
    con.register("_output_tokens", rows)
    try:
        with transaction(con):
            con.execute(_DELETE_OUTPUTS, [run, transcoder_set, layer])
            con.execute("INSERT INTO feature_output_tokens SELECT * FROM _output_tokens")
    finally:
        con.unregister("_output_tokens")
    return rows.num_rows
