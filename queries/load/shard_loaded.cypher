// Loader: is this shard already completely loaded?
OPTIONAL MATCH (s:LoadedShard {key: $key})
RETURN s IS NOT NULL AS loaded
