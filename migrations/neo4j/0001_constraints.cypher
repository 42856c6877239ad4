// Uniqueness constraints of the atlas graph (Neo4j 5.26 Community: uniqueness only).
// Each also backs MERGE lookups and serializes concurrent loaders creating the same node.
CREATE CONSTRAINT feature_key IF NOT EXISTS FOR (f:Feature) REQUIRE f.key IS UNIQUE;
CREATE CONSTRAINT token_key IF NOT EXISTS FOR (t:Token) REQUIRE t.key IS UNIQUE;
CREATE CONSTRAINT prompt_uid IF NOT EXISTS FOR (p:Prompt) REQUIRE p.uid IS UNIQUE;
CREATE CONSTRAINT loaded_shard_key IF NOT EXISTS FOR (s:LoadedShard) REQUIRE s.key IS UNIQUE;
