// Embeddings: labelled features whose embedding is missing or was made from other text.
MATCH (f:Feature)
WHERE f.label IS NOT NULL
WITH f, f.label + coalesce(' | ' + f.top_text, '') AS text
WHERE f.embedding IS NULL OR f.embedding_text <> text
RETURN f.key AS key, text
ORDER BY key
LIMIT $limit
