"""Random activations and prompts in the shard format, for tests and benchmarks (seeded)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def random_batch(rng: np.random.Generator, run: str, n_prompts: int, n_layers: int,
                 n_features: int, max_len: int = 24, density: float = 0.2,
                 tie_step: float | None = 0.25, vocab: int = 50) -> tuple[pa.Table, pa.Table]:
    """(activations, prompts) of `n_prompts` random prompts; ties are common with `tie_step`.

    Activations are heavy-tailed (lognormal); with `tie_step` they are rounded up to its
    multiples, so many tokens share a value and the tie-break decides.
    """
    act_cols: dict[str, list[np.ndarray]] = {k: [] for k in
                                            ("prompt_id", "position", "layer", "feature",
                                             "activation", "token_id")}
    ids, token_lists, token_strs = [], [], []
    for _ in range(n_prompts):
        pid = rng.bytes(6).hex()
        length = int(rng.integers(1, max_len + 1))
        toks = rng.integers(0, vocab, size=length).astype(np.int32)
        ids.append(pid)
        token_lists.append(toks.tolist())
        token_strs.append([f"t{t}" for t in toks])
        mask = rng.random((length, n_layers, n_features)) < density
        pos, layer, feat = np.nonzero(mask)
        act = rng.lognormal(mean=-0.5, sigma=1.2, size=pos.size)
        if tie_step:
            act = np.ceil(act / tie_step) * tie_step
        act_cols["prompt_id"].append(np.full(pos.size, pid, dtype=object))
        act_cols["position"].append(pos)
        act_cols["layer"].append(layer)
        act_cols["feature"].append(feat)
        act_cols["activation"].append(act)
        act_cols["token_id"].append(toks[pos])
    cat = {k: np.concatenate(v) if v else np.array([]) for k, v in act_cols.items()}
    n = len(cat["position"])
    activations = pa.table({
        "run": pa.array([run] * n, pa.string()),
        "prompt_id": pa.array(cat["prompt_id"].tolist(), pa.string()),
        "position": pa.array(cat["position"], pa.int32()),
        "token_id": pa.array(cat["token_id"], pa.int32()),
        "layer": pa.array(cat["layer"], pa.int16()),
        "feature": pa.array(cat["feature"], pa.int32()),
        "activation": pa.array(cat["activation"], pa.float32()),
    })
    prompts = pa.table({"run": [run] * n_prompts, "prompt_id": ids,
                        "token_ids": pa.array(token_lists, pa.list_(pa.int32())),
                        "tokens": token_strs})
    return activations, prompts
