"""Stores of the atlas: schema migrations of Neo4j and DuckDB, and their connections."""
