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
// contain every hop so far. Support only shrinks as a path grows and only the `limit` best
// supports are returned, so a path (with every extension of it) is dropped as soon as its support
// is below the bound `b`: the limit-th best support among valid paths already counted (at least
// min_prompts). Each level first counts the candidates with the `limit` highest upper bounds
// min(hop support, prefix support) to raise `b`, then counts only candidates whose upper bound
// reaches `b`. Ties at `b` are kept, so the answer equals the unbounded search.
// Prompt lists are intersected by counting `UNWIND a + b` (a hash aggregation; each list holds
// distinct prompts): `[p IN a WHERE p IN b]` costs |a| * |b| when b is a variable. The limit-th
// largest value of a list is a percentileDisc (an ORDER BY would buffer whole rows).
WITH CASE WHEN $prompts IS NULL THEN null
          ELSE COLLECT { MATCH (p:Prompt) WHERE p.prompt_id IN $prompts RETURN p.pn } END AS scope,
     CASE WHEN $token IS NULL THEN 2 ELSE 1 END AS seed_len
WITH scope, seed_len >= $min_length AND seed_len <= $max_length AS seeds_count
// Without a prompt scope a seed's support is its `support` property: read the bound from the
// relationship index before touching any prompt list.
WITH scope, seeds_count,
     COLLECT { MATCH ()-[r:AGG]->() WHERE $token IS NULL AND r.support >= $min_prompts
               RETURN r.support AS s ORDER BY s DESC LIMIT $limit
               UNION ALL
               MATCH ()-[r:AGG_OUT]->(:Token {token_id: $token}) WHERE r.support >= $min_prompts
               RETURN r.support AS s ORDER BY s DESC LIMIT $limit } AS top0
WITH scope, seeds_count,
     CASE WHEN scope IS NULL AND seeds_count AND $limit > 0 AND size(top0) >= $limit
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
WITH scope, seeds_count, b0, fs, hops,
     CASE WHEN scope IS NULL THEN ps0 ELSE [x IN ps0 WHERE x IN scope] END AS ps
WHERE size(ps) >= b0
WITH scope, seeds_count, b0, collect({fs: fs, hops: hops, ps: ps}) AS seeds
// `found`: every valid path counted so far, without its prompt list ({fs, hops, s: support});
// `sups`: their supports; `frontier`: the last level's paths with prompt lists, to extend.
WITH scope, b0, seeds AS frontier1,
     CASE WHEN seeds_count THEN [q IN seeds | {fs: q.fs, hops: q.hops, s: size(q.ps)}]
          ELSE [] END AS found1
WITH scope, b0, frontier1, found1, [q IN found1 | q.s] AS sups1
CALL (sups1) {
  WITH CASE WHEN $limit > 0 AND size(sups1) >= $limit THEN sups1 ELSE [] END AS vs
  UNWIND vs AS v
  WITH v, size(vs) AS n
  RETURN percentileDisc(v, (n - $limit + 0.5) / n) AS kth1
}
WITH scope, frontier1, found1, sups1, CASE WHEN kth1 > b0 THEN kth1 ELSE b0 END AS b1
// Three extension levels (paths of at most 4 features), the same subquery each time; the last
// one only counts.
CALL (frontier1, found1, sups1, b1) {
  WITH [q IN frontier1 WHERE size(q.fs) < $max_length AND size(q.ps) >= b1] AS live,
       sups1 AS sups, b1 AS b
  CALL (live, b) {
    UNWIND range(0, size(live) - 1) AS i
    WITH i, live[i].fs[0] AS h, size(live[i].ps) AS n
    MATCH (x:Feature)-[r:AGG]->(h) WHERE r.support >= b
    RETURN collect({i: i, x: x, r: r, ub: CASE WHEN r.support < n THEN r.support ELSE n END})
           AS cands
  }
  WITH live, sups, b, cands,
       size(live) > 0 AND size(live[0].fs) + 1 >= $min_length AS counts
  // probe: when these paths are answers, count first the candidates with the best upper bounds
  CALL (cands) {
    WITH CASE WHEN $limit > 0 AND size(cands) >= $limit THEN cands ELSE [] END AS cs
    UNWIND cs AS c
    WITH c.ub AS u, size(cs) AS n
    RETURN percentileDisc(u, (n - $limit + 0.5) / n) AS ub_k
  }
  CALL (live, cands, counts, ub_k) {
    UNWIND CASE WHEN counts THEN range(0, size(cands) - 1) ELSE [] END AS j
    WITH j, cands[j] AS c WHERE ub_k IS NULL OR c.ub >= ub_k
    CALL (c, live) { UNWIND c.r.prompts + live[c.i].ps AS x WITH x, count(*) AS n
                     WHERE n = 2 RETURN collect(x) AS ps }
    RETURN collect({j: j, ps: ps}) AS probe
  }
  CALL (sups, probe) {
    WITH sups + [e IN probe | size(e.ps)] AS vals
    WITH CASE WHEN $limit > 0 AND size(vals) >= $limit THEN vals ELSE [] END AS vs
    UNWIND vs AS v
    WITH v, size(vs) AS n
    RETURN percentileDisc(v, (n - $limit + 0.5) / n) AS kth
  }
  WITH live, sups, cands, counts, ub_k, probe, CASE WHEN kth > b THEN kth ELSE b END AS bn
  // the other candidates whose upper bound reaches the raised bound
  CALL (cands, live, counts, ub_k, bn) {
    UNWIND range(0, size(cands) - 1) AS j
    WITH j, cands[j] AS c
    WHERE c.ub >= bn AND NOT (counts AND (ub_k IS NULL OR c.ub >= ub_k))
    WITH c, live[c.i] AS q
    CALL (c, q) { UNWIND c.r.prompts + q.ps AS x WITH x, count(*) AS n WHERE n = 2
                  RETURN collect(x) AS ps }
    WITH c, q, ps WHERE size(ps) >= bn
    RETURN collect({fs: [c.x] + q.fs, hops: [c.r] + q.hops, ps: ps}) AS rest
  }
  WITH live, sups, cands, counts, bn,
       rest + [e IN probe WHERE size(e.ps) >= bn |
               {fs: [cands[e.j].x] + live[cands[e.j].i].fs,
                hops: [cands[e.j].r] + live[cands[e.j].i].hops, ps: e.ps}] AS next
  RETURN next AS frontier2, bn AS b2,
         sups + CASE WHEN counts THEN [q IN next | size(q.ps)] ELSE [] END AS sups2,
         found1 + CASE WHEN counts THEN [q IN next | {fs: q.fs, hops: q.hops, s: size(q.ps)}]
                         ELSE [] END AS found2
}
CALL (frontier2, found2, sups2, b2) {
  WITH [q IN frontier2 WHERE size(q.fs) < $max_length AND size(q.ps) >= b2] AS live,
       sups2 AS sups, b2 AS b
  CALL (live, b) {
    UNWIND range(0, size(live) - 1) AS i
    WITH i, live[i].fs[0] AS h, size(live[i].ps) AS n
    MATCH (x:Feature)-[r:AGG]->(h) WHERE r.support >= b
    RETURN collect({i: i, x: x, r: r, ub: CASE WHEN r.support < n THEN r.support ELSE n END})
           AS cands
  }
  WITH live, sups, b, cands,
       size(live) > 0 AND size(live[0].fs) + 1 >= $min_length AS counts
  // probe: when these paths are answers, count first the candidates with the best upper bounds
  CALL (cands) {
    WITH CASE WHEN $limit > 0 AND size(cands) >= $limit THEN cands ELSE [] END AS cs
    UNWIND cs AS c
    WITH c.ub AS u, size(cs) AS n
    RETURN percentileDisc(u, (n - $limit + 0.5) / n) AS ub_k
  }
  CALL (live, cands, counts, ub_k) {
    UNWIND CASE WHEN counts THEN range(0, size(cands) - 1) ELSE [] END AS j
    WITH j, cands[j] AS c WHERE ub_k IS NULL OR c.ub >= ub_k
    CALL (c, live) { UNWIND c.r.prompts + live[c.i].ps AS x WITH x, count(*) AS n
                     WHERE n = 2 RETURN collect(x) AS ps }
    RETURN collect({j: j, ps: ps}) AS probe
  }
  CALL (sups, probe) {
    WITH sups + [e IN probe | size(e.ps)] AS vals
    WITH CASE WHEN $limit > 0 AND size(vals) >= $limit THEN vals ELSE [] END AS vs
    UNWIND vs AS v
    WITH v, size(vs) AS n
    RETURN percentileDisc(v, (n - $limit + 0.5) / n) AS kth
  }
  WITH live, sups, cands, counts, ub_k, probe, CASE WHEN kth > b THEN kth ELSE b END AS bn
  // the other candidates whose upper bound reaches the raised bound
  CALL (cands, live, counts, ub_k, bn) {
    UNWIND range(0, size(cands) - 1) AS j
    WITH j, cands[j] AS c
    WHERE c.ub >= bn AND NOT (counts AND (ub_k IS NULL OR c.ub >= ub_k))
    WITH c, live[c.i] AS q
    CALL (c, q) { UNWIND c.r.prompts + q.ps AS x WITH x, count(*) AS n WHERE n = 2
                  RETURN collect(x) AS ps }
    WITH c, q, ps WHERE size(ps) >= bn
    RETURN collect({fs: [c.x] + q.fs, hops: [c.r] + q.hops, ps: ps}) AS rest
  }
  WITH live, sups, cands, counts, bn,
       rest + [e IN probe WHERE size(e.ps) >= bn |
               {fs: [cands[e.j].x] + live[cands[e.j].i].fs,
                hops: [cands[e.j].r] + live[cands[e.j].i].hops, ps: e.ps}] AS next
  RETURN next AS frontier3, bn AS b3,
         sups + CASE WHEN counts THEN [q IN next | size(q.ps)] ELSE [] END AS sups3,
         found2 + CASE WHEN counts THEN [q IN next | {fs: q.fs, hops: q.hops, s: size(q.ps)}]
                         ELSE [] END AS found3
}
CALL (frontier3, found3, sups3, b3) {
  WITH [q IN frontier3 WHERE size(q.fs) < $max_length AND size(q.ps) >= b3] AS live,
       sups3 AS sups, b3 AS b
  CALL (live, b) {
    UNWIND range(0, size(live) - 1) AS i
    WITH i, live[i].fs[0] AS h, size(live[i].ps) AS n
    MATCH (x:Feature)-[r:AGG]->(h) WHERE r.support >= b
    RETURN collect({i: i, x: x, r: r, ub: CASE WHEN r.support < n THEN r.support ELSE n END})
           AS cands
  }
  WITH live, sups, b, cands,
       size(live) > 0 AND size(live[0].fs) + 1 >= $min_length AS counts
  // probe: when these paths are answers, count first the candidates with the best upper bounds
  CALL (cands) {
    WITH CASE WHEN $limit > 0 AND size(cands) >= $limit THEN cands ELSE [] END AS cs
    UNWIND cs AS c
    WITH c.ub AS u, size(cs) AS n
    RETURN percentileDisc(u, (n - $limit + 0.5) / n) AS ub_k
  }
  CALL (live, cands, counts, ub_k) {
    UNWIND CASE WHEN counts THEN range(0, size(cands) - 1) ELSE [] END AS j
    WITH j, cands[j] AS c WHERE ub_k IS NULL OR c.ub >= ub_k
    CALL (c, live) { UNWIND c.r.prompts + live[c.i].ps AS x WITH x, count(*) AS n
                     WHERE n = 2 RETURN count(x) AS ps }
    RETURN collect({j: j, ps: ps}) AS probe
  }
  CALL (sups, probe) {
    WITH sups + [e IN probe | e.ps] AS vals
    WITH CASE WHEN $limit > 0 AND size(vals) >= $limit THEN vals ELSE [] END AS vs
    UNWIND vs AS v
    WITH v, size(vs) AS n
    RETURN percentileDisc(v, (n - $limit + 0.5) / n) AS kth
  }
  WITH live, sups, cands, counts, ub_k, probe, CASE WHEN kth > b THEN kth ELSE b END AS bn
  // the other candidates whose upper bound reaches the raised bound
  CALL (cands, live, counts, ub_k, bn) {
    UNWIND range(0, size(cands) - 1) AS j
    WITH j, cands[j] AS c
    WHERE c.ub >= bn AND NOT (counts AND (ub_k IS NULL OR c.ub >= ub_k))
    WITH c, live[c.i] AS q
    CALL (c, q) { UNWIND c.r.prompts + q.ps AS x WITH x, count(*) AS n WHERE n = 2
                  RETURN count(x) AS ps }
    WITH c, q, ps WHERE ps >= bn
    RETURN collect({fs: [c.x] + q.fs, hops: [c.r] + q.hops, ps: ps}) AS rest
  }
  WITH live, sups, cands, counts, bn,
       rest + [e IN probe WHERE e.ps >= bn |
               {fs: [cands[e.j].x] + live[cands[e.j].i].fs,
                hops: [cands[e.j].r] + live[cands[e.j].i].hops, ps: e.ps}] AS next
  RETURN next AS frontier4, bn AS b4,
         sups + CASE WHEN counts THEN [q IN next | q.ps] ELSE [] END AS sups4,
         found3 + CASE WHEN counts THEN [q IN next | {fs: q.fs, hops: q.hops, s: q.ps}]
                         ELSE [] END AS found4
}
WITH scope, [q IN found4 WHERE q.s >= b4] AS best
UNWIND best AS q
WITH scope, q.fs AS fs, q.hops AS hops, q.s AS support
WITH scope, fs, hops, support,
     reduce(s = 0.0, r IN hops | s + r.sum / r.count) / size(hops) AS mean_weight,
     reduce(s = 0.0, r IN hops | s + r.sum_abs / r.count) / size(hops) AS mean_abs_weight
WITH scope, hops, [f IN fs | f.key] AS features, [f IN fs | f.label] AS labels,
     size(fs) AS length, $token AS token, support, mean_weight, mean_abs_weight
ORDER BY support DESC, mean_abs_weight DESC, features
LIMIT $limit
// The returned paths' prompts again (a prompt holds the path when it is in every hop's list and
// in the scope), then the first ones by id from an ordered index scan that stops early.
CALL (scope, hops) {
  WITH [r IN hops | r.prompts] + CASE WHEN scope IS NULL THEN [] ELSE [scope] END AS lists
  WITH lists, size(lists) AS k
  UNWIND lists AS l
  UNWIND l AS x
  WITH k, x, count(*) AS n WHERE n = k
  RETURN collect(x) AS ps
}
RETURN features, labels, length, token, support, mean_weight, mean_abs_weight,
       COLLECT { MATCH (p:Prompt) USING INDEX p:Prompt(prompt_id)
                 WHERE p.prompt_id IS NOT NULL AND p.pn IN ps
                 RETURN p.prompt_id AS id ORDER BY id LIMIT $examples } AS example_prompts
