-- Feature statistics of transcoder features over a run's corpus, merged shard by shard.
-- A feature is (transcoder_set, layer, feature); every table also carries `run`, so the
-- features of several runs coexist. Maintained by atlas.features.merge (see docs/features.md).

-- One row per (run, transcoder_set): corpus totals and the settings its statistics were built
-- with (a later shard must use the same settings, or the merged numbers would mean nothing).
CREATE TABLE feature_runs (
    run TEXT NOT NULL,
    transcoder_set TEXT NOT NULL,
    n_prompts BIGINT NOT NULL,
    n_tokens BIGINT NOT NULL,
    top_k INTEGER NOT NULL,
    ctx_left INTEGER NOT NULL,
    ctx_right INTEGER NOT NULL,
    samples_per_bin INTEGER NOT NULL,
    sample_seed BIGINT NOT NULL,
    hist_log10_min DOUBLE NOT NULL,
    hist_log10_max DOUBLE NOT NULL,
    hist_bins_per_decade INTEGER NOT NULL,
    PRIMARY KEY (run, transcoder_set)
);

-- Shards already merged; re-adding one of them is a no-op.
CREATE TABLE feature_merged_shards (
    run TEXT NOT NULL,
    transcoder_set TEXT NOT NULL,
    shard_id TEXT NOT NULL,
    n_prompts BIGINT NOT NULL,
    n_tokens BIGINT NOT NULL,
    n_records BIGINT NOT NULL,
    merged_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (run, transcoder_set, shard_id)
);

-- Running sums of each feature's non-zero activations.
CREATE TABLE feature_stats (
    run TEXT NOT NULL,
    transcoder_set TEXT NOT NULL,
    layer SMALLINT NOT NULL,
    feature INTEGER NOT NULL,
    n_active BIGINT NOT NULL,
    sum_act DOUBLE NOT NULL,
    sum_sq_act DOUBLE NOT NULL,
    max_act REAL NOT NULL,
    min_act REAL NOT NULL,
    PRIMARY KEY (run, transcoder_set, layer, feature)
);

-- Counts of non-zero activations per log-spaced bin (edges in feature_runs; bin 0 holds
-- values below 10^hist_log10_min, the last bin values at or above 10^hist_log10_max).
CREATE TABLE feature_histogram (
    run TEXT NOT NULL,
    transcoder_set TEXT NOT NULL,
    layer SMALLINT NOT NULL,
    feature INTEGER NOT NULL,
    bin SMALLINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (run, transcoder_set, layer, feature, bin)
);

-- The top_k activating tokens of each feature (ties broken by prompt_id, then position), with
-- the context window around each: token ids (and strings when the prompts carried them) from
-- ctx_start on, and the feature's non-zero activations in the window as offsets from ctx_start
-- (offsets and values are parallel, in no particular order).
CREATE TABLE feature_top_examples (
    run TEXT NOT NULL,
    transcoder_set TEXT NOT NULL,
    layer SMALLINT NOT NULL,
    feature INTEGER NOT NULL,
    prompt_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    activation REAL NOT NULL,
    ctx_start INTEGER NOT NULL,
    ctx_token_ids INTEGER[] NOT NULL,
    ctx_tokens TEXT[],
    ctx_offsets INTEGER[] NOT NULL,
    ctx_values REAL[] NOT NULL
);

-- A deterministic sample of each feature's activations: per histogram bin, the
-- samples_per_bin tokens of smallest priority (a seeded hash of prompt_id and position), so
-- the sample does not depend on shard order. Quantile buckets are cut from it when read.
CREATE TABLE feature_sample_examples (
    run TEXT NOT NULL,
    transcoder_set TEXT NOT NULL,
    layer SMALLINT NOT NULL,
    feature INTEGER NOT NULL,
    bin SMALLINT NOT NULL,
    priority UBIGINT NOT NULL,
    prompt_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    activation REAL NOT NULL,
    ctx_start INTEGER NOT NULL,
    ctx_token_ids INTEGER[] NOT NULL,
    ctx_tokens TEXT[],
    ctx_offsets INTEGER[] NOT NULL,
    ctx_values REAL[] NOT NULL
);

-- Tokens whose logits a feature's decoder direction raises (sign 1) or lowers (sign -1) most,
-- through the unembedding; rank 0 is the strongest.
CREATE TABLE feature_output_tokens (
    run TEXT NOT NULL,
    transcoder_set TEXT NOT NULL,
    layer SMALLINT NOT NULL,
    feature INTEGER NOT NULL,
    sign TINYINT NOT NULL,
    rank SMALLINT NOT NULL,
    token_id INTEGER NOT NULL,
    token TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (run, transcoder_set, layer, feature, sign, rank)
);
