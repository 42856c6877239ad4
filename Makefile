# The two entry points of the README. Each sets up what it needs and can be run again.
.PHONY: setup demo test unit

setup:
	@scripts/setup.sh

# Until `atlas demo` lands this shows the foundation: a managed Neo4j and initialised stores.
demo: setup
	.venv/bin/atlas neo4j start
	.venv/bin/atlas init
	.venv/bin/atlas neo4j status

# The whole suite: unit, integration (starts its own Neo4j on free ports), gpu (skipped without one).
test: setup
	.venv/bin/python -m pytest

unit: setup
	.venv/bin/python -m pytest tests/unit
