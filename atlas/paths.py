"""Where the project's own data files live: named queries, schema migrations, the Neo4j pom."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
QUERIES_DIR = PROJECT_ROOT / "queries"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
NEO4J_POM = PROJECT_ROOT / "atlas" / "neo4j" / "pom.xml"
