"""Ingestion jobs: corpora through the model into shards, the catalog and the stores."""
