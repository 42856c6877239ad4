// name: prompt-graph
// summary: One prompt's pruned graph (nodes and links) for the circuit-tracer frontend JSON.
// param prompt: string -- prompt id
// param run: string? = null -- run name (needed when several runs share the prompt id)
// column prompt: map -- uid, run, prompt_id, text, tokens, token_ids
// column nodes: list<map> -- graph nodes in node_index order, with their feature/token key, Cantor id, label and token text
// column links: list<list> -- [source node_index, target node_index, weight]
MATCH (p:Prompt {prompt_id: $prompt})
WHERE $run IS NULL OR p.run = $run
WITH p ORDER BY p.run LIMIT 1
RETURN p {.uid, .run, .prompt_id, .text, .tokens, .token_ids} AS prompt,
       COLLECT { MATCH (p)-[:HAS]->(g:GNode)
                 OPTIONAL MATCH (g)-[:OF]->(x)
                 RETURN g {.*, key: x.key, feature: x.feature, findex: x.index,
                           label: x.label, token_text: x.text} AS node ORDER BY node.i } AS nodes,
       COLLECT { MATCH (p)-[:HAS]->(g:GNode)-[e:ATTR]->(h:GNode)
                 RETURN [g.i, h.i, e.w] AS link } AS links
