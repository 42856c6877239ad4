"""Transcoder sets (PLT and CLT; ReLU, JumpReLU, TopK; optional skip) and their file formats.

    TranscoderConfig(kind, n_layers, d_model, d_transcoder, activation, top_k, skip,
                     input_hook, output_hook, scan)
    TranscoderSet(config, W_enc, b_enc, W_dec, b_dec, threshold=None, W_skip=None)
        .encode(layer, x) .pre_activation(layer, x) .skip(layer, x) .decode(acts, inputs)
        .validate_for_model(n_layers, d_model) .to(device, dtype)
    load_transcoders(folder, device=None, dtype=None) -> TranscoderSet
    save_transcoders(tset, folder) -> Path       (circuit-tracer layout, atomic)
    random_transcoders(...) -> TranscoderSet     (seeded, for tests and benchmarks)
    calibrate_sparsity(tset, mlp_in, rate) -> TranscoderSet  (encoder bias for a target sparsity)
"""

from atlas.transcoders.io import load_transcoders, save_transcoders
from atlas.transcoders.model import TranscoderConfig, TranscoderSet
from atlas.transcoders.random import calibrate_sparsity, random_transcoders

__all__ = ["TranscoderConfig", "TranscoderSet", "calibrate_sparsity", "load_transcoders",
           "random_transcoders",
           "save_transcoders"]
