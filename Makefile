# The two entry points of the README. Each sets up what it needs and can be run again.
.PHONY: setup demo test unit

setup:
	@scripts/setup.sh

# The planted-circuit demo end to end; a second run reuses what is built (`atlas demo --fresh`).
demo: setup
	.venv/bin/atlas demo

# The whole suite: unit, integration (starts its own Neo4j on free ports), gpu (skipped without one).
test: setup
	.venv/bin/python -m pytest

unit: setup
	.venv/bin/python -m pytest tests/unit
