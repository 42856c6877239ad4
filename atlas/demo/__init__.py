"""The planted-circuit demo: a synthetic corpus with known two-hop structure and a tiny model.

    build_corpus(seed=0, config: CorpusConfig | None = None) -> Corpus      (atlas.demo.corpus)
    build_tokenizer(vocab) -> PreTrainedTokenizerFast                       (atlas.demo.tokenizer)
    train_tiny_model(corpus, out_dir, seed=0, progress=None,
                     config: TinyModelConfig | None = None) -> TinyModelReport  (atlas.demo.model)
    load_planted(folder) -> Planted; load_prompts(folder, task=None)        (atlas.demo.planted)
    state_features(model_dir, transcoder_dir) -> list[StateFeature]        (atlas.demo.probe)
    answer_circuits(driver, config, answers, token_ids) -> {answer: paths}
                                                                   (atlas.demo.intermediate)
    find_intermediates(circuits, answers, planted, top_tokens) -> list[IntermediateFinding]

Command line: `python -m atlas.demo OUT_DIR [--seed N] [--steps N] [--threads N]`.
Nothing is imported eagerly (torch and transformers load on first use).
"""
