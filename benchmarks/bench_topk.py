"""Benchmark: streaming DuckDB merge of feature statistics (top-k, samples, histograms, stats).

Generates synthetic activations in batches (heavy-tailed feature frequencies over n_features,
lognormal activations, L0 active features per token), merges them shard by shard with
`FeatureStatsStore`, and reports records/s of the merge (generation excluded) and peak RSS.
The peer, measured in the same run on the first `--peer-records` records, is the plain SQL
full sort (`QUALIFY row_number() ... <= k` over all records in one table); the script checks
that both give the same top-k and appends the results to BENCHMARKS.md ("DuckDB top-k").

    PYTHONPATH=$PWD python benchmarks/bench_topk.py --records 1e7
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from atlas.features.merge import FeatureStatsStore
from atlas.features.spec import FeatureStatsConfig
from atlas.stores import duckdb_schema
from atlas.stores.duckdb_store import open_path

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## DuckDB top-k"


def feature_probabilities(n_features: int, rng: np.random.Generator) -> np.ndarray:
    """Zipf-like firing rates (a few dense features, a long tail of rare ones)."""
    p = 1.0 / (np.arange(n_features) + 20.0) ** 1.1
    return rng.permutation(p / p.sum())


class Generator:
    """Batches of (activations, prompts) in the shard format, all prompts `seq_len` tokens."""

    def __init__(self, seed: int, n_features: int, l0: int, seq_len: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.probs = feature_probabilities(n_features, self.rng)
        self.scale = self.rng.lognormal(0.0, 0.5, n_features).astype(np.float32)
        self.l0, self.seq_len, self.next_prompt = l0, seq_len, 0

    def batch(self, n_records: int) -> tuple[pa.Table, pa.Table]:
        n_prompts = max(1, n_records // (self.l0 * self.seq_len))
        n_tokens = n_prompts * self.seq_len
        n = n_tokens * self.l0
        token = np.repeat(np.arange(n_tokens, dtype=np.int64), self.l0)
        feature = self.rng.choice(self.probs.size, size=n, p=self.probs).astype(np.int32)
        key = np.unique(token * self.probs.size + feature)  # one record per (token, feature)
        token, feature = key // self.probs.size, (key % self.probs.size).astype(np.int32)
        act = self.rng.lognormal(-1.0, 1.0, key.size).astype(np.float32) * self.scale[feature]
        ids = np.array([f"p{self.next_prompt + i:09d}" for i in range(n_prompts)], dtype=object)
        self.next_prompt += n_prompts
        token_ids = self.rng.integers(0, 50_000, size=(n_prompts, self.seq_len), dtype=np.int32)
        acts = pa.table({
            "prompt_id": pa.array(ids[token // self.seq_len], pa.string()),
            "position": pa.array((token % self.seq_len).astype(np.int32)),
            "token_id": pa.array(token_ids.reshape(-1)[token]),
            "layer": pa.array(np.zeros(key.size, np.int16)),
            "feature": pa.array(feature),
            "activation": pa.array(act)})
        offsets = pa.array(np.arange(n_prompts + 1, dtype=np.int32) * self.seq_len)
        prompts = pa.table({"prompt_id": pa.array(ids, pa.string()),
                            "token_ids": pa.ListArray.from_arrays(offsets,
                                                                  pa.array(token_ids.reshape(-1)))})
        return acts, prompts


def run_streaming(args, db: Path, keep_first: int) -> dict:
    con = open_path(db, args.memory_limit, args.threads)
    duckdb_schema.migrate(con)
    store = FeatureStatsStore(con, FeatureStatsConfig(top_k=args.k))
    gen = Generator(args.seed, args.features, args.l0, args.seq_len)
    kept: list[pa.Table] = []
    done, merge_s, gen_s, shard = 0, 0.0, 0.0, 0
    cands = {"top": 0, "sample": 0}
    while done < args.records:
        with store.merge_shard("bench", "synthetic", f"{shard:05d}") as merge:
            in_shard = 0
            while in_shard < args.shard_records and done < args.records:
                t0 = time.perf_counter()
                acts, prompts = gen.batch(int(min(args.batch_records, args.records - done)))
                t1 = time.perf_counter()
                merge.add_batch(acts, prompts)
                merge_s += time.perf_counter() - t1
                gen_s += t1 - t0
                if done < keep_first:
                    kept.append(acts)
                done += acts.num_rows
                in_shard += acts.num_rows
            t1 = time.perf_counter()
        merge_s += time.perf_counter() - t1  # the commit
        for name in cands:
            cands[name] += merge.n_candidates[name]
        shard += 1
        print(f"  {done:>12,} records  {done / merge_s:,.0f} records/s", flush=True)
    db_mb = db.stat().st_size / 2**20
    con.close()
    return {"records": done, "merge_s": merge_s, "gen_s": gen_s, "shards": shard,
            "db_mb": db_mb, "kept": kept, "cands": cands}


PEER_SQL = """
CREATE TABLE peer_top AS SELECT layer, feature, prompt_id, position, activation FROM acts
QUALIFY row_number() OVER (PARTITION BY layer, feature
                           ORDER BY activation DESC, prompt_id, position) <= {k}
"""


def run_peer(args, kept: list[pa.Table], n_records: int, db: Path) -> dict:
    """Full sort of the first n_records, and the streaming merge of the same records."""
    acts = pa.concat_tables(kept).slice(0, n_records)
    con = open_path(db, args.memory_limit, args.threads)
    t0 = time.perf_counter()
    con.execute("CREATE TABLE acts AS SELECT * FROM acts")
    t1 = time.perf_counter()
    con.execute(PEER_SQL.format(k=int(args.k)))
    t2 = time.perf_counter()
    con.close()
    return {"records": acts.num_rows, "load_s": t1 - t0, "sort_s": t2 - t1}


def same_top(stream_db: Path, peer_db: Path) -> bool:
    con = open_path(stream_db, read_only=True)
    con.execute(f"ATTACH '{peer_db}' AS peer (READ_ONLY)")
    diff = con.execute("""
        SELECT count(*) FROM (
            (SELECT layer, feature, prompt_id, position, activation FROM feature_top_examples
             EXCEPT ALL SELECT * FROM peer.peer_top)
            UNION ALL
            (SELECT * FROM peer.peer_top EXCEPT ALL
             SELECT layer, feature, prompt_id, position, activation FROM feature_top_examples))
    """).fetchall()[0][0]
    con.close()
    return diff == 0


def report(args, full: dict, small: dict, peer: dict, equal: bool) -> str:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = full["records"] / full["merge_s"]
    small_rate = small["records"] / small["merge_s"]
    peer_rate = peer["records"] / (peer["load_s"] + peer["sort_s"])
    return "\n".join([
        f"### {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
        f"DuckDB threads={args.threads}, memory_limit={args.memory_limit}",
        "",
        f"Synthetic: {args.features:,} features (Zipf-like rates), L0={args.l0} per token, "
        f"{args.seq_len}-token prompts, lognormal activations; batches of "
        f"{args.batch_records:,.0f} records, shards of {args.shard_records:,.0f}; k={args.k}, "
        "samples 4/bin, 62 histogram bins, context 16/8.",
        "",
        "| what | records | seconds | records/s |",
        "|---|---:|---:|---:|",
        f"| streaming merge (stats+hist+top-k+samples+contexts) | {full['records']:,} | "
        f"{full['merge_s']:.1f} | {rate:,.0f} |",
        f"| streaming merge, first shard(s) only | {small['records']:,} | "
        f"{small['merge_s']:.1f} | {small_rate:,.0f} |",
        f"| peer: full sort top-k only (load + QUALIFY) | {peer['records']:,} | "
        f"{peer['load_s'] + peer['sort_s']:.1f} | {peer_rate:,.0f} |",
        "",
        f"Edge filter: {full['cands']['top'] / full['records']:.1%} of records reached the top-k "
        f"ranking, {full['cands']['sample'] / full['records']:.1%} the sample ranking. "
        f"Ratio streaming/peer records/s on the same {peer['records']:,} records: "
        f"{small_rate / peer_rate:.2f} (the streaming merge also builds stats, histogram, "
        f"samples and context windows). Same top-k as the full sort: {equal}. "
        f"Peak RSS of the process (generator included): {rss:,.0f} MiB. DuckDB file: "
        f"{full['db_mb']:,.0f} MiB. Data generation (excluded): {full['gen_s']:.0f} s. "
        f"Load average (1 min) at start/end: {args.load_start:.1f}/{os.getloadavg()[0]:.1f} "
        "(the machine is shared; above 2 the figures are lower bounds).",
        ""])


def append_section(text: str, path: Path = ROOT / "BENCHMARKS.md") -> None:
    body = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION not in body:
        body = body.rstrip("\n") + f"\n\n{SECTION}\n\nWritten by benchmarks/bench_topk.py.\n"
    head, _, tail = body.partition(SECTION)
    nxt = tail.find("\n## ")
    section, rest = (tail, "") if nxt < 0 else (tail[:nxt], tail[nxt:])
    path.write_text(head + SECTION + section.rstrip("\n") + "\n\n" + text + rest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=float, default=1e8)
    parser.add_argument("--peer-records", type=float, default=1e7)
    parser.add_argument("--batch-records", type=float, default=2e6)
    parser.add_argument("--shard-records", type=float, default=1e7)
    parser.add_argument("--features", type=int, default=16_384)
    parser.add_argument("--l0", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.records = int(args.records)
    args.load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        small_args = argparse.Namespace(**{**vars(args), "records": int(args.peer_records)})
        print("streaming, peer-sized run:", flush=True)
        small = run_streaming(small_args, Path(tmp) / "small.duckdb", int(args.peer_records))
        print("peer full sort:", flush=True)
        peer = run_peer(args, small.pop("kept"), small["records"], Path(tmp) / "peer.duckdb")
        equal = same_top(Path(tmp) / "small.duckdb", Path(tmp) / "peer.duckdb")
        print(f"  {peer}  same top-k: {equal}", flush=True)
        full = small
        if args.records > small["records"]:
            print("streaming, full run:", flush=True)
            full = run_streaming(args, Path(tmp) / "full.duckdb", 0)
            full.pop("kept")
    text = report(args, full, small, peer, equal)
    print(text)
    if not args.no_write:
        append_section(text)


if __name__ == "__main__":
    main()
