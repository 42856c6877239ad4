"""The batched activation pass: every transcoder feature activation of every token of a batch.

Prompts are right-padded, so real positions see exactly the attention they would see alone;
padding positions and the BOS position (zeroed in graphs too) are dropped from the output.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import pyarrow as pa
import torch

from atlas.attribution.frozen import norm_scale, normalized
from atlas.models.loading import LoadedModel
from atlas.transcoders.model import TranscoderSet

ACTIVATION_COLUMNS = ("run", "prompt_id", "position", "token_id", "layer", "feature",
                      "activation")


@contextlib.contextmanager
def _capture_inputs(model: LoadedModel, tset: TranscoderSet) -> Iterator[dict[int, torch.Tensor]]:
    """Capture each layer's transcoder input at its site (mlp.hook_in, hook_resid_mid or
    ln2.hook_normalized), as a plain forward pass computes it."""
    adapter, site, store = model.adapter, tset.config.input_hook, {}
    kind = adapter.spec.norm_kind
    handles = []

    def after(layer: int):
        def hook(_module, _args, out):
            store[layer] = out[0] if isinstance(out, tuple) else out
        return hook

    def before(layer: int):
        def hook(module, args):
            x = args[0]
            store[layer] = x if site == "hook_resid_mid" else \
                normalized(kind, x, norm_scale(kind, module, x))
        return hook

    try:
        for layer in range(adapter.n_layers):
            norm = adapter.pre_mlp_norm(layer)
            handles.append(norm.register_forward_hook(after(layer)) if site == "mlp.hook_in"
                           else norm.register_forward_pre_hook(before(layer)))
        yield store
    finally:
        for handle in handles:
            handle.remove()


def pad_batch(token_ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and attention mask, both [batch pos]."""
    width = max(len(ids) for ids in token_ids)
    ids = torch.full((len(token_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(token_ids), width), dtype=torch.long)
    for row, seq in enumerate(token_ids):
        ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, :len(seq)] = 1
    return ids, mask


@torch.no_grad()
def batch_activations(model: LoadedModel, tset: TranscoderSet, run: str, prompt_ids: list[str],
                      token_ids: list[list[int]], skip_positions: int = 1
                      ) -> tuple[pa.Table, list[bool]]:
    """Non-zero activations of a batch of prompts, and per prompt whether it had NaN or inf.

    Prompts with a non-finite activation contribute no rows (they are counted as errors).
    """
    ids, mask = pad_batch(token_ids, pad_id=token_ids[0][0])
    ids, mask = ids.to(model.device), mask.to(model.device)
    with _capture_inputs(model, tset) as inputs:
        model.model(input_ids=ids, attention_mask=mask, use_cache=False)
    valid = mask.bool()
    valid[:, :skip_positions] = False
    bad = torch.zeros(len(token_ids), dtype=torch.bool, device=model.device)
    parts: list[tuple[torch.Tensor, int, torch.Tensor]] = []
    for layer in range(tset.n_layers):
        acts = tset.encode(layer, inputs[layer])                   # [batch pos d_transcoder]
        finite = torch.isfinite(acts).all(-1) | ~valid             # [batch pos]
        bad |= ~finite.all(-1)
        acts = acts * valid[..., None]
        nz = acts.nonzero()                                        # [n 3]: batch, pos, feature
        parts.append((nz, layer, acts[nz[:, 0], nz[:, 1], nz[:, 2]]))
    keep = ~bad
    columns: dict[str, list[np.ndarray]] = {name: [] for name in ACTIVATION_COLUMNS}
    names = np.array(prompt_ids, dtype=object)
    for nz, layer, values in parts:
        rows = keep[nz[:, 0]]
        nz, values = nz[rows].cpu(), values[rows].float().cpu()
        b, p = nz[:, 0].numpy(), nz[:, 1].numpy()
        columns["prompt_id"].append(names[b])
        columns["position"].append(p.astype(np.int32))
        columns["token_id"].append(ids.cpu().numpy()[b, p].astype(np.int32))
        columns["layer"].append(np.full(len(b), layer, dtype=np.int16))
        columns["feature"].append(nz[:, 2].numpy().astype(np.int32))
        columns["activation"].append(values.numpy().astype(np.float32))
    n = sum(len(a) for a in columns["prompt_id"])
    table = pa.table({
        "run": pa.array(np.full(n, run, dtype=object), pa.string()),
        "prompt_id": pa.array(np.concatenate(columns["prompt_id"]) if n else [], pa.string()),
        **{name: pa.array(np.concatenate(columns[name])) if n else pa.array([], dtype)
           for name, dtype in (("position", pa.int32()), ("token_id", pa.int32()),
                               ("layer", pa.int16()), ("feature", pa.int32()),
                               ("activation", pa.float32()))}})
    return table, bad.cpu().tolist()
