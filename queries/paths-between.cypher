// name: paths-between
// summary: Strongest aggregate paths from feature A to feature B, with the number of prompts containing each whole path.
// param source: string -- feature key of A
// param target: string -- feature key of B
// param max_hops: int = 3 -- most edges on a path (at most 4)
// param min_prompts: int = 1 -- least support of every hop and of the whole path
// param limit: int = 10 -- rows
// column features: list<string> -- feature keys from A to B
// column hops: int -- number of edges
// column score: float -- product of the hops' mean weights (signed)
// column support: int -- prompts containing every hop
// column min_hop_support: int -- smallest hop support
MATCH (a:Feature {key: $source}), (b:Feature {key: $target})
MATCH path = (a)-[rs:AGG*1..4]->(b)
WHERE size(rs) <= $max_hops AND all(r IN rs WHERE r.support >= $min_prompts)
WITH path, rs, reduce(acc = head(rs).prompts, r IN tail(rs) | [x IN acc WHERE x IN r.prompts]) AS ps
WHERE size(ps) >= $min_prompts
WITH [n IN nodes(path) | n.key] AS features, size(rs) AS hops,
     reduce(s = 1.0, r IN rs | s * r.sum / r.count) AS score, size(ps) AS support,
     reduce(m = head(rs).support, r IN rs | CASE WHEN r.support < m THEN r.support ELSE m END) AS min_hop_support
RETURN features, hops, score, support, min_hop_support
ORDER BY abs(score) DESC, features
LIMIT $limit
