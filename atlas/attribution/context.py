"""One prompt's sources: active features, their encoder/decoder vectors, errors, token vectors.

Built from one row of a pass of the replacement model (`ReplacementHooks`). Conventions follow
circuit-tracer: features and errors at positions < zero_positions (the BOS) are zeroed; error =
MLP output - reconstruction (b_dec and skip included); token vectors are the embedding output.
Features are in coalesced order (layer, pos, feature), so each layer's features are contiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from atlas.attribution.replacement import ReplacementHooks
from atlas.transcoders.model import TranscoderSet


@dataclass
class PromptContext:
    """Sources and constants of one prompt's local replacement model."""

    input_ids: torch.Tensor
    """Token ids [pos], BOS included."""
    features: torch.Tensor
    """Active features [n_features 3]: (layer, pos, feature index), coalesced order."""
    activations: torch.Tensor
    """Their activations [n_features]."""
    layer_starts: list[int]
    """Index of the first feature of each layer, plus n_features at the end."""
    encoder_vecs: torch.Tensor
    """W_enc rows of the active features [n_features d_model] (injected as gradients)."""
    decoder_vecs: list[torch.Tensor]
    """Per source layer l: activation-scaled decoder rows [n_features_l n_out_l d_model]."""
    error_vecs: torch.Tensor
    """MLP output minus reconstruction [n_layers pos d_model]."""
    token_vecs: torch.Tensor
    """Token-embedding output [pos d_model]."""
    tin: torch.Tensor
    """Transcoder inputs [n_layers pos d_model]."""
    mlp_out: torch.Tensor
    """True MLP outputs at the output site [n_layers pos d_model]."""
    final_last: torch.Tensor
    """Final-norm output at the last position [d_model]."""

    @property
    def n_layers(self) -> int:
        return self.error_vecs.shape[0]

    @property
    def n_pos(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.features.shape[0])


def build_context(hooks: ReplacementHooks, tset: TranscoderSet, input_ids: torch.Tensor,
                  zero_positions: int = 1, row: int = 0) -> PromptContext:
    """Collect the sources of batch row `row` from `hooks` after a forward pass whose row holds
    `input_ids` [pos] (right-padded rows: positions past len(input_ids) are ignored)."""
    n_layers, n = tset.n_layers, len(input_ids)
    tin = torch.stack([t[row, :n].detach() for t in hooks.tin])
    mlp_out = torch.stack([t[row, :n].detach() for t in hooks.mlp_true])
    acts = []
    feats, values, enc, dec, starts = [], [], [], [], [0]
    for layer in range(n_layers):
        a = tset.encode(layer, tin[layer])
        a[:zero_positions] = 0
        acts.append(a)
        nz = a.nonzero()
        pos, idx = nz[:, 0], nz[:, 1]
        val = a[pos, idx]
        feats.append(torch.stack([torch.full_like(pos, layer), pos, idx], 1))
        values.append(val)
        enc.append(tset.W_enc[layer][idx])
        dec.append(tset.W_dec[layer][idx] * val[:, None, None])
        starts.append(starts[-1] + len(idx))
    recon = tset.decode(acts, tin).to(mlp_out.dtype)
    errors = mlp_out - recon
    errors[:, :zero_positions] = 0
    return PromptContext(
        input_ids=input_ids, features=torch.cat(feats), activations=torch.cat(values),
        layer_starts=starts, encoder_vecs=torch.cat(enc), decoder_vecs=dec, error_vecs=errors,
        token_vecs=hooks.emb[row, :n].detach(), tin=tin, mlp_out=mlp_out,
        final_last=hooks.final[row, n - 1].detach())
