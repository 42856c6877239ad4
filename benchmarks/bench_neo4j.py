"""Neo4j atlas benchmark: load rate, store size and p50/p95 latency of every named query.

Generates a synthetic run (atlas.graphdb.synthetic) of --prompts prompts (~480 edges each),
loads it into an EMPTY database, then times each named query. Peers measured in the same run:
raw relationship creation over Bolt (the server's ceiling for the loader) and DuckDB computing
recurring feature pairs straight from the Parquet files. Appends a block to BENCHMARKS.md.

    # full scale (~4.8M edges), against a running Neo4j whose data folder is known:
    python benchmarks/bench_neo4j.py --prompts 10000 --uri bolt://127.0.0.1:7687 \
        --password ... --data-dir <home>/neo4j/data/databases/neo4j
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from atlas.graphdb.loader import load_run  # noqa: E402
from atlas.graphdb.queries import query_names, run_named_query  # noqa: E402
from atlas.graphdb.synthetic import PlantedPath, SyntheticSpec, generate_run  # noqa: E402
from atlas.stores.neo4j_schema import ensure_schema  # noqa: E402

TS = "bench-plt"


def bench_spec(n_prompts: int, seed: int = 1) -> SyntheticSpec:
    """~480 edges and ~145 nodes per prompt, 8 layers x 2000 features, three planted paths."""
    return SyntheticSpec(
        run="bench", transcoder_set=TS, n_prompts=n_prompts, n_shards=max(1, n_prompts // 250),
        n_layers=8, n_features=2000, vocab=5000, features_per_prompt=80, edges_per_prompt=480,
        seq_len=(8, 16), seed=seed,
        planted=(PlantedPath(((0, 1), (2, 2), (4, 3), (6, 4)), 0.3, token=7, weight=2.0),
                 PlantedPath(((1, 5), (3, 6)), 0.2, token=None, weight=-1.5),
                 PlantedPath(((2, 9), (5, 10), (7, 11)), 0.1, token=42, weight=1.0)))


def query_params(n_prompts: int) -> dict[str, dict]:
    fk = [f"{TS}:{layer}:{i}" for layer, i in bench_spec(1).planted[0].features]
    some = [f"p{i:06d}" for i in range(0, min(n_prompts, 200), 2)]
    other = [f"p{i:06d}" for i in range(1, min(n_prompts, 200), 2)]
    k = max(3, n_prompts // 100)
    return {
        "recurring-circuits": {"min_prompts": k},
        "recurring-circuits[k=5%]": {"min_prompts": max(3, n_prompts // 20)},
        "recurring-circuits[max_length=3]": {"min_prompts": k, "max_length": 3},
        "recurring-circuits[token]": {"min_prompts": k, "token": 7},
        "recurring-circuits[prompts]": {"min_prompts": 3, "prompts": some},
        "circuit-prompts": {"features": fk, "token": 7},
        "feature-neighborhood": {"feature": fk[1]},
        "feature-labels": {"features": fk},
        "paths-between": {"source": fk[0], "target": fk[-1], "max_hops": 3},
        "hubs[prompts]": {"prompts": some},
        "hubs[token]": {"token": 42},
        "compare": {"a": some, "b": other},
        "prompt-graph": {"prompt": "p000003"},
        "search-text": {"text": "layer4"},
    }


def wipe(driver) -> None:
    with driver.session() as session:
        session.run("MATCH (n) WHERE NOT n:SchemaMigration "
                    "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS").consume()


def raw_create_rate(driver, n: int = 100_000) -> float:
    """Relationships/s of plain UNWIND CREATE between existing nodes (the Bolt ceiling)."""
    driver.execute_query("UNWIND range(0, 9999) AS i CREATE (:BenchTmp {i: i})")
    rows = [[j % 10000, (j * 7 + 3) % 10000, 0.5] for j in range(n)]
    start = time.perf_counter()
    for i in range(0, n, 10_000):
        driver.execute_query("MATCH (a:BenchTmp) WITH collect(a) AS ns UNWIND $rows AS r "
                             "WITH ns[r[0]] AS a, ns[r[1]] AS b, r[2] AS w "
                             "CREATE (a)-[:BENCH_TMP {w: w}]->(b)", rows=rows[i:i + 10_000])
    rate = n / (time.perf_counter() - start)
    with driver.session() as session:
        session.run("MATCH (n:BenchTmp) CALL (n) { DETACH DELETE n } "
                    "IN TRANSACTIONS OF 1000 ROWS").consume()
    return rate


def duckdb_pairs_seconds(run_dir: Path, k: int) -> float:
    """DuckDB: recurring feature pairs (support >= k) straight from Parquet (the peer query)."""
    import duckdb

    glob = str(run_dir / "shards" / "*" / "{}.parquet")
    start = time.perf_counter()
    duckdb.sql(f"""
        WITH n AS (SELECT prompt_id, node_index, layer, feature FROM
                   read_parquet('{glob.format('nodes')}') WHERE node_type = 'feature'),
             e AS (SELECT * FROM read_parquet('{glob.format('edges')}'))
        SELECT s.layer, s.feature, t.layer, t.feature, count(DISTINCT e.prompt_id) AS support
        FROM e JOIN n s ON s.prompt_id = e.prompt_id AND s.node_index = e.source
               JOIN n t ON t.prompt_id = e.prompt_id AND t.node_index = e.target
        GROUP BY ALL HAVING support >= {k} ORDER BY support DESC LIMIT 20""").fetchall()
    return time.perf_counter() - start


def time_queries(driver, n_prompts: int, repeats: int) -> dict[str, tuple[float, float, int]]:
    out = {}
    for label, params in query_params(n_prompts).items():
        name = label.split("[")[0]
        rows = run_named_query(driver, name, params)  # warm-up (plan cache, page cache)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run_named_query(driver, name, params)
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        out[label] = (statistics.median(times), p95, len(rows))
    missing = set(query_names()) - {k.split("[")[0] for k in out} - {"search-semantic"}
    assert not missing, f"benchmark misses queries {missing}"
    return out


def graph_size(driver) -> dict:
    rec = driver.execute_query("MATCH ()-[r:ATTR]->() WITH count(r) AS edges "
                               "MATCH (g:GNode) RETURN edges, count(g) AS nodes").records[0]
    return {"edges": rec["edges"], "nodes": rec["nodes"]}


def label_features(driver) -> None:
    driver.execute_query("MATCH (f:Feature) SET f.label = 'layer' + f.layer + ' feature ' + "
                         "f.index, f.label_source = 'bench'")
    driver.execute_query("CALL db.awaitIndexes(300)")


def _mib(path: Path) -> float:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout.split()
    return int(out[0]) / 2 ** 20 if out else 0.0


def du(path: str | None) -> str:
    """Store files plus transaction logs (Community has no checkpoint procedure, so data not
    yet checkpointed sits in the logs; their sum bounds the size on disk)."""
    if not path or not Path(path).exists():
        return "not measured (give --data-dir)"
    store = Path(path)
    logs = store.parent.parent / "transactions" / store.name
    return (f"{_mib(store) + _mib(logs):.0f} MiB on disk (store files {_mib(store):.0f} MiB + "
            f"transaction logs {_mib(logs):.0f} MiB)")


def device() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, load avg {os.getloadavg()[0]:.1f}"


def report(args, counts, load, raw_rate, duck_s, size, lat) -> str:
    lines = [f"\n### {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC — "
             f"{args.prompts} prompts, {counts['edges']:,} edges, {counts['nodes']:,} nodes",
             f"Device: {device()}. Neo4j 5.26 community, heap {args.heap_note}. "
             f"Loader: batch {args.batch_edges} edges, {args.workers} worker(s).", "",
             "| measure | value | peer (same run) | ratio |", "|---|---|---|---|",
             (f"| load rate | {load:,.0f} edges/s | raw UNWIND CREATE of relationships: "
              f"{raw_rate:,.0f} rels/s | {load / raw_rate:.2f} |") if load else
             "| load rate | not measured in this run (--no-load) | | |",
             f"| store size | {size} | | |", "",
             "| query | p50 ms | p95 ms | rows |", "|---|---|---|---|"]
    for label, (p50, p95, rows) in lat.items():
        lines.append(f"| {label} | {p50:.0f} | {p95:.0f} | {rows} |")
    rc = lat["recurring-circuits"][0]
    lines.append(f"\nPeer: DuckDB recurring feature pairs from Parquet (no paths) "
                 f"{duck_s * 1000:.0f} ms vs recurring-circuits p50 {rc:.0f} ms "
                 f"(ratio {rc / (duck_s * 1000):.2f}).")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=10_000)
    ap.add_argument("--uri", default="bolt://127.0.0.1:7687")
    ap.add_argument("--user", default="neo4j")
    ap.add_argument("--password", default=os.environ.get("NEO4J_PASSWORD"))
    ap.add_argument("--data-dir", default=None, help="the database folder, for the store size")
    ap.add_argument("--run-dir", default=None, help="reuse a generated run folder")
    ap.add_argument("--batch-edges", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--no-load", action="store_true",
                    help="time the queries on the graph already loaded (no wipe, no load)")
    ap.add_argument("--heap-note", default="as configured")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    from neo4j import GraphDatabase

    driver = GraphDatabase.driver(args.uri, auth=(args.user, args.password))
    ensure_schema(driver)
    if not args.no_load:
        wipe(driver)
    if args.run_dir:
        run_dir = Path(args.run_dir)
    else:
        start = time.perf_counter()
        run_dir = generate_run(Path(tempfile.mkdtemp(prefix="bench-neo4j-")), bench_spec(args.prompts))
        print(f"generated {run_dir} in {time.perf_counter() - start:.0f} s", flush=True)
    raw_rate = raw_create_rate(driver)
    print(f"raw relationship create: {raw_rate:,.0f}/s", flush=True)
    if args.no_load:
        load, stats = None, graph_size(driver)
    else:
        result = load_run(driver, run_dir, batch_edges=args.batch_edges, workers=args.workers)
        load, stats = result.edges / result.seconds, {"edges": result.edges, "nodes": result.nodes}
        print(f"loaded {result.edges:,} edges in {result.seconds:.0f} s: {load:,.0f} edges/s",
              flush=True)
    label_features(driver)
    lat = time_queries(driver, args.prompts, args.repeats)
    for label, (p50, p95, rows) in lat.items():
        print(f"{label:32s} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  rows {rows}", flush=True)
    duck_s = duckdb_pairs_seconds(run_dir, max(3, args.prompts // 100))
    text = report(args, stats, load, raw_rate, duck_s,
                  du(args.data_dir), lat)
    print(text)
    out = Path(args.out)
    body = out.read_text() if out.exists() else "# Benchmarks\n"
    if "## Neo4j" not in body:
        body += "\n## Neo4j\n\nbenchmarks/bench_neo4j.py (see its docstring for the full-scale command).\n"
    out.write_text(body + text)
    driver.close()


if __name__ == "__main__":
    main()
