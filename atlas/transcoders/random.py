"""Seeded random transcoder sets for tests and benchmarks (untrained: shapes and sparsity only)."""

from __future__ import annotations

import torch

from atlas.transcoders.model import TranscoderConfig, TranscoderSet


def random_transcoders(n_layers: int, d_model: int, d_transcoder: int, kind: str = "plt",
                       activation: str = "relu", skip: bool = False, top_k: int | None = None,
                       input_hook: str = "mlp.hook_in", output_hook: str = "hook_mlp_out",
                       seed: int = 0, enc_bias: float = -0.3,
                       scan: str = "random") -> TranscoderSet:
    """A random set; a negative encoder bias keeps roughly a few percent of features active."""
    gen = torch.Generator().manual_seed(seed)
    config = TranscoderConfig(kind=kind, n_layers=n_layers, d_model=d_model,
                              d_transcoder=d_transcoder, activation=activation, top_k=top_k,
                              skip=skip, input_hook=input_hook, output_hook=output_hook, scan=scan)

    def randn(*shape: int, scale: float) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * scale

    W_enc = [randn(d_transcoder, d_model, scale=d_model ** -0.5) for _ in range(n_layers)]
    b_enc = [torch.full((d_transcoder,), enc_bias) + randn(d_transcoder, scale=0.05)
             for _ in range(n_layers)]
    n_out = [1 if kind == "plt" else n_layers - i for i in range(n_layers)]
    W_dec = [randn(d_transcoder, n_out[i], d_model, scale=0.3 * d_transcoder ** -0.5)
             for i in range(n_layers)]
    b_dec = [randn(d_model, scale=0.02) for _ in range(n_layers)]
    threshold = ([torch.rand(d_transcoder, generator=gen) * 0.2 for _ in range(n_layers)]
                 if activation == "jumprelu" else None)
    W_skip = [randn(d_model, d_model, scale=0.1 * d_model ** -0.5) for _ in range(n_layers)] \
        if skip else None
    return TranscoderSet(config, W_enc, b_enc, W_dec, b_dec, threshold, W_skip)


def calibrate_sparsity(tset: TranscoderSet, mlp_in: torch.Tensor, rate: float) -> TranscoderSet:
    """Set each layer's encoder bias so about `rate` of (token, feature) pairs are active on
    `mlp_in` [n_layers n_tokens d_model] (transcoder inputs, e.g. from capture_mlp_io)."""
    b_enc = []
    for layer in range(tset.n_layers):
        pre = mlp_in[layer].to(tset.dtype) @ tset.W_enc[layer].T
        cut = torch.quantile(pre.flatten().float()[:1_000_000], 1.0 - rate)
        b_enc.append(torch.full_like(tset.b_enc[layer], -float(cut)))
    return TranscoderSet(tset.config, tset.W_enc, b_enc, tset.W_dec, tset.b_dec,
                         tset.threshold, tset.W_skip)
