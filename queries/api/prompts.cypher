// The prompts with a stored graph, one page (the API's GET /api/prompts); one extra row tells
// whether another page exists. Not a named query: it lives in a subfolder.
MATCH (p:Prompt)
WHERE $run IS NULL OR p.run = $run
RETURN p.prompt_id AS prompt_id, p.run AS run, p.text AS text, size(p.tokens) AS n_tokens
ORDER BY p.run, p.prompt_id
SKIP $offset LIMIT $limit + 1
