// Loader: record a completely loaded shard (later loads of it are skipped at once).
MERGE (s:LoadedShard {key: $key})
ON CREATE SET s.run = $run, s.shard = $shard, s.prompts = $prompts, s.edges = $edges,
              s.loaded_at = datetime()
