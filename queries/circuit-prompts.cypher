// name: circuit-prompts
// summary: Prompts whose pruned graph contains a given feature path (optionally into an output token), with the path's weights there.
// param features: list<string> -- feature keys along the path, in order (at least 1)
// param token: int? = null -- output token id the last feature must feed
// param prompts: list<string>? = null -- restrict to these prompt ids
// param limit: int = 50 -- rows
// column prompt_id: string -- the prompt
// column run: string -- its run
// column text: string -- its text
// column hop_weights: list<float> -- per hop, the sum of the prompt's edge weights between the two nodes' instances
// column total_abs_weight: float -- sum of |hop weight|
WITH [k IN $features | head(COLLECT { MATCH (f:Feature {key: k}) RETURN f })] AS fs
WHERE size(fs) > 0 AND all(f IN fs WHERE f IS NOT NULL)
WITH fs, [i IN range(0, size(fs) - 2) |
          head(COLLECT { MATCH (x:Feature)-[r:AGG]->(y:Feature)
                         WHERE x = fs[i] AND y = fs[i + 1] RETURN r })] AS rs
OPTIONAL MATCH (last:Feature)-[ro:AGG_OUT]->(t:Token {token_id: $token}) WHERE last = fs[-1]
WITH fs, t, rs + [x IN [ro] WHERE x IS NOT NULL] AS hops, rs
WHERE all(r IN rs WHERE r IS NOT NULL) AND ($token IS NULL OR t IS NOT NULL) AND size(hops) > 0
// Prompts in every hop's list, by counting (each list holds distinct prompts): linear, where
// `[x IN a WHERE x IN b]` costs |a| * |b| when b is read from a property (no cached hash set).
CALL (hops) {
  WITH [r IN hops | r.prompts] AS lists
  WITH lists, size(lists) AS k
  UNWIND lists AS l
  UNWIND l AS x
  WITH k, x, count(*) AS n WHERE n = k
  RETURN collect(x) AS ps
}
MATCH (p:Prompt) WHERE p.pn IN ps AND ($prompts IS NULL OR p.prompt_id IN $prompts)
WITH p, fs, t ORDER BY p.prompt_id LIMIT $limit
CALL (p, fs, t) {
  UNWIND range(0, size(fs) - 1) AS i
  MATCH (p)-[:HAS]->(g:GNode)-[:OF]->(fa:Feature) WHERE fa = fs[i]
  MATCH (g)-[e:ATTR]->(h:GNode)-[:OF]->(x)
  WHERE (i < size(fs) - 1 AND x = fs[i + 1]) OR (i = size(fs) - 1 AND x = t)
  WITH i, sum(e.w) AS w ORDER BY i
  RETURN collect(w) AS hop_weights
}
RETURN p.prompt_id AS prompt_id, p.run AS run, p.text AS text, hop_weights,
       reduce(s = 0.0, w IN hop_weights | s + abs(w)) AS total_abs_weight
ORDER BY prompt_id
