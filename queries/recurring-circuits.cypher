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
// Seeds are the last hop (feature -> feature, or feature -> the token); paths grow backwards one
// feature at a time, keeping only prompts that contain every hop so far. A path's support can
// only shrink as it grows, so a prefix below min_prompts is dropped before it is extended.
WITH CASE WHEN $prompts IS NULL THEN null
          ELSE COLLECT { MATCH (p:Prompt) WHERE p.prompt_id IN $prompts RETURN p.pn } END AS scope
CALL () {
  MATCH (a:Feature)-[r:AGG]->(b:Feature)
  WHERE $token IS NULL AND r.support >= $min_prompts
  RETURN [a, b] AS fs, [r] AS hops, r.prompts AS ps0, null AS t
  UNION ALL
  MATCH (b:Feature)-[r:AGG_OUT]->(t:Token {token_id: $token})
  WHERE r.support >= $min_prompts
  RETURN [b] AS fs, [r] AS hops, r.prompts AS ps0, t
}
WITH fs, hops, t, CASE WHEN scope IS NULL THEN ps0 ELSE [x IN ps0 WHERE x IN scope] END AS ps
WHERE size(ps) >= $min_prompts AND size(fs) <= $max_length
CALL (fs, hops, ps) {
  RETURN fs AS fs1, hops AS hops1, ps AS ps1
  UNION ALL
  WITH fs, hops, ps, fs[0] AS h WHERE size(fs) < $max_length
  MATCH (x:Feature)-[r:AGG]->(h) WHERE r.support >= $min_prompts
  WITH [x] + fs AS f2, [r] + hops AS h2, [p IN r.prompts WHERE p IN ps] AS p2
  WHERE size(p2) >= $min_prompts
  CALL (f2, h2, p2) {
    RETURN f2 AS fs1, h2 AS hops1, p2 AS ps1
    UNION ALL
    WITH f2, h2, p2, f2[0] AS h WHERE size(f2) < $max_length
    MATCH (x:Feature)-[r:AGG]->(h) WHERE r.support >= $min_prompts
    WITH [x] + f2 AS f3, [r] + h2 AS h3, [p IN r.prompts WHERE p IN p2] AS p3
    WHERE size(p3) >= $min_prompts
    CALL (f3, h3, p3) {
      RETURN f3 AS fs1, h3 AS hops1, p3 AS ps1
      UNION ALL
      WITH f3, h3, p3, f3[0] AS h WHERE size(f3) < $max_length
      MATCH (x:Feature)-[r:AGG]->(h) WHERE r.support >= $min_prompts
      WITH [x] + f3 AS f4, [r] + h3 AS h4, [p IN r.prompts WHERE p IN p3] AS p4
      WHERE size(p4) >= $min_prompts
      RETURN f4 AS fs1, h4 AS hops1, p4 AS ps1
    }
    RETURN fs1, hops1, ps1
  }
  RETURN fs1, hops1, ps1
}
WITH fs1 AS fs, hops1 AS hops, ps1 AS ps, t
WHERE size(fs) >= $min_length
WITH fs, t, ps,
     reduce(s = 0.0, r IN hops | s + r.sum / r.count) / size(hops) AS mean_weight,
     reduce(s = 0.0, r IN hops | s + r.sum_abs / r.count) / size(hops) AS mean_abs_weight
WITH [f IN fs | f.key] AS features, [f IN fs | f.label] AS labels, size(fs) AS length,
     t.token_id AS token, size(ps) AS support, mean_weight, mean_abs_weight, ps
ORDER BY support DESC, mean_abs_weight DESC, features
LIMIT $limit
RETURN features, labels, length, token, support, mean_weight, mean_abs_weight,
       COLLECT { MATCH (p:Prompt) WHERE p.pn IN ps
                 RETURN p.prompt_id AS id ORDER BY id LIMIT $examples } AS example_prompts
