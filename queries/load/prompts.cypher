// Loader: claim prompts. MERGE on the unique uid serializes concurrent loaders; a prompt is
// `fresh` only for the transaction that created it (its load token), so a prompt already
// loaded (or being loaded by another loader) is skipped.
UNWIND $rows AS row
MERGE (p:Prompt {uid: row.uid})
ON CREATE SET p += row.props, p.load_token = $token
RETURN row.uid AS uid, p.load_token = $token AS fresh
