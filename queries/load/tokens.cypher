// Loader: shared output tokens (only logits link to them).
UNWIND $rows AS row
MERGE (t:Token {key: row.key})
ON CREATE SET t.vocab = row.vocab, t.token_id = row.token_id, t.text = row.text
