// name: paths-between
// summary: Strongest aggregate paths from feature A to feature B, with the number of prompts containing each whole path.
// param source: string -- feature key of A
// param target: string -- feature key of B
// param max_hops: int = 3 -- most edges on a path (1 to 4)
// param min_prompts: int = 1 -- least support of every hop and of the whole path
// param limit: int = 10 -- rows
// column features: list<string> -- feature keys from A to B
// column hops: int -- number of edges
// column score: float -- product of the hops' mean weights (signed)
// column support: int -- prompts containing every hop
// column min_hop_support: int -- smallest hop support
// One branch per path length, so max_hops bounds the expansion itself; every hop must meet
// min_prompts and intermediate features sit below the target's layer (edges go up in layers).
MATCH (a:Feature {key: $source}), (b:Feature {key: $target})
CALL (a, b) {
  MATCH (a)-[r1:AGG]->(b)
  WHERE r1.support >= $min_prompts
  RETURN [a, b] AS fs, [r1] AS rs
  UNION ALL
  MATCH (a)-[r1:AGG]->(x1:Feature)-[r2:AGG]->(b)
  WHERE $max_hops >= 2 AND x1.layer < b.layer
    AND r1.support >= $min_prompts AND r2.support >= $min_prompts
  RETURN [a, x1, b] AS fs, [r1, r2] AS rs
  UNION ALL
  MATCH (a)-[r1:AGG]->(x1:Feature)-[r2:AGG]->(x2:Feature)-[r3:AGG]->(b)
  WHERE $max_hops >= 3 AND x1.layer < b.layer AND x2.layer < b.layer
    AND r1.support >= $min_prompts AND r2.support >= $min_prompts AND r3.support >= $min_prompts
  RETURN [a, x1, x2, b] AS fs, [r1, r2, r3] AS rs
  UNION ALL
  MATCH (a)-[r1:AGG]->(x1:Feature)-[r2:AGG]->(x2:Feature)-[r3:AGG]->(x3:Feature)-[r4:AGG]->(b)
  WHERE $max_hops >= 4 AND x1.layer < b.layer AND x2.layer < b.layer AND x3.layer < b.layer
    AND r1.support >= $min_prompts AND r2.support >= $min_prompts
    AND r3.support >= $min_prompts AND r4.support >= $min_prompts
  RETURN [a, x1, x2, x3, b] AS fs, [r1, r2, r3, r4] AS rs
}
// Ranked first (the score needs no prompt lists), then the whole-path support is counted in
// rank order only until `limit` paths pass: rows after the sort are pulled lazily.
WITH [n IN fs | n.key] AS features, rs, reduce(s = 1.0, r IN rs | s * r.sum / r.count) AS score
ORDER BY abs(score) DESC, features
WITH features, rs, score,
     reduce(acc = head(rs).prompts, r IN tail(rs) | [x IN r.prompts WHERE x IN acc]) AS ps
WHERE size(ps) >= $min_prompts
WITH features, size(rs) AS hops, score, size(ps) AS support,
     reduce(m = head(rs).support, r IN rs | CASE WHEN r.support < m THEN r.support ELSE m END) AS min_hop_support
LIMIT $limit
RETURN features, hops, score, support, min_hop_support
