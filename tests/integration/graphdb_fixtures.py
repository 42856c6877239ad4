"""Shared helpers of the graphdb integration tests: emptying the graph, loading a synthetic run."""

from __future__ import annotations

from pathlib import Path

from atlas.graphdb.loader import load_run
from atlas.graphdb.synthetic import SyntheticSpec, generate_run
from atlas.stores.neo4j_schema import ensure_schema


def wipe(driver, database: str) -> None:
    """Delete every node except the schema migration records."""
    with driver.session(database=database) as session:
        session.run("MATCH (n) WHERE NOT n:SchemaMigration "
                    "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()


def loaded_run(driver, database: str, tmp: Path, spec: SyntheticSpec = SyntheticSpec()) -> Path:
    """A fresh graph holding exactly the synthetic run `spec`; returns the run folder."""
    ensure_schema(driver, database)
    wipe(driver, database)
    run_dir = generate_run(tmp, spec)
    load_run(driver, run_dir, database=database, batch_edges=300)
    return run_dir


def graph_counts(driver, database: str) -> dict:
    """Node counts per label, relationship counts per type, and every aggregate edge's stats."""
    q = driver.execute_query
    labels = {r["l"]: r["c"] for r in q(
        "MATCH (n) RETURN labels(n)[0] AS l, count(*) AS c", database_=database).records}
    types = {r["t"]: r["c"] for r in q(
        "MATCH ()-[r]->() RETURN type(r) AS t, count(*) AS c", database_=database).records}
    aggs = {(r["s"], r["t"], r["k"]): (r["n"], r["c"], round(r["sum"], 4), round(r["sa"], 4),
                                       round(r["sq"], 4), round(r["mn"], 5), round(r["mx"], 5),
                                       tuple(sorted(r["ps"])))
            for r in q("MATCH (s)-[r:AGG|AGG_OUT]->(t) RETURN s.key AS s, t.key AS t, "
                       "type(r) AS k, r.support AS n, r.count AS c, r.sum AS sum, "
                       "r.sum_abs AS sa, r.sum_sq AS sq, r.min AS mn, r.max AS mx, "
                       "r.prompts AS ps", database_=database).records}
    return {"labels": labels, "types": types, "aggs": aggs}
