"""Output tokens: chunked top-k of W_dec @ W_U equals the full product's sort."""

from __future__ import annotations

import numpy as np
import pytest

from atlas.errors import InputError
from atlas.features.output_tokens import compute_output_tokens, output_token_table


def test_chunked_top_k_equals_full_sort() -> None:
    rng = np.random.default_rng(0)
    w_dec, w_u = rng.normal(size=(37, 16)), rng.normal(size=(16, 300))
    out = compute_output_tokens(w_dec, w_u, k=7, chunk_size=5, dtype="float64")
    logits = w_dec @ w_u
    order = np.argsort(-logits, axis=1)
    assert out.pos_ids.tolist() == order[:, :7].tolist()
    assert out.neg_ids.tolist() == order[:, ::-1][:, :7].tolist()
    np.testing.assert_allclose(out.pos_values, np.take_along_axis(logits, order[:, :7], 1),
                               rtol=1e-6)
    assert (out.neg_values < 0).all() and (np.diff(out.neg_values, axis=1) >= 0).all()


def test_shapes_must_chain() -> None:
    with pytest.raises(InputError, match="do not chain"):
        compute_output_tokens(np.zeros((3, 4)), np.zeros((5, 10)))


def test_table_rows() -> None:
    rng = np.random.default_rng(1)
    out = compute_output_tokens(rng.normal(size=(3, 4)), rng.normal(size=(4, 9)), k=2)
    table = output_token_table("r", "ts", 2, np.array([10, 11, 12]), out, lambda t: f"<{t}>")
    assert table.num_rows == 3 * 2 * 2
    rows = table.to_pylist()
    first = [r for r in rows if r["feature"] == 11 and r["sign"] == 1 and r["rank"] == 0][0]
    assert first["token_id"] == out.pos_ids[1, 0] and first["token"] == f"<{out.pos_ids[1, 0]}>"
    with pytest.raises(InputError, match="feature indices"):
        output_token_table("r", "ts", 2, np.array([1]), out, str)
