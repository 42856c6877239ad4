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
// min_prompts). Each level counts its candidates best-first in one `reduce` (one prefix's
// candidates together, prefixes by support, each by its upper bound min(hop support, prefix
// support)) that raises `b` after every count and skips candidates whose upper bound fell below
// it. Ties at `b` are kept, so the answer equals the unbounded search.
// With a prompt scope every hop of an answer is a feature pair with at least min_prompts
// prompts in the scope, so those pairs and their scope lists (`pairs`, at most |scope| long)
// are built once and the levels join on them instead of the hops' whole-run lists. Small scopes
// (|scope| <= max(2% of the prompts, 20)) read them from the scope's own graphs; larger ones
// filter every AGG list by the scope.
// Intersections filter the hop's list by the prefix's list (`x IN list` builds a hash set of a
// list value it sees again; never test `x IN r.prompts` on a property: it is read per test).
// AGG.prompts is read only for candidates that are counted.
WITH CASE WHEN $prompts IS NULL THEN null
          ELSE COLLECT { MATCH (p:Prompt) WHERE p.prompt_id IN $prompts RETURN p.pn } END AS scope,
     CASE WHEN $token IS NULL THEN 2 ELSE 1 END AS seed_len,
     COUNT { MATCH (p:Prompt) } AS n_prompts
WITH scope, seed_len >= $min_length AND seed_len <= $max_length AS seeds_count,
     scope IS NOT NULL AND size(scope) * 50 <= CASE WHEN n_prompts > 1000 THEN n_prompts
                                                   ELSE 1000 END AS by_graphs
// Without a prompt scope a seed's support is its `support` property: read the bound from the
// relationship index before touching any prompt list.
WITH scope, seeds_count, by_graphs,
     COLLECT { WITH CASE WHEN scope IS NULL AND $token IS NULL THEN $min_prompts END AS lo
               MATCH ()-[r:AGG]->() WHERE r.support >= lo
               RETURN r.support AS s ORDER BY s DESC LIMIT $limit
               UNION ALL
               WITH CASE WHEN scope IS NULL THEN $min_prompts END AS lo
               MATCH ()-[r:AGG_OUT]->(:Token {token_id: $token}) WHERE r.support >= lo
               RETURN r.support AS s ORDER BY s DESC LIMIT $limit } AS top0
WITH scope, seeds_count, by_graphs,
     CASE WHEN scope IS NULL AND seeds_count AND $limit > 0 AND size(top0) >= $limit
          THEN COLLECT { UNWIND top0 AS s RETURN s ORDER BY s DESC LIMIT $limit }[-1]
          ELSE $min_prompts END AS b0
// `pairs`: with a scope, the feature pairs with at least min_prompts prompts in it ({a, b, ps}).
CALL (scope, by_graphs) {
  CALL (scope, by_graphs) {
    WITH by_graphs WHERE by_graphs AND ($token IS NULL OR $max_length > 1)
    MATCH (p:Prompt) WHERE p.prompt_id IN $prompts
    MATCH (p)-[:HAS]->(g1)-[:ATTR]->(g2), (g1)-[:OF]->(a:Feature), (g2)-[:OF]->(b:Feature)
    WITH DISTINCT p.pn AS pn, a, b
    WITH a, b, collect(pn) AS ps WHERE size(ps) >= $min_prompts
    RETURN a, b, ps
    UNION ALL
    WITH scope, CASE WHEN scope IS NOT NULL AND NOT by_graphs
                          AND ($token IS NULL OR $max_length > 1) THEN $min_prompts END AS lo
    MATCH (a:Feature)-[r:AGG]->(b:Feature) WHERE r.support >= lo
    WITH a, b, [x IN r.prompts WHERE x IN scope] AS ps WHERE size(ps) >= $min_prompts
    RETURN a, b, ps
  }
  RETURN collect({a: a, b: b, ps: ps}) AS pairs0
}
WITH scope, seeds_count, by_graphs, b0, CASE WHEN scope IS NULL THEN null ELSE pairs0 END AS pairs
// Seeds as paths {fs: features, hops: their AGG/AGG_OUT relationships (null for a pair from
// `pairs`), ps: prompts}.
CALL (scope, by_graphs, b0, pairs) {
  CALL (scope, by_graphs, b0, pairs) {
    WITH CASE WHEN scope IS NULL AND $token IS NULL THEN b0 END AS lo
    MATCH (a:Feature)-[r:AGG]->(b:Feature) WHERE r.support >= lo
    RETURN [a, b] AS fs, [r] AS hops, [x IN r.prompts | x] AS ps
    UNION ALL
    WITH CASE WHEN scope IS NULL THEN b0 END AS lo
    MATCH (b:Feature)-[r:AGG_OUT]->(:Token {token_id: $token}) WHERE r.support >= lo
    RETURN [b] AS fs, [r] AS hops, [x IN r.prompts | x] AS ps
    UNION ALL
    UNWIND CASE WHEN $token IS NULL THEN pairs ELSE [] END AS e
    RETURN [e.a, e.b] AS fs, [null] AS hops, e.ps AS ps
    UNION ALL
    // a token's own hops are few: filter their lists by the scope
    WITH scope, b0, CASE WHEN scope IS NOT NULL THEN b0 END AS lo
    MATCH (b:Feature)-[r:AGG_OUT]->(:Token {token_id: $token}) WHERE r.support >= lo
    WITH b, r, b0, [x IN r.prompts WHERE x IN scope] AS ps WHERE size(ps) >= b0
    RETURN [b] AS fs, [r] AS hops, ps
  }
  RETURN collect({fs: fs, hops: hops, ps: ps}) AS seeds
}
// `found`: every valid path counted so far; `top`: the `limit` best supports among them
// (descending); `frontier`: the last level's paths, to extend.
WITH scope, pairs, b0, seeds AS frontier1, CASE WHEN seeds_count THEN seeds ELSE [] END AS found1
// The limit-th largest value of a list is a percentileDisc, and `top` is sorted by insertion:
// no ORDER BY while the levels' lists are in scope (the server charges them to every sorted row).
CALL (found1) {
  WITH CASE WHEN $limit > 0 AND size(found1) >= $limit THEN found1 ELSE [] END AS vs
  UNWIND vs AS q
  WITH size(q.ps) AS v, size(vs) AS n
  RETURN percentileDisc(v, (n - $limit + 0.5) / n) AS kth1
}
WITH scope, pairs, frontier1, found1, CASE WHEN kth1 > b0 THEN kth1 ELSE b0 END AS b1
WITH scope, pairs, frontier1, found1, b1,
     reduce(t = [], v IN [q IN found1 WHERE size(q.ps) >= b1 | size(q.ps)] |
            ([x IN t WHERE x >= v] + [v] + [x IN t WHERE x < v])[..$limit]) AS top1
// Extension level 1 (paths of at most 4 features: three levels, the same subquery each time).
CALL (pairs, frontier1, found1, top1, b1) {
  WITH pairs, [q IN frontier1 WHERE size(q.fs) < $max_length AND size(q.ps) >= b1] AS live,
       b1 AS b, top1 AS top
  // candidates {i: prefix, x: new first feature, r: its AGG hop (no scope), hl: the hop's scope
  // list (scope), ub: upper bound}
  CALL (pairs, live, b) {
    CALL (pairs, live, b) {
      UNWIND CASE WHEN pairs IS NULL THEN range(0, size(live) - 1) ELSE [] END AS i
      WITH i, live[i].fs[0] AS h
      MATCH (x:Feature)-[r:AGG]->(h) WHERE r.support >= b
      RETURN i, x, r, null AS hl, r.support AS hs
      UNION ALL
      // join prefixes and pairs on the head feature (a grouping: one hash pass)
      UNWIND CASE WHEN pairs IS NULL THEN []
                  ELSE [i IN range(0, size(live) - 1) | {h: live[i].fs[0], i: i}] +
                       [e IN pairs WHERE size(e.ps) >= b | {h: e.b, e: e}] END AS row
      WITH row.h AS h, collect(row) AS grp
      UNWIND [g IN grp WHERE g.i IS NOT NULL] AS q
      UNWIND [g IN grp WHERE g.e IS NOT NULL] AS g
      RETURN q.i AS i, g.e.a AS x, null AS r, g.e.ps AS hl, size(g.e.ps) AS hs
    }
    WITH i, x, r, hl, CASE WHEN hs < size(live[i].ps) THEN hs ELSE size(live[i].ps) END AS ub
    RETURN collect({i: i, x: x, r: r, hl: hl, ub: ub}) AS cands0
  }
  // counting order: one prefix's candidates together (its list's IN set is then built once),
  // prefixes by support, each by upper bound: about as few counts as a pure best-first order.
  // Only indices are sorted (a sort counts the memory of every value its rows hold).
  CALL (live, cands0) {
    UNWIND range(0, size(cands0) - 1) AS j
    WITH j, cands0[j].i AS i, cands0[j].ub AS ub
    WITH j, i, ub, size(live[i].ps) AS n
    ORDER BY n DESC, i, ub DESC
    RETURN collect(j) AS order
  }
  WITH live, b, top, cands0, order, size(live) > 0 AND size(live[0].fs) + 1 >= $min_length AS counts
  // At a level that counts, best-first: a counted valid path enters `top`, which may raise the
  // bound; `out` keeps the counted paths still at the bound (each step copies it: kept short).
  WITH live, b, cands0, counts, CASE WHEN NOT counts THEN {b: b, top: top, out: null} ELSE
    reduce(acc = {b: b, top: top, out: []}, j IN order |
      CASE WHEN cands0[j].ub < acc.b THEN acc ELSE head(
        [ps IN [[x IN CASE WHEN cands0[j].hl IS NULL THEN cands0[j].r.prompts
                           ELSE cands0[j].hl END
                 WHERE x IN live[cands0[j].i].ps]] | head([s IN [size(ps)] |
         CASE WHEN s < acc.b THEN acc ELSE head(
           [t IN [([v IN acc.top WHERE v >= s] + [s] + [v IN acc.top WHERE v < s])[..$limit]] |
            head([nb IN [CASE WHEN $limit > 0 AND size(t) >= $limit AND t[-1] > acc.b
                              THEN t[-1] ELSE acc.b END] |
                  {b: nb, top: t,
                   out: CASE WHEN nb > acc.b THEN [e IN acc.out WHERE e.s >= nb]
                             ELSE acc.out END + [{j: j, s: s, ps: ps}]}])])
         END])]) END) END AS res
  // below min_length nothing raises the bound: count every candidate that reaches it
  CALL (live, b, cands0, counts) {
    UNWIND CASE WHEN counts THEN [] ELSE range(0, size(cands0) - 1) END AS j
    WITH cands0[j] AS c WHERE cands0[j].ub >= b
    WITH c, [x IN CASE WHEN c.hl IS NULL THEN c.r.prompts ELSE c.hl END
             WHERE x IN live[c.i].ps] AS ps
    WHERE size(ps) >= b
    RETURN collect({fs: [c.x] + live[c.i].fs, hops: [c.r] + live[c.i].hops, ps: ps}) AS plain
  }
  WITH counts, res, found1, CASE WHEN NOT counts THEN plain ELSE
    [e IN res.out WHERE e.s >= res.b | {fs: [cands0[e.j].x] + live[cands0[e.j].i].fs,
                                        hops: [cands0[e.j].r] + live[cands0[e.j].i].hops,
                                        ps: e.ps}] END AS next
  RETURN next AS frontier2, res.b AS b2, res.top AS top2,
         found1 + CASE WHEN counts THEN next ELSE [] END AS found2
}
// Extension level 2 (paths of at most 4 features: three levels, the same subquery each time).
CALL (pairs, frontier2, found2, top2, b2) {
  WITH pairs, [q IN frontier2 WHERE size(q.fs) < $max_length AND size(q.ps) >= b2] AS live,
       b2 AS b, top2 AS top
  // candidates {i: prefix, x: new first feature, r: its AGG hop (no scope), hl: the hop's scope
  // list (scope), ub: upper bound}
  CALL (pairs, live, b) {
    CALL (pairs, live, b) {
      UNWIND CASE WHEN pairs IS NULL THEN range(0, size(live) - 1) ELSE [] END AS i
      WITH i, live[i].fs[0] AS h
      MATCH (x:Feature)-[r:AGG]->(h) WHERE r.support >= b
      RETURN i, x, r, null AS hl, r.support AS hs
      UNION ALL
      // join prefixes and pairs on the head feature (a grouping: one hash pass)
      UNWIND CASE WHEN pairs IS NULL THEN []
                  ELSE [i IN range(0, size(live) - 1) | {h: live[i].fs[0], i: i}] +
                       [e IN pairs WHERE size(e.ps) >= b | {h: e.b, e: e}] END AS row
      WITH row.h AS h, collect(row) AS grp
      UNWIND [g IN grp WHERE g.i IS NOT NULL] AS q
      UNWIND [g IN grp WHERE g.e IS NOT NULL] AS g
      RETURN q.i AS i, g.e.a AS x, null AS r, g.e.ps AS hl, size(g.e.ps) AS hs
    }
    WITH i, x, r, hl, CASE WHEN hs < size(live[i].ps) THEN hs ELSE size(live[i].ps) END AS ub
    RETURN collect({i: i, x: x, r: r, hl: hl, ub: ub}) AS cands0
  }
  // counting order: one prefix's candidates together (its list's IN set is then built once),
  // prefixes by support, each by upper bound: about as few counts as a pure best-first order.
  // Only indices are sorted (a sort counts the memory of every value its rows hold).
  CALL (live, cands0) {
    UNWIND range(0, size(cands0) - 1) AS j
    WITH j, cands0[j].i AS i, cands0[j].ub AS ub
    WITH j, i, ub, size(live[i].ps) AS n
    ORDER BY n DESC, i, ub DESC
    RETURN collect(j) AS order
  }
  WITH live, b, top, cands0, order, size(live) > 0 AND size(live[0].fs) + 1 >= $min_length AS counts
  // At a level that counts, best-first: a counted valid path enters `top`, which may raise the
  // bound; `out` keeps the counted paths still at the bound (each step copies it: kept short).
  WITH live, b, cands0, counts, CASE WHEN NOT counts THEN {b: b, top: top, out: null} ELSE
    reduce(acc = {b: b, top: top, out: []}, j IN order |
      CASE WHEN cands0[j].ub < acc.b THEN acc ELSE head(
        [ps IN [[x IN CASE WHEN cands0[j].hl IS NULL THEN cands0[j].r.prompts
                           ELSE cands0[j].hl END
                 WHERE x IN live[cands0[j].i].ps]] | head([s IN [size(ps)] |
         CASE WHEN s < acc.b THEN acc ELSE head(
           [t IN [([v IN acc.top WHERE v >= s] + [s] + [v IN acc.top WHERE v < s])[..$limit]] |
            head([nb IN [CASE WHEN $limit > 0 AND size(t) >= $limit AND t[-1] > acc.b
                              THEN t[-1] ELSE acc.b END] |
                  {b: nb, top: t,
                   out: CASE WHEN nb > acc.b THEN [e IN acc.out WHERE e.s >= nb]
                             ELSE acc.out END + [{j: j, s: s, ps: ps}]}])])
         END])]) END) END AS res
  // below min_length nothing raises the bound: count every candidate that reaches it
  CALL (live, b, cands0, counts) {
    UNWIND CASE WHEN counts THEN [] ELSE range(0, size(cands0) - 1) END AS j
    WITH cands0[j] AS c WHERE cands0[j].ub >= b
    WITH c, [x IN CASE WHEN c.hl IS NULL THEN c.r.prompts ELSE c.hl END
             WHERE x IN live[c.i].ps] AS ps
    WHERE size(ps) >= b
    RETURN collect({fs: [c.x] + live[c.i].fs, hops: [c.r] + live[c.i].hops, ps: ps}) AS plain
  }
  WITH counts, res, found2, CASE WHEN NOT counts THEN plain ELSE
    [e IN res.out WHERE e.s >= res.b | {fs: [cands0[e.j].x] + live[cands0[e.j].i].fs,
                                        hops: [cands0[e.j].r] + live[cands0[e.j].i].hops,
                                        ps: e.ps}] END AS next
  RETURN next AS frontier3, res.b AS b3, res.top AS top3,
         found2 + CASE WHEN counts THEN next ELSE [] END AS found3
}
// Extension level 3 (paths of at most 4 features: three levels, the same subquery each time).
CALL (pairs, frontier3, found3, top3, b3) {
  WITH pairs, [q IN frontier3 WHERE size(q.fs) < $max_length AND size(q.ps) >= b3] AS live,
       b3 AS b, top3 AS top
  // candidates {i: prefix, x: new first feature, r: its AGG hop (no scope), hl: the hop's scope
  // list (scope), ub: upper bound}
  CALL (pairs, live, b) {
    CALL (pairs, live, b) {
      UNWIND CASE WHEN pairs IS NULL THEN range(0, size(live) - 1) ELSE [] END AS i
      WITH i, live[i].fs[0] AS h
      MATCH (x:Feature)-[r:AGG]->(h) WHERE r.support >= b
      RETURN i, x, r, null AS hl, r.support AS hs
      UNION ALL
      // join prefixes and pairs on the head feature (a grouping: one hash pass)
      UNWIND CASE WHEN pairs IS NULL THEN []
                  ELSE [i IN range(0, size(live) - 1) | {h: live[i].fs[0], i: i}] +
                       [e IN pairs WHERE size(e.ps) >= b | {h: e.b, e: e}] END AS row
      WITH row.h AS h, collect(row) AS grp
      UNWIND [g IN grp WHERE g.i IS NOT NULL] AS q
      UNWIND [g IN grp WHERE g.e IS NOT NULL] AS g
      RETURN q.i AS i, g.e.a AS x, null AS r, g.e.ps AS hl, size(g.e.ps) AS hs
    }
    WITH i, x, r, hl, CASE WHEN hs < size(live[i].ps) THEN hs ELSE size(live[i].ps) END AS ub
    RETURN collect({i: i, x: x, r: r, hl: hl, ub: ub}) AS cands0
  }
  // counting order: one prefix's candidates together (its list's IN set is then built once),
  // prefixes by support, each by upper bound: about as few counts as a pure best-first order.
  // Only indices are sorted (a sort counts the memory of every value its rows hold).
  CALL (live, cands0) {
    UNWIND range(0, size(cands0) - 1) AS j
    WITH j, cands0[j].i AS i, cands0[j].ub AS ub
    WITH j, i, ub, size(live[i].ps) AS n
    ORDER BY n DESC, i, ub DESC
    RETURN collect(j) AS order
  }
  WITH live, b, top, cands0, order, size(live) > 0 AND size(live[0].fs) + 1 >= $min_length AS counts
  // At a level that counts, best-first: a counted valid path enters `top`, which may raise the
  // bound; `out` keeps the counted paths still at the bound (each step copies it: kept short).
  WITH live, b, cands0, counts, CASE WHEN NOT counts THEN {b: b, top: top, out: null} ELSE
    reduce(acc = {b: b, top: top, out: []}, j IN order |
      CASE WHEN cands0[j].ub < acc.b THEN acc ELSE head(
        [ps IN [[x IN CASE WHEN cands0[j].hl IS NULL THEN cands0[j].r.prompts
                           ELSE cands0[j].hl END
                 WHERE x IN live[cands0[j].i].ps]] | head([s IN [size(ps)] |
         CASE WHEN s < acc.b THEN acc ELSE head(
           [t IN [([v IN acc.top WHERE v >= s] + [s] + [v IN acc.top WHERE v < s])[..$limit]] |
            head([nb IN [CASE WHEN $limit > 0 AND size(t) >= $limit AND t[-1] > acc.b
                              THEN t[-1] ELSE acc.b END] |
                  {b: nb, top: t,
                   out: CASE WHEN nb > acc.b THEN [e IN acc.out WHERE e.s >= nb]
                             ELSE acc.out END + [{j: j, s: s, ps: ps}]}])])
         END])]) END) END AS res
  // below min_length nothing raises the bound: count every candidate that reaches it
  CALL (live, b, cands0, counts) {
    UNWIND CASE WHEN counts THEN [] ELSE range(0, size(cands0) - 1) END AS j
    WITH cands0[j] AS c WHERE cands0[j].ub >= b
    WITH c, [x IN CASE WHEN c.hl IS NULL THEN c.r.prompts ELSE c.hl END
             WHERE x IN live[c.i].ps] AS ps
    WHERE size(ps) >= b
    RETURN collect({fs: [c.x] + live[c.i].fs, hops: [c.r] + live[c.i].hops, ps: ps}) AS plain
  }
  WITH counts, res, found3, CASE WHEN NOT counts THEN plain ELSE
    [e IN res.out WHERE e.s >= res.b | {fs: [cands0[e.j].x] + live[cands0[e.j].i].fs,
                                        hops: [cands0[e.j].r] + live[cands0[e.j].i].hops,
                                        ps: e.ps}] END AS next
  RETURN next AS frontier4, res.b AS b4, res.top AS top4,
         found3 + CASE WHEN counts THEN next ELSE [] END AS found4
}
UNWIND [q IN found4 WHERE size(q.ps) >= b4] AS q
WITH scope, q.fs AS fs, q.hops AS hops0, size(q.ps) AS support
// With a scope the paths know no feature -> feature relationships (null): look them up for the
// rows left.
CALL (fs, hops0) {
  UNWIND [k IN range(0, size(hops0) - 1) WHERE hops0[k] IS NULL] AS k
  WITH k, fs[k] AS a, fs[k + 1] AS b
  MATCH (a)-[r:AGG]->(b)
  RETURN collect({k: k, r: r}) AS looked_up
}
WITH scope, fs, support, [k IN range(0, size(hops0) - 1) |
                          coalesce(hops0[k], head([e IN looked_up WHERE e.k = k | e.r]))] AS hops
// An aggregation starts fresh rows: the levels' lists stay out of the top-k below, which
// charges every row it keeps with every value the row holds.
WITH scope, collect({fs: fs, hops: hops, support: support}) AS rows
UNWIND rows AS row
WITH scope, row.fs AS fs, row.hops AS hops, row.support AS support
WITH scope, fs, hops, support,
     reduce(s = 0.0, r IN hops | s + r.sum / r.count) / size(hops) AS mean_weight,
     reduce(s = 0.0, r IN hops | s + r.sum_abs / r.count) / size(hops) AS mean_abs_weight
WITH scope, hops, [f IN fs | f.key] AS features, [f IN fs | f.label] AS labels,
     size(fs) AS length, $token AS token, support, mean_weight, mean_abs_weight
ORDER BY support DESC, mean_abs_weight DESC, features
LIMIT $limit
// The returned paths' prompts again: the scope (or the first hop's list) filtered by each hop's
// list in turn, read once into `h` (an IN list is hashed from its second test on).
WITH features, labels, length, token, support, mean_weight, mean_abs_weight,
     reduce(ps = CASE WHEN scope IS NULL THEN [x IN hops[0].prompts | x] ELSE scope END,
            r IN CASE WHEN scope IS NULL THEN tail(hops) ELSE hops END |
            head([h IN [[y IN r.prompts | y]] | [x IN ps WHERE x IN h]])) AS ps
// the first prompts by id holding the path, from an ordered index scan that stops early
RETURN features, labels, length, token, support, mean_weight, mean_abs_weight,
       COLLECT { MATCH (p:Prompt) USING INDEX p:Prompt(prompt_id)
                 WHERE p.prompt_id IS NOT NULL AND p.pn IN ps
                 RETURN p.prompt_id AS id ORDER BY id LIMIT $examples } AS example_prompts
