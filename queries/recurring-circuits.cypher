// name: recurring-circuits
// summary: Paths of features (optionally ending in an output token) present in at least min_prompts prompts, ranked by support then mean |weight|.
// param min_prompts: int = 3 -- a path counts in a prompt when every hop is a pruned edge there (positions collapsed)
// param min_length: int = 2 -- fewest features on a path (1 only with token)
// param max_length: int = 4 -- most features on a path (at most 4)
// param token: int? = null -- output token id the last feature must feed (feature -> logit edge)
// param prompts: list<string>? = null -- restrict to these prompt ids
// param examples: int = 3 -- example prompt ids per path
// param limit: int = 20 -- rows
// column features: list<string> -- feature keys along the path
// column labels: list<string> -- their labels (null when unlabelled)
// column length: int -- number of features
// column token: int -- the output token id, or null
// column support: int -- prompts containing the whole path
// column mean_weight: float -- mean over hops of each hop's mean weight across all prompts
// column mean_abs_weight: float -- mean over hops of each hop's mean |weight|
// column example_prompts: list<string> -- first prompt ids (by id) containing the path
//
// Apriori growth with a top-`limit` bound. Seeds are the last hop (feature -> feature, or
// feature -> the token); paths grow backwards one feature per level, keeping the prompts that
// contain every hop so far. Support only shrinks as a path grows, and only the `limit` best
// supports are returned, so a path (and every extension of it) is dropped as soon as its support
// is below the bound `b` = the limit-th best support among valid paths already counted (at least
// min_prompts). Each level first counts the `limit` candidates with the highest upper bound
// min(hop support, prefix support) to raise `b`, then counts only candidates whose upper bound
// reaches `b`. Ties at `b` are kept, so the answer equals the unbounded search.
WITH CASE WHEN $prompts IS NULL THEN null
          ELSE COLLECT { MATCH (p:Prompt) WHERE p.prompt_id IN $prompts RETURN p.pn } END AS scope,
     CASE WHEN $token IS NULL THEN 2 ELSE 1 END AS seed_len
WITH scope, seed_len,
     seed_len >= $min_length AND seed_len <= $max_length AS seeds_count
// Without a prompt scope a seed's support is its `support` property: read the bound from the
// index before touching any prompt list.
WITH scope, seed_len, seeds_count,
     COLLECT { MATCH ()-[r:AGG]->() WHERE $token IS NULL AND r.support >= $min_prompts
               RETURN r.support AS s ORDER BY s DESC LIMIT $limit
               UNION ALL
               MATCH ()-[r:AGG_OUT]->(:Token {token_id: $token}) WHERE r.support >= $min_prompts
               RETURN r.support AS s ORDER BY s DESC LIMIT $limit } AS top0
WITH scope, seed_len, seeds_count,
     CASE WHEN scope IS NULL AND seeds_count AND size(top0) >= $limit
          THEN COLLECT { UNWIND top0 AS s RETURN s ORDER BY s DESC LIMIT $limit }[-1]
          ELSE $min_prompts END AS b0
CALL (scope, b0) {
  MATCH (a:Feature)-[r:AGG]->(b:Feature)
  WHERE $token IS NULL AND r.support >= b0
  RETURN [a, b] AS fs, [r] AS hops, r.prompts AS ps0
  UNION ALL
  MATCH (b:Feature)-[r:AGG_OUT]->(:Token {token_id: $token})
  WHERE r.support >= b0
  RETURN [b] AS fs, [r] AS hops, r.prompts AS ps0
}
WITH seeds_count, b0, fs, hops,
     CASE WHEN scope IS NULL THEN ps0 ELSE [x IN ps0 WHERE x IN scope] END AS ps
WHERE size(ps) >= b0
WITH seeds_count, b0, collect({fs: fs, hops: hops, ps: ps}) AS seeds
WITH seeds, b0, CASE WHEN seeds_count THEN seeds ELSE [] END AS found
WITH seeds, found, b0,
     COLLECT { UNWIND found AS q RETURN size(q.ps) AS s ORDER BY s DESC LIMIT $limit } AS top
WITH seeds AS frontier, found, top,
     CASE WHEN size(top) >= $limit AND top[-1] > b0 THEN top[-1] ELSE b0 END AS b
// Three extension levels (paths of at most 4 features), each the same subquery.
CALL (frontier, found, top, b) {
  WITH [q IN frontier WHERE size(q.fs) < $max_length AND size(q.ps) >= b] AS live,
       found, top, b
  CALL (live, b) {
    UNWIND range(0, size(live) - 1) AS i
    WITH i, live[i].fs[0] AS h, size(live[i].ps) AS n
    MATCH (x:Feature)-[r:AGG]->(h) WHERE r.support >= b
    RETURN collect({i: i, x: x, r: r, ub: CASE WHEN r.support < n THEN r.support ELSE n END})
           AS cands
  }
  WITH cands, live, found, top, b,
       size(live) > 0 AND size(live[0].fs) + 1 >= $min_length AS counts
  WITH cands, live, found, top, b, counts,
       CASE WHEN counts THEN COLLECT {
         UNWIND cands AS c WITH c ORDER BY c.ub DESC LIMIT $limit
         CALL (c, live) { UNWIND c.r.prompts + live[c.i].ps AS x WITH x, count(*) AS n
                          WHERE n = 2 RETURN count(x) AS s }
         RETURN s } ELSE [] END AS probe
  WITH cands, live, found, counts, b,
       COLLECT { UNWIND top + probe AS s RETURN s ORDER BY s DESC LIMIT $limit } AS top1
  WITH cands, live, found, counts, top1,
       CASE WHEN size(top1) >= $limit AND top1[-1] > b THEN top1[-1] ELSE b END AS b1
  CALL (cands, live, b1) {
    UNWIND cands AS c
    WITH c, live[c.i] AS q WHERE c.ub >= b1
    CALL (c, q) { UNWIND c.r.prompts + q.ps AS x WITH x, count(*) AS n WHERE n = 2
                  RETURN collect(x) AS ps }
    WITH c, q, ps WHERE size(ps) >= b1
    RETURN collect({fs: [c.x] + q.fs, hops: [c.r] + q.hops, ps: ps}) AS next
  }
  WITH next, found, counts, b1,
       found + CASE WHEN counts THEN next ELSE [] END AS found2
  RETURN next AS frontier2, found2,
         COLLECT { UNWIND found2 AS q RETURN size(q.ps) AS s ORDER BY s DESC LIMIT $limit }
           AS top2, b1 AS b2
}
CALL (frontier2, found2, top2, b2) {
  WITH [q IN frontier2 WHERE size(q.fs) < $max_length AND size(q.ps) >= b2] AS live,
       found2 AS found, top2 AS top, b2 AS b
  CALL (live, b) {
    UNWIND range(0, size(live) - 1) AS i
    WITH i, live[i].fs[0] AS h, size(live[i].ps) AS n
    MATCH (x:Feature)-[r:AGG]->(h) WHERE r.support >= b
    RETURN collect({i: i, x: x, r: r, ub: CASE WHEN r.support < n THEN r.support ELSE n END})
           AS cands
  }
  WITH cands, live, found, top, b,
       size(live) > 0 AND size(live[0].fs) + 1 >= $min_length AS counts
  WITH cands, live, found, top, b, counts,
       CASE WHEN counts THEN COLLECT {
         UNWIND cands AS c WITH c ORDER BY c.ub DESC LIMIT $limit
         CALL (c, live) { UNWIND c.r.prompts + live[c.i].ps AS x WITH x, count(*) AS n
                          WHERE n = 2 RETURN count(x) AS s }
         RETURN s } ELSE [] END AS probe
  WITH cands, live, found, counts, b,
       COLLECT { UNWIND top + probe AS s RETURN s ORDER BY s DESC LIMIT $limit } AS top1
  WITH cands, live, found, counts, top1,
       CASE WHEN size(top1) >= $limit AND top1[-1] > b THEN top1[-1] ELSE b END AS b1
  CALL (cands, live, b1) {
    UNWIND cands AS c
    WITH c, live[c.i] AS q WHERE c.ub >= b1
    CALL (c, q) { UNWIND c.r.prompts + q.ps AS x WITH x, count(*) AS n WHERE n = 2
                  RETURN collect(x) AS ps }
    WITH c, q, ps WHERE size(ps) >= b1
    RETURN collect({fs: [c.x] + q.fs, hops: [c.r] + q.hops, ps: ps}) AS next
  }
  WITH next, found, counts, b1,
       found + CASE WHEN counts THEN next ELSE [] END AS found3
  RETURN next AS frontier3, found3,
         COLLECT { UNWIND found3 AS q RETURN size(q.ps) AS s ORDER BY s DESC LIMIT $limit }
           AS top3, b1 AS b3
}
CALL (frontier3, found3, top3, b3) {
  WITH [q IN frontier3 WHERE size(q.fs) < $max_length AND size(q.ps) >= b3] AS live,
       found3 AS found, b3 AS b
  CALL (live, b) {
    UNWIND live AS q
    WITH q, q.fs[0] AS h
    MATCH (x:Feature)-[r:AGG]->(h) WHERE r.support >= b
    CALL (q, r) { UNWIND r.prompts + q.ps AS p WITH p, count(*) AS n WHERE n = 2
                  RETURN collect(p) AS ps }
    WITH q, x, r, ps WHERE size(ps) >= b
    RETURN collect({fs: [x] + q.fs, hops: [r] + q.hops, ps: ps}) AS next
  }
  RETURN found + CASE WHEN size(live) > 0 AND size(live[0].fs) + 1 >= $min_length
                      THEN next ELSE [] END AS found4, b AS b4
}
UNWIND found4 AS q
WITH q.fs AS fs, q.hops AS hops, q.ps AS ps
WHERE size(ps) >= b4
WITH fs, ps, hops,
     reduce(s = 0.0, r IN hops | s + r.sum / r.count) / size(hops) AS mean_weight,
     reduce(s = 0.0, r IN hops | s + r.sum_abs / r.count) / size(hops) AS mean_abs_weight
WITH [f IN fs | f.key] AS features, [f IN fs | f.label] AS labels, size(fs) AS length,
     $token AS token, size(ps) AS support,
     mean_weight, mean_abs_weight, ps
ORDER BY support DESC, mean_abs_weight DESC, features
LIMIT $limit
RETURN features, labels, length, token, support, mean_weight, mean_abs_weight,
       COLLECT { MATCH (p:Prompt) USING INDEX p:Prompt(prompt_id)
                 WHERE p.prompt_id IS NOT NULL AND p.pn IN ps
                 RETURN p.prompt_id AS id ORDER BY id LIMIT $examples } AS example_prompts
