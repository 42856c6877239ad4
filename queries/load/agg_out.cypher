// Loader: add a batch's feature -> output token contributions to the aggregate edge. Runs in the
// same transaction as the prompts it counts, so each prompt is counted exactly once.
UNWIND $rows AS a
MATCH (s:Feature {key: a.s})
MATCH (t:Token {key: a.t})
MERGE (s)-[r:AGG_OUT]->(t)
ON CREATE SET r.support = a.n, r.count = a.c, r.sum = a.sum, r.sum_abs = a.sa, r.sum_sq = a.sq,
              r.min = a.min, r.max = a.max, r.prompts = a.ps
ON MATCH SET r.support = r.support + a.n, r.count = r.count + a.c, r.sum = r.sum + a.sum,
             r.sum_abs = r.sum_abs + a.sa, r.sum_sq = r.sum_sq + a.sq,
             r.min = CASE WHEN a.min < r.min THEN a.min ELSE r.min END,
             r.max = CASE WHEN a.max > r.max THEN a.max ELSE r.max END,
             r.prompts = r.prompts + a.ps
