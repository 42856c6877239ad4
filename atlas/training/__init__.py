"""Transcoder training (PLT and CLT) on a local HF model's MLP inputs and outputs.

    TrainConfig(kind, d_transcoder, activation, k, l1, steps, batch_tokens, lr, skip, seed, ...)
    train_transcoders(model_dir, corpus, out_dir, config, device=None, dtype=None,
                      resume=False, progress=None) -> TrainReport      (atlas.training.loop)

Modules: config (TrainConfig), data (corpus reading, ActivationBuffer), module
(TrainableTranscoders: activations, loss, export), checkpoint (atomic save/resume), loop.
Nothing here is imported eagerly so `atlas --help` stays free of torch.
"""
