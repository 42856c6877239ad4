// name: compare
// summary: Feature -> feature edges over-represented in prompt set A relative to prompt set B.
// param a: list<string> -- prompt ids of set A
// param b: list<string> -- prompt ids of set B
// param min_prompts: int = 2 -- least number of A prompts containing the edge
// param limit: int = 20 -- rows
// column source: string -- feature key
// column target: string -- feature key
// column support_a: int -- prompts of A whose pruned graph has the edge
// column support_b: int -- prompts of B whose pruned graph has the edge
// column frac_a: float -- support_a / |A|
// column frac_b: float -- support_b / |B|
// column ratio: float -- ((support_a + 0.5) / (|A| + 1)) / ((support_b + 0.5) / (|B| + 1))
WITH COLLECT { MATCH (p:Prompt) WHERE p.prompt_id IN $a RETURN p } AS set_a,
     COLLECT { MATCH (p:Prompt) WHERE p.prompt_id IN $b RETURN p.pn } AS set_b
UNWIND set_a AS p
MATCH (p)-[:HAS]->(g:GNode)-[:ATTR]->(h:GNode), (g)-[:OF]->(s:Feature), (h)-[:OF]->(t:Feature)
WITH s, t, count(DISTINCT p) AS support_a, size(set_a) AS n_a, set_b
WHERE support_a >= $min_prompts
MATCH (s)-[r:AGG]->(t)
WITH s, t, support_a, n_a, size(set_b) AS n_b, size([x IN r.prompts WHERE x IN set_b]) AS support_b
RETURN s.key AS source, t.key AS target, support_a, support_b,
       toFloat(support_a) / n_a AS frac_a,
       CASE WHEN n_b = 0 THEN 0.0 ELSE toFloat(support_b) / n_b END AS frac_b,
       ((support_a + 0.5) / (n_a + 1.0)) / ((support_b + 0.5) / (n_b + 1.0)) AS ratio
ORDER BY ratio DESC, support_a DESC, source, target
LIMIT $limit
