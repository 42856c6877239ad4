"""The Neo4j atlas: loading shards, named cross-prompt queries, finding features by concept."""
