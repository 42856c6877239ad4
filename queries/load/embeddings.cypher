// Embeddings: store label embeddings for the vector index (as a float32 vector property).
UNWIND $rows AS row
MATCH (f:Feature {key: row.key})
CALL db.create.setNodeVectorProperty(f, 'embedding', row.vector)
SET f.embedding_text = row.text
