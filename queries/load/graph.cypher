// Loader: one row per fresh prompt: its graph nodes (linked to the prompt, and to their shared
// feature or output token) and its pruned edges. Edge rows are [source ordinal, target ordinal,
// weight], ordinals indexing the prompt's node list, so no node lookup is needed for edges.
UNWIND $rows AS row
MATCH (p:Prompt {uid: row.u})
CALL (p, row) {
  UNWIND row.nodes AS n
  CREATE (p)-[:HAS]->(g:GNode {i: n.i, type: n.type, layer: n.layer, pos: n.pos, act: n.act,
                                infl: n.infl, prob: n.prob, tok: n.tok})
  WITH g, n
  OPTIONAL MATCH (f:Feature {key: n.fk})
  OPTIONAL MATCH (t:Token {key: n.tk})
  FOREACH (_ IN CASE WHEN f IS NULL THEN [] ELSE [1] END | CREATE (g)-[:OF]->(f))
  FOREACH (_ IN CASE WHEN t IS NULL THEN [] ELSE [1] END | CREATE (g)-[:OF]->(t))
  WITH g, n ORDER BY n.o
  RETURN collect(g) AS gs
}
UNWIND row.edges AS e
WITH gs[e[0]] AS a, gs[e[1]] AS b, e[2] AS w
CREATE (a)-[:ATTR {w: w}]->(b)
