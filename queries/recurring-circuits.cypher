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
WITH CASE WHEN $prompts IS NULL THEN null
          ELSE COLLECT { MATCH (p:Prompt) WHERE p.prompt_id IN $prompts RETURN p.pn } END AS scope
MATCH path = (a:Feature)-[rs:AGG*0..3]->(b:Feature)
WHERE size(rs) >= $min_length - 1 AND size(rs) <= $max_length - 1
  AND all(r IN rs WHERE r.support >= $min_prompts)
OPTIONAL MATCH (b)-[ro:AGG_OUT]->(t:Token {token_id: $token})
WITH path, rs, ro, t, scope
WHERE ($token IS NULL OR (ro IS NOT NULL AND ro.support >= $min_prompts))
  AND size(rs) + size([x IN [ro] WHERE x IS NOT NULL]) > 0
WITH path, t, scope, rs + [x IN [ro] WHERE x IS NOT NULL] AS hops
WITH path, t, hops,
     reduce(acc = CASE WHEN scope IS NULL THEN head(hops).prompts
                       ELSE [x IN head(hops).prompts WHERE x IN scope] END,
            r IN tail(hops) | [x IN acc WHERE x IN r.prompts]) AS ps
WHERE size(ps) >= $min_prompts
WITH nodes(path) AS fs, t, ps,
     reduce(s = 0.0, r IN hops | s + r.sum / r.count) / size(hops) AS mean_weight,
     reduce(s = 0.0, r IN hops | s + r.sum_abs / r.count) / size(hops) AS mean_abs_weight
WITH [f IN fs | f.key] AS features, [f IN fs | f.label] AS labels, size(fs) AS length,
     t.token_id AS token, size(ps) AS support, mean_weight, mean_abs_weight, ps
ORDER BY support DESC, mean_abs_weight DESC, features
LIMIT $limit
RETURN features, labels, length, token, support, mean_weight, mean_abs_weight,
       COLLECT { MATCH (p:Prompt) WHERE p.pn IN ps
                 RETURN p.prompt_id AS id ORDER BY id LIMIT $examples } AS example_prompts
