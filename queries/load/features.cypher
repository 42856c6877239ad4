// Loader: shared features, created once (rows sorted by key: one lock order for all loaders).
UNWIND $rows AS row
MERGE (f:Feature {key: row.key})
ON CREATE SET f.transcoder_set = row.transcoder_set, f.layer = row.layer, f.index = row.index,
              f.feature = row.feature
