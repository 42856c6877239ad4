// name: feature-neighborhood
// summary: Strongest upstream and downstream features of one feature across prompts (aggregate edges ranked by sum of |weight|).
// param feature: string -- feature key <transcoder_set>:<layer>:<index>
// param direction: choice(up|down|both) = "both" -- which neighbours
// param min_prompts: int = 1 -- least support of the aggregate edge
// param limit: int = 10 -- rows per direction
// column direction: string -- up (feeds the feature) or down (fed by it)
// column feature: string -- the neighbour's key
// column label: string -- its label
// column support: int -- prompts with a pruned edge between the two
// column count: int -- instance edges summed over prompts
// column mean_weight: float -- sum of weights / count
// column sum_abs: float -- sum of |weight|
// column min_weight: float -- smallest weight
// column max_weight: float -- largest weight
MATCH (f:Feature {key: $feature})
CALL (f) {
  MATCH (f)<-[r:AGG]-(n:Feature)
  WHERE $direction IN ['up', 'both'] AND r.support >= $min_prompts
  WITH n, r ORDER BY r.sum_abs DESC, n.key LIMIT $limit
  RETURN 'up' AS direction, n, r
  UNION ALL
  MATCH (f)-[r:AGG]->(n:Feature)
  WHERE $direction IN ['down', 'both'] AND r.support >= $min_prompts
  WITH n, r ORDER BY r.sum_abs DESC, n.key LIMIT $limit
  RETURN 'down' AS direction, n, r
}
RETURN direction, n.key AS feature, n.label AS label, r.support AS support, r.count AS count,
       r.sum / r.count AS mean_weight, r.sum_abs AS sum_abs, r.min AS min_weight,
       r.max AS max_weight
ORDER BY direction DESC, sum_abs DESC, feature
