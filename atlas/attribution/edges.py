"""Direct-effect rows from gradients at the sources, computed on the device, only needed columns.

A row of A for one target is `<grad at source site, source vector>` for every source. For the
features of a source layer the decoder vectors are packed per position ([pos, max_count, d]) so
one batched matmul per (source layer, output layer) gives every feature's edge; circuit-tracer
instead materialises batch x active features x d_model per layer. Columns are laid out as
[active features][errors: layer-major, pos-minor][tokens].
"""

from __future__ import annotations

import torch

from atlas.attribution.context import PromptContext


class EdgeReader:
    """Turns source-site gradients into rows [batch n_columns] for one prompt."""

    def __init__(self, ctx: PromptContext, n_out: list[int]):
        self.ctx = ctx
        self.n_layers, self.n_pos = ctx.n_layers, ctx.n_pos
        self.n_features = ctx.n_features
        self.error_start = self.n_features
        self.token_start = self.error_start + self.n_layers * self.n_pos
        self.n_columns = self.token_start + self.n_pos
        self.n_out = n_out
        self.packed = [self._pack(layer) for layer in range(self.n_layers)]

    def _pack(self, layer: int):
        """(D_t [n_out pos d max_count], flat slot index [n_l]) or None for an empty layer."""
        lo, hi = self.ctx.layer_starts[layer], self.ctx.layer_starts[layer + 1]
        if hi == lo:
            return None
        pos = self.ctx.features[lo:hi, 1]
        dec = self.ctx.decoder_vecs[layer]  # [n_l n_out d]
        counts = torch.bincount(pos, minlength=self.n_pos)
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.arange(hi - lo, device=pos.device) - starts[pos]
        width = int(counts.max())
        packed = dec.new_zeros(self.n_pos, width, dec.shape[1], dec.shape[2])
        packed[pos, slot] = dec
        return packed.permute(2, 0, 3, 1).contiguous(), pos * width + slot

    def rows(self, g_embed: torch.Tensor | None, g_out: list[torch.Tensor | None],
             n_rows: int) -> torch.Tensor:
        """Rows [n_rows n_columns] (float32) from gradients [batch pos d_model] at the token
        embedding and at each layer's output site (None where no gradient reached)."""
        ref = next((g for g in [g_embed, *g_out] if g is not None), None)
        device = ref.device if ref is not None else self.ctx.token_vecs.device
        out = torch.zeros(n_rows, self.n_columns, device=device, dtype=torch.float32)
        if g_embed is not None:
            out[:, self.token_start:] = torch.einsum(
                "bpd,pd->bp", g_embed[:n_rows], self.ctx.token_vecs.to(g_embed.dtype)).float()
        for k, g in enumerate(g_out):
            if g is None:
                continue
            g = g[:n_rows]
            cols = slice(self.error_start + k * self.n_pos, self.error_start + (k + 1) * self.n_pos)
            out[:, cols] = torch.einsum("bpd,pd->bp", g,
                                        self.ctx.error_vecs[k].to(g.dtype)).float()
            gt = g.transpose(0, 1)  # [pos batch d]
            for layer in range(max(0, k - max(self.n_out) + 1), k + 1):
                packed = self.packed[layer]
                if packed is None or k - layer >= self.n_out[layer]:
                    continue
                dec_t, flat = packed
                r = torch.bmm(gt, dec_t[k - layer].to(g.dtype))  # [pos batch width]
                vals = r.permute(1, 0, 2).reshape(n_rows, -1)[:, flat]
                lo, hi = self.ctx.layer_starts[layer], self.ctx.layer_starts[layer + 1]
                out[:, lo:hi] += vals.float()
        return out
