// name: search-text
// summary: Features whose label or top-example text matches words (Neo4j full-text index feature_text), best first.
// param text: string -- Lucene query; plain words are escaped by atlas.graphdb.search
// param offset: int = 0 -- rows to skip (paging)
// param limit: int = 20 -- rows (one more is fetched to tell whether more exist)
// column feature: string -- feature key
// column label: string -- its label
// column layer: int -- its layer
// column index: int -- its index in the layer
// column score: float -- full-text relevance
CALL db.index.fulltext.queryNodes('feature_text', $text) YIELD node, score
RETURN node.key AS feature, node.label AS label, node.layer AS layer, node.index AS index, score
ORDER BY score DESC, feature
SKIP $offset LIMIT $limit + 1
