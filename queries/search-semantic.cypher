// name: search-semantic
// summary: Features whose label embedding is nearest to a query embedding (vector index feature_embedding, cosine).
// param vector: list<float> -- query embedding (384 floats for all-MiniLM-L6-v2)
// param offset: int = 0 -- rows to skip (paging)
// param limit: int = 20 -- rows (one more is fetched to tell whether more exist)
// column feature: string -- feature key
// column label: string -- its label
// column layer: int -- its layer
// column index: int -- its index in the layer
// column score: float -- cosine similarity mapped to [0, 1]
CALL db.index.vector.queryNodes('feature_embedding', $offset + $limit + 1, $vector) YIELD node, score
RETURN node.key AS feature, node.label AS label, node.layer AS layer, node.index AS index, score
ORDER BY score DESC, feature
SKIP $offset LIMIT $limit + 1
