// name: hubs
// summary: Features that carry the most influence in the prompts predicting an output token and/or in a prompt set (all prompts when neither is given).
// param token: int? = null -- only prompts whose graph has a logit node for this token id
// param prompts: list<string>? = null -- only these prompt ids
// param limit: int = 20 -- rows
// column feature: string -- feature key
// column label: string -- its label
// column layer: int -- its layer
// column n_prompts: int -- prompts (in scope) where it is a graph node
// column instances: int -- its graph nodes in those prompts
// column total_influence: float -- sum of the nodes' influence
// column mean_activation: float -- mean activation of those nodes
CALL () {
  MATCH (:Token {token_id: $token})<-[:OF]-(:GNode)<-[:HAS]-(p:Prompt)
  WHERE $token IS NOT NULL AND ($prompts IS NULL OR p.prompt_id IN $prompts)
  RETURN p
  UNION
  MATCH (p:Prompt)
  WHERE $token IS NULL AND $prompts IS NOT NULL AND p.prompt_id IN $prompts
  RETURN p
  UNION
  MATCH (p:Prompt)
  WHERE $token IS NULL AND $prompts IS NULL
  RETURN p
}
MATCH (p)-[:HAS]->(g:GNode)-[:OF]->(f:Feature)
WITH f, count(DISTINCT p) AS n_prompts, count(g) AS instances, sum(g.infl) AS total_influence,
     avg(g.act) AS mean_activation
RETURN f.key AS feature, f.label AS label, f.layer AS layer, n_prompts, instances,
       total_influence, mean_activation
ORDER BY total_influence DESC, feature
LIMIT $limit
