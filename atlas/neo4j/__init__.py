"""Neo4j: the managed server (resolved from Maven Central) and connections to any Neo4j."""
