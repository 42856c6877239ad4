// Labels: set a feature's label, its provenance and its top-example text (for full-text search).
UNWIND $rows AS row
MATCH (f:Feature {key: row.key})
SET f.label = row.label, f.label_source = row.source, f.label_model = row.model,
    f.label_at = datetime(row.at), f.top_text = row.top_text
RETURN count(f) AS labelled
