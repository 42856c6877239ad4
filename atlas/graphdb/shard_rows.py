"""Turning one shard's Parquet tables into loader batches: prompt, feature, node, edge and aggregate rows.

Pure (no database): the loader sends these rows as `UNWIND $rows` parameters. A batch holds whole
prompts, so a prompt and everything it contributes (nodes, edges, aggregate increments) commit in
one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from atlas.errors import InputError
from atlas.graphdb.keys import cantor, feature_key, prompt_number, prompt_uid, token_key

REQUIRED = {
    "prompts": {"run", "prompt_id", "text", "tokens", "token_ids"},
    "nodes": {"run", "prompt_id", "node_index", "node_id", "node_type", "transcoder_set",
              "layer", "position", "feature", "token_id", "activation", "influence",
              "logit_prob"},
    "edges": {"run", "prompt_id", "source", "target", "weight"},
}
_OPTIONAL_PROMPT = ("metadata", "replacement_score", "completeness_score")


@dataclass(frozen=True)
class ShardTables:
    """One shard read into pandas frames, rows sorted by prompt."""

    run: str
    """Run name (from the prompts table)."""
    shard: str
    """Shard folder name."""
    prompts: pd.DataFrame
    """prompts.parquet rows, with uid and pn columns added."""
    nodes: pd.DataFrame
    """nodes.parquet rows sorted by (prompt_id, node_index)."""
    edges: pd.DataFrame
    """edges.parquet rows sorted by prompt_id."""


def read_shard(shard_dir: Path) -> ShardTables:
    """Read and check a complete shard folder (its _SUCCESS marker must exist)."""
    shard_dir = Path(shard_dir)
    if not (shard_dir / "_SUCCESS").exists():
        raise InputError(f"shard {shard_dir} has no _SUCCESS marker; it is incomplete, "
                         "wait for its writer or re-run ingestion")
    frames = {}
    for name, needed in REQUIRED.items():
        path = shard_dir / f"{name}.parquet"
        try:
            frame = pq.read_table(path).to_pandas()
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read {path}: {e}; re-run ingestion for this shard") from e
        missing = sorted(needed - set(frame.columns))
        if missing:
            raise InputError(f"{path} lacks column(s) {', '.join(missing)}; "
                             "see docs/shard-format.md")
        frames[name] = frame
    prompts = frames["prompts"]
    if "has_graph" in prompts.columns:
        prompts = prompts[prompts["has_graph"].fillna(False).astype(bool)]
    runs = prompts["run"].unique()
    if len(runs) > 1:
        raise InputError(f"shard {shard_dir} mixes runs {list(runs)}; one run per shard")
    prompts = prompts.assign(uid=[prompt_uid(r, p) for r, p in zip(prompts["run"],
                                                                   prompts["prompt_id"])])
    prompts = prompts.assign(pn=[prompt_number(u) for u in prompts["uid"]])
    nodes = frames["nodes"].sort_values(["prompt_id", "node_index"], kind="stable")
    edges = frames["edges"].sort_values("prompt_id", kind="stable")
    return ShardTables(str(runs[0]) if len(runs) else "", shard_dir.name,
                       prompts.sort_values("prompt_id").reset_index(drop=True),
                       nodes.reset_index(drop=True), edges.reset_index(drop=True))


def plan_batches(tables: ShardTables, batch_edges: int) -> list[list[str]]:
    """Consecutive prompt ids grouped so each batch holds about `batch_edges` edges."""
    counts = tables.edges["prompt_id"].value_counts()
    batches, current, size = [], [], 0
    for pid in tables.prompts["prompt_id"]:
        current.append(pid)
        size += int(counts.get(pid, 0))
        if size >= batch_edges:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    return batches


def _none(value):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value



def prompt_rows(prompts: pd.DataFrame, shard: str) -> list[dict]:
    """Rows for `MERGE (:Prompt {uid})`, properties under 'props'."""
    rows = []
    for rec in prompts.to_dict("records"):
        props = {"run": rec["run"], "prompt_id": rec["prompt_id"], "pn": int(rec["pn"]),
                 "text": rec["text"], "tokens": list(rec["tokens"]),
                 "token_ids": [int(t) for t in rec["token_ids"]], "shard": shard}
        for name in _OPTIONAL_PROMPT:
            if name in rec:
                props[name] = _none(rec[name])
        rows.append({"uid": rec["uid"], "props": props})
    return rows


@dataclass(frozen=True)
class BatchRows:
    """Everything one batch of fresh prompts writes, ready for the loader's statements."""

    features: list[dict]
    """Distinct features, sorted by key (a fixed lock order for concurrent loaders)."""
    tokens: list[dict]
    """Distinct output tokens, sorted by key."""
    graphs: list[dict]
    """Per prompt: uid `u`, `nodes` (node rows) and `edges` ([source, target, weight] with
    sources and targets as ordinals into `nodes`)."""
    n_nodes: int
    """Graph nodes in the batch."""
    n_edges: int
    """Edges in the batch."""
    agg: list[dict]
    """Feature -> feature aggregate increments."""
    agg_out: list[dict]
    """Feature -> output token aggregate increments."""


def _node_keys(nodes: pd.DataFrame) -> tuple[list, list]:
    fks, tks = [], []
    for typ, ts, layer, feat, tok in zip(nodes["node_type"], nodes["transcoder_set"],
                                         nodes["layer"], nodes["feature"], nodes["token_id"]):
        fks.append(feature_key(ts, layer, feat) if typ == "feature" else None)
        tks.append(token_key(ts, tok) if typ == "logit" else None)
    return fks, tks


def _aggregate(src: pd.Series, dst: pd.Series, pn: pd.Series, w: np.ndarray) -> list[dict]:
    """Support, count, sum, sum |w|, sum w^2, min, max and prompt numbers per (src, dst)."""
    if len(src) == 0:
        return []
    frame = pd.DataFrame({"s": src.to_numpy(object), "t": dst.to_numpy(object),
                          "pn": pn.to_numpy(np.int64), "w": w, "a": np.abs(w), "q": w * w})
    stats = frame.groupby(["s", "t"], sort=True).agg(
        n=("pn", "nunique"), c=("w", "size"), sum=("w", "sum"), sa=("a", "sum"),
        sq=("q", "sum"), min=("w", "min"), max=("w", "max"))
    # prompt numbers per pair: distinct (s, t, pn) sorted like `stats`, cut at the group sizes
    pns = frame[["s", "t", "pn"]].drop_duplicates().sort_values(["s", "t", "pn"])["pn"].tolist()
    ends = np.cumsum(stats["n"].to_numpy()).tolist()
    rows, start = [], 0
    for (s, t), rec, end in zip(stats.index, stats.itertuples(index=False), ends):
        rows.append({"s": s, "t": t, "n": int(rec.n), "c": int(rec.c), "sum": float(rec.sum),
                     "sa": float(rec.sa), "sq": float(rec.sq), "min": float(rec.min),
                     "max": float(rec.max), "ps": pns[start:end]})
        start = end
    return rows


def _edge_ordinals(nodes: pd.DataFrame, edges: pd.DataFrame, p_ord: dict, shard: str):
    """Row numbers in `nodes` of each edge's source and target."""
    node_code = nodes["prompt_id"].map(p_ord).to_numpy(np.int64) << 32 | nodes["node_index"].to_numpy(np.int64)
    edge_p = edges["prompt_id"].map(p_ord).to_numpy(np.int64) << 32
    out = []
    for col in ("source", "target"):
        code = edge_p | edges[col].to_numpy(np.int64)
        pos = np.minimum(np.searchsorted(node_code, code), max(len(node_code) - 1, 0))
        if len(code) and not np.array_equal(node_code[pos], code):
            raise InputError(f"shard {shard}: an edge refers to a node_index missing from "
                             "nodes.parquet; re-run ingestion for this shard")
        out.append(pos)
    return out


def batch_rows(tables: ShardTables, uids: list[str]) -> BatchRows:
    """Rows for the prompts `uids` (all in `tables`)."""
    prompts = tables.prompts[tables.prompts["uid"].isin(uids)]
    pids = sorted(prompts["prompt_id"])
    pn_of = dict(zip(prompts["prompt_id"], prompts["pn"]))
    uid_of = dict(zip(prompts["prompt_id"], prompts["uid"]))
    nodes = _rows_of(tables.nodes, pids)
    edges = _rows_of(tables.edges, pids)
    fks, tks = _node_keys(nodes)
    src, dst = _edge_ordinals(nodes, edges, {p: i for i, p in enumerate(pids)}, tables.shard)
    weights = edges["weight"].to_numpy(np.float64)
    graphs = _graph_rows(nodes, edges, src, dst, weights, uid_of, fks, tks)
    fk_arr, tk_arr = np.array(fks, dtype=object), np.array(tks, dtype=object)
    e_pn = pd.Series(edges["prompt_id"].map(pn_of).to_numpy(np.int64))
    s_fk, t_fk, t_tk = (pd.Series(a[i]) for a, i in ((fk_arr, src), (fk_arr, dst), (tk_arr, dst)))
    ff = (s_fk.notna() & t_fk.notna()).to_numpy()
    fl = (s_fk.notna() & t_tk.notna()).to_numpy()
    return BatchRows(
        features=_features(nodes), tokens=_tokens(nodes, prompts), graphs=graphs,
        n_nodes=len(nodes), n_edges=len(edges),
        agg=_aggregate(s_fk[ff], t_fk[ff], e_pn[ff], weights[ff]),
        agg_out=_aggregate(s_fk[fl], t_tk[fl], e_pn[fl], weights[fl]))


def _rows_of(frame: pd.DataFrame, pids: list[str]) -> pd.DataFrame:
    """Rows of the sorted prompts `pids` from a frame sorted by prompt_id (one slice, then a
    filter only when some prompts in the slice are not wanted)."""
    keys = frame["prompt_id"].to_numpy()
    lo = int(np.searchsorted(keys, pids[0], side="left")) if pids else 0
    hi = int(np.searchsorted(keys, pids[-1], side="right")) if pids else 0
    part = frame.iloc[lo:hi]
    if part["prompt_id"].nunique() != len(pids):
        part = part[part["prompt_id"].isin(set(pids))]
    return part.reset_index(drop=True)


def _opt(value) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def _graph_rows(nodes, edges, src, dst, weights, uid_of, fks, tks) -> list[dict]:
    """One row per prompt: its node rows and its edges as in-prompt ordinals."""
    first = nodes.groupby("prompt_id", sort=False).cumcount().to_numpy()
    start = np.arange(len(nodes)) - first
    graphs: dict[str, dict] = {}
    cols = zip(nodes["prompt_id"], first, nodes["node_index"], nodes["node_type"],
               nodes["layer"], nodes["position"], nodes["token_id"], nodes["activation"],
               nodes["influence"], nodes["logit_prob"], fks, tks)
    for pid, o, idx, typ, layer, pos, tok, act, infl, prob, fk, tk in cols:
        g = graphs.setdefault(pid, {"u": uid_of[pid], "nodes": [], "edges": []})
        g["nodes"].append({"o": int(o), "i": int(idx), "type": typ, "layer": int(layer),
                           "pos": int(pos), "tok": int(tok) if tok >= 0 else None,
                           "act": _opt(act), "infl": _opt(infl), "prob": _opt(prob),
                           "fk": fk, "tk": tk})
    for pid, s, t, w in zip(edges["prompt_id"], (src - start[src]).tolist(),
                            (dst - start[dst]).tolist(), weights.tolist()):
        graphs[pid]["edges"].append([s, t, w])
    return list(graphs.values())


def _features(nodes: pd.DataFrame) -> list[dict]:
    feats = nodes[nodes["node_type"] == "feature"][["transcoder_set", "layer", "feature"]]
    rows = {}
    for ts, layer, feat in feats.drop_duplicates().itertuples(index=False):
        key = feature_key(ts, layer, feat)
        rows[key] = {"key": key, "transcoder_set": ts, "layer": int(layer), "index": int(feat),
                     "feature": cantor(layer, feat)}
    return [rows[k] for k in sorted(rows)]


def _tokens(nodes: pd.DataFrame, prompts: pd.DataFrame) -> list[dict]:
    text_of = {}
    for ids, toks in zip(prompts["token_ids"], prompts["tokens"]):
        text_of.update(zip((int(i) for i in ids), toks))
    logits = nodes[nodes["node_type"] == "logit"][["transcoder_set", "token_id"]]
    rows = {}
    for ts, tok in logits.drop_duplicates().itertuples(index=False):
        key = token_key(ts, tok)
        rows[key] = {"key": key, "vocab": ts, "token_id": int(tok), "text": text_of.get(int(tok))}
    return [rows[k] for k in sorted(rows)]
