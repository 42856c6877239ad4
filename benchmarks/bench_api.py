"""HTTP API benchmark: p50/p95 latency of the feature card and search under concurrent clients.

Builds a throwaway atlas (managed Neo4j on free ports, DuckDB, catalog) from a synthetic run,
starts `atlas serve --workers W` as its own process on loopback for each W of --workers (a fresh
server each time, so its card cache starts empty), and drives it with --clients threads
(keep-alive connections) for a bounded number of requests per endpoint after a warm-up. Cache
misses are honest: each key is requested once per server, warm-up keys excluded. Peer measured
in the same run: the same work as direct library calls from one thread (no HTTP), so the ratio
is the cost of HTTP + JSON + concurrency. Appends a block to the "## API" section of
BENCHMARKS.md.

    python benchmarks/bench_api.py --clients 20 --requests 2000 --workers 1,2
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from atlas.config import AtlasConfig  # noqa: E402
from atlas.graphdb.synthetic import SyntheticSpec  # noqa: E402

SPEC = SyntheticSpec(run="bench-api", transcoder_set="bench-plt", n_prompts=400, n_shards=2,
                     n_layers=4, n_features=300, vocab=2000, features_per_prompt=40,
                     edges_per_prompt=150, seq_len=(8, 24), seed=3)
WORDS = ("capital city river number count food cook color animal music sport weather law "
         "money time date name place verb noun plural past future negation quote code").split()
RUNTIME = Path(os.environ.get("ATLAS_TEST_NEO4J_RUNTIME", ROOT / ".atlas-home" / "neo4j-runtime"))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_config(home: Path) -> AtlasConfig:
    return AtlasConfig(home=home, neo4j_bolt_port=free_port(), neo4j_http_port=free_port(),
                       neo4j_runtime=RUNTIME, neo4j_heap="768m", neo4j_pagecache="256m",
                       duckdb_memory_limit="1GB", neo4j_start_timeout=180.0)


def write_config_file(config: AtlasConfig) -> None:
    """So the `atlas serve` process finds the same Neo4j ports and runtime."""
    keys = ("neo4j_bolt_port", "neo4j_http_port", "duckdb_memory_limit")
    lines = [f"{k} = {getattr(config, k)!r}".replace("'", '"') for k in keys]
    lines.append(f'neo4j_runtime = "{config.neo4j_runtime}"')
    (config.home / "config.toml").write_text("\n".join(lines) + "\n")


def fill(config: AtlasConfig) -> list[str]:
    """Load SPEC into Neo4j and DuckDB, label features with random words; feature keys back."""
    from atlas.features.merge import FeatureStatsStore
    from atlas.graphdb.labels import FeatureLabel, write_labels
    from atlas.graphdb.loader import load_run, shard_dirs
    from atlas.graphdb.synthetic import generate_run
    from atlas.initialize import init_atlas
    from atlas.neo4j.client import session_driver
    from atlas.stores.duckdb_store import connect

    init_atlas(config)
    run_dir = generate_run(config.home / "runs", SPEC)
    with session_driver(config) as driver:
        load_run(driver, run_dir, database=config.neo4j_database)
        con = connect(config)
        try:
            store = FeatureStatsStore(con)
            for shard in shard_dirs(run_dir):
                store.merge_shard_dir(shard, SPEC.transcoder_set)
            keys = [f"{SPEC.transcoder_set}:{layer}:{feat}" for layer, feat in con.execute(
                "SELECT layer, feature FROM feature_stats ORDER BY 1, 2").fetchall()]
        finally:
            con.close()
        rng = random.Random(0)
        write_labels(driver, [FeatureLabel(k, " ".join(rng.sample(WORDS, 3)), "manual")
                              for k in keys], database=config.neo4j_database)
        driver.execute_query("CALL db.awaitIndexes(60)", database_=config.neo4j_database)
    return keys


def serve(config: AtlasConfig, port: int, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "atlas.cli.main", "--home", str(config.home),
                             "serve", "--port", str(port), "--workers", str(workers)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("atlas serve did not answer within 60 s")


def drive(port: int, paths: list[str], clients: int) -> tuple[list[float], float]:
    """Latencies (ms) of GET `paths` spread over `clients` threads; and the wall seconds.

    Each thread keeps one http.client connection (light on CPU, so the clients steal less of
    the machine from the server than a full-featured client would).
    """
    import http.client

    local = threading.local()

    def one(path: str) -> float:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        elapsed = (time.perf_counter() - start) * 1000
        if r.status != 200:
            raise SystemExit(f"GET {path} -> {r.status}: {body[:200]!r}")
        return elapsed

    start = time.perf_counter()
    with cf.ThreadPoolExecutor(clients) as pool:
        lat = list(pool.map(one, paths))
    return lat, time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def direct_peer(config: AtlasConfig, keys: list[str], words: list[str]) -> dict[str, float]:
    """p50 ms of the same work as library calls from one thread (no HTTP).

    "card" is what the server runs for a lone miss (CardReader, a batch of one);
    "card_reference" the six-statement load_card it is tested against.
    """
    from atlas.features.card import load_card
    from atlas.features.card_reader import CardReader
    from atlas.graphdb.search import search_text
    from atlas.neo4j.client import session_driver
    from atlas.stores.duckdb_store import connect

    con = connect(config, read_only=True)
    reader = CardReader(con)
    cards, reference = [], []
    for key in keys:
        _, layer, feat = key.rsplit(":", 2)
        for times, read in ((cards, reader.card), (reference, load_card)):
            start = time.perf_counter()
            read(con, SPEC.run, SPEC.transcoder_set, int(layer), int(feat)).model_dump_json()
            times.append((time.perf_counter() - start) * 1000)
    con.close()
    found = []
    with session_driver(config) as driver:
        for w in words:
            start = time.perf_counter()
            search_text(driver, w, database=config.neo4j_database)
            found.append((time.perf_counter() - start) * 1000)
    return {"card": statistics.median(cards), "card_reference": statistics.median(reference),
            "search": statistics.median(found)}


def device() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, load avg {os.getloadavg()[0]:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=2000, help="measured requests per endpoint")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--workers", default="1,2",
                    help="comma-separated `atlas serve --workers` values, one server each")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    from atlas.neo4j import server

    config = make_config(Path(tempfile.mkdtemp(prefix="bench-api-")))
    server.start(config)
    try:
        keys = fill(config)
        write_config_file(config)
        results = {}
        for workers in [int(w) for w in args.workers.split(",")]:
            results.update(measure(config, keys, workers, args))
        rng = random.Random(2)
        peer = direct_peer(config, rng.sample(keys, 200),
                           [" ".join(rng.sample(WORDS, 2)) for _ in range(200)])
    finally:
        server.stop(config)
    write_report(args, len(keys), results, peer)


def measure(config: AtlasConfig, keys: list[str], workers: int,
            args: argparse.Namespace) -> dict[tuple[int, str], tuple]:
    """(workers, endpoint) -> (p50, p95, req/s, n) against a fresh `atlas serve --workers`."""
    port = free_port()
    proc = serve(config, port, workers)
    try:
        rng = random.Random(1)
        fresh = rng.sample(keys, len(keys))
        warm, cold = fresh[:args.warmup], fresh[args.warmup:args.warmup + args.requests]
        plans = {  # name -> (warm-up paths, measured paths)
            "feature card, cache miss (each key once)":
                ([f"/api/features/{k}" for k in warm], [f"/api/features/{k}" for k in cold]),
            "feature card, repeated keys (served from the card cache)":
                ([], [f"/api/features/{rng.choice(keys)}" for _ in range(args.requests)]),
            "search (full-text)": ([f"/api/search?q={'+'.join(rng.sample(WORDS, 2))}"
                                    for _ in range(args.warmup)],
                                   [f"/api/search?q={'+'.join(rng.sample(WORDS, 2))}"
                                    for _ in range(args.requests)])}
        results = {}
        for name, (warm_paths, paths) in plans.items():
            if warm_paths:
                drive(port, warm_paths, args.clients)
            lat, wall = drive(port, paths, args.clients)
            results[workers, name] = (pct(lat, 50), pct(lat, 95), len(lat) / wall, len(lat),
                                      os.getloadavg()[0])
            print(f"{workers} worker(s) {name:58s} p50 {pct(lat, 50):6.1f} ms  p95 "
                  f"{pct(lat, 95):6.1f} ms  {len(lat) / wall:6.0f} req/s  n={len(lat)}  "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def write_report(args, n_features: int, results: dict, peer: dict) -> None:
    lines = [f"\n### {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC — {args.clients} "
             f"clients, up to {args.requests} requests per endpoint, loopback",
             f"Device: {device()} (at the end). Server: `atlas serve --workers W` (uvicorn; W "
             f"forked processes, a fresh server per W) in its own process; clients in the "
             f"benchmark process. Atlas: {SPEC.n_prompts} synthetic prompts, {n_features} "
             f"features with statistics, all labelled. Peer, one card at a time: CardReader (what "
             f"a miss runs; the server batches concurrent misses into one such read) p50 "
             f"{peer['card']:.1f} ms, the reference load_card {peer['card_reference']:.1f} ms. "
             f"With W > 1 each process has its own card cache, so 'repeated keys' there still "
             f"includes first-time misses.", "",
             "| workers | endpoint | requests | p50 ms | p95 ms | req/s | load avg | peer: "
             "library call p50 ms (1 thread, no HTTP) | p50 ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (workers, name), (p50, p95, rps, n, load) in results.items():
        ref = peer["search" if name.startswith("search") else "card"]
        lines.append(f"| {workers} | {name} | {n} | {p50:.1f} | {p95:.1f} | {rps:.0f} | "
                     f"{load:.1f} | {ref:.1f} | {p50 / ref:.1f} |")
    for (workers, name), (_, p95, *_rest) in results.items():
        if name.startswith("feature card, cache miss"):
            lines.append(f"\nTarget p95 < 100 ms for a feature card (cache miss), {workers} "
                         f"worker(s): {p95:.0f} ms ({'met' if p95 < 100 else 'NOT met'}).")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    body = out.read_text() if out.exists() else "# Benchmarks\n"
    if "## API" not in body:
        body += ("\n## API\n\nbenchmarks/bench_api.py: latency of the HTTP API under concurrent "
                 "clients on loopback. With 20 clients each request waits behind the others, "
                 "so p50 is roughly queueing time; the peer (direct library call, one thread) "
                 "is the work itself.\n")
    out.write_text(body + text)


if __name__ == "__main__":
    main()
