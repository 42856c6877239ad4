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
        """(packed decoders [n_out pos width d], flat slot index [n_l]) or None if empty."""
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
        return packed.permute(2, 0, 1, 3).contiguous(), pos * width + slot  # [n_out pos width d]

    def rows(self, g_embed: torch.Tensor | None, g_out: list[torch.Tensor | None],
             out: torch.Tensor) -> torch.Tensor:
        """Fill `out` [n_rows n_columns] (float32, zeroed) from gradients [batch pos d_model] at
        the token embedding and at each layer's output site (None where no gradient reached)."""
        n_rows = out.shape[0]
        if g_embed is not None:
            out[:, self.token_start:] = self._dot(g_embed[:n_rows], self.ctx.token_vecs).T
        for k, g in enumerate(g_out):
            if g is None:
                continue
            g_t = g[:n_rows].permute(1, 2, 0)  # [pos d batch]
            cols = slice(self.error_start + k * self.n_pos, self.error_start + (k + 1) * self.n_pos)
            out[:, cols] = self._dot(g[:n_rows], self.ctx.error_vecs[k]).T
            for layer in range(max(0, k - max(self.n_out) + 1), k + 1):
                packed = self.packed[layer]
                if packed is None or k - layer >= self.n_out[layer]:
                    continue
                dec, flat = packed
                r = torch.bmm(dec[k - layer].to(g.dtype), g_t)  # [pos width batch]
                vals = r.reshape(-1, n_rows).index_select(0, flat)  # [n_l batch]
                lo, hi = self.ctx.layer_starts[layer], self.ctx.layer_starts[layer + 1]
                out[:, lo:hi] += vals.T.float()
        return out

    @staticmethod
    def _dot(g: torch.Tensor, vecs: torch.Tensor) -> torch.Tensor:
        """<g[b, p], vecs[p]> as [pos batch], one small matmul per position batched."""
        return torch.bmm(g.transpose(0, 1), vecs.to(g.dtype)[:, :, None])[..., 0].float()
