"""The catalog: what the atlas holds (models, transcoder sets, corpora, runs, shards)."""
