"""Independent answers to the named queries, computed with DuckDB straight from shard Parquet files.

Shares no code with the loader: feature-level edges come from a SQL join of edges with nodes, and
path supports from Python set intersections.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import duckdb


class Oracle:
    """Per-prompt feature-level edges and node instances of a run folder."""

    def __init__(self, run_dir: Path):
        con = duckdb.connect()
        glob = str(Path(run_dir) / "shards" / "*" / "{}.parquet")
        con.execute(f"CREATE VIEW n AS SELECT * FROM read_parquet('{glob.format('nodes')}')")
        con.execute(f"CREATE VIEW e AS SELECT * FROM read_parquet('{glob.format('edges')}')")
        con.execute(f"CREATE VIEW p AS SELECT * FROM read_parquet('{glob.format('prompts')}')")
        key = ("CASE WHEN {a}.node_type = 'feature' THEN {a}.transcoder_set || ':' || "
               "{a}.layer || ':' || {a}.feature END")
        self.fe = con.execute(f"""
            SELECT e.prompt_id, {key.format(a='s')} AS s, {key.format(a='t')} AS t,
                   t.node_type AS t_type, t.token_id AS t_tok, e.weight::DOUBLE AS w
            FROM e JOIN n s ON s.prompt_id = e.prompt_id AND s.node_index = e.source
                   JOIN n t ON t.prompt_id = e.prompt_id AND t.node_index = e.target
            WHERE s.node_type = 'feature'""").fetchall()
        self.instances = con.execute(f"""
            SELECT prompt_id, {key.format(a='n')} AS f, layer, influence::DOUBLE, activation::DOUBLE
            FROM n WHERE node_type = 'feature'""").fetchall()
        self.logit_prompts = defaultdict(set)
        for pid, tok in con.execute("SELECT prompt_id, token_id FROM n WHERE node_type='logit'").fetchall():
            self.logit_prompts[tok].add(pid)
        self.prompts = {r[0] for r in con.execute("SELECT prompt_id FROM p").fetchall()}
        self.nodes = con.execute("SELECT * FROM n ORDER BY prompt_id, node_index").df()
        self.edges = con.execute("SELECT * FROM e").df()
        self._index()

    def _index(self) -> None:
        self.edge_prompts: dict[tuple, set] = defaultdict(set)
        self.edge_weights: dict[tuple, list] = defaultdict(list)
        self.out_prompts: dict[tuple, set] = defaultdict(set)
        self.hop_sum: dict[tuple, float] = defaultdict(float)
        for pid, s, t, t_type, t_tok, w in self.fe:
            if t is not None:
                self.edge_prompts[(s, t)].add(pid)
                self.edge_weights[(s, t)].append(w)
                self.hop_sum[(pid, s, t)] += w
            elif t_type == "logit":
                self.out_prompts[(s, t_tok)].add(pid)
                self.edge_weights[(s, ("tok", t_tok))].append(w)
                self.hop_sum[(pid, s, ("tok", t_tok))] += w
        self.succ = defaultdict(set)
        for s, t in self.edge_prompts:
            self.succ[s].add(t)

    def mean(self, s, t) -> float:
        ws = self.edge_weights[(s, t)]
        return sum(ws) / len(ws)

    def mean_abs(self, s, t) -> float:
        ws = self.edge_weights[(s, t)]
        return sum(abs(w) for w in ws) / len(ws)

    def paths(self, min_support: int, max_edges: int):
        """Every feature path (1..max_edges+1 features) whose hops each have support >= k."""
        ok = {k for k, v in self.edge_prompts.items() if len(v) >= min_support}
        feats = {f for _, f, *_ in self.instances}
        stack = [[f] for f in sorted(feats)]
        while stack:
            path = stack.pop()
            yield path
            if len(path) - 1 < max_edges:
                for t in sorted(self.succ[path[-1]]):
                    if (path[-1], t) in ok:
                        stack.append(path + [t])

    def recurring(self, min_prompts=3, min_length=2, max_length=4, token=None, prompts=None,
                  examples=3, limit=20):
        rows = []
        for path in self.paths(min_prompts, max_length - 1):
            if len(path) < min_length:
                continue
            hops = list(zip(path, path[1:]))
            sets = [self.edge_prompts[h] for h in hops]
            keys = list(hops)
            if token is not None:
                out = self.out_prompts.get((path[-1], token), set())
                if len(out) < min_prompts:
                    continue
                sets.append(out)
                keys.append((path[-1], ("tok", token)))
            if not sets:
                continue
            ps = set.intersection(*sets)
            if prompts is not None:
                ps &= set(prompts)
            if len(ps) < min_prompts:
                continue
            rows.append({"features": path, "length": len(path), "token": token,
                         "support": len(ps),
                         "mean_weight": sum(self.mean(*k) for k in keys) / len(keys),
                         "mean_abs_weight": sum(self.mean_abs(*k) for k in keys) / len(keys),
                         "example_prompts": sorted(ps)[:examples]})
        rows.sort(key=lambda r: (-r["support"], -r["mean_abs_weight"], r["features"]))
        return rows[:limit]

    def neighborhood(self, feature, min_prompts=1, limit=10):
        out = []
        for direction, pick in (("up", lambda s, t: t == feature),
                                ("down", lambda s, t: s == feature)):
            rows = []
            for (s, t), ps in self.edge_prompts.items():
                if pick(s, t) and len(ps) >= min_prompts:
                    ws = self.edge_weights[(s, t)]
                    rows.append({"direction": direction, "feature": s if direction == "up" else t,
                                 "support": len(ps), "count": len(ws),
                                 "mean_weight": sum(ws) / len(ws),
                                 "sum_abs": sum(abs(w) for w in ws),
                                 "min_weight": min(ws), "max_weight": max(ws)})
            rows.sort(key=lambda r: (-r["sum_abs"], r["feature"]))
            out.extend(rows[:limit])
        return out

    def between(self, source, target, max_hops=3, min_prompts=1, limit=10):
        rows = []
        for path in self.paths(min_prompts, max_hops):
            if path[0] != source or path[-1] != target or len(path) < 2:
                continue
            hops = list(zip(path, path[1:]))
            ps = set.intersection(*(self.edge_prompts[h] for h in hops))
            if len(ps) < min_prompts:
                continue
            score = 1.0
            for h in hops:
                score *= self.mean(*h)
            rows.append({"features": path, "hops": len(hops), "score": score,
                         "support": len(ps),
                         "min_hop_support": min(len(self.edge_prompts[h]) for h in hops)})
        rows.sort(key=lambda r: (-abs(r["score"]), r["features"]))
        return rows[:limit]

    def hubs(self, token=None, prompts=None, limit=20):
        scope = set(self.prompts)
        if token is not None:
            scope &= self.logit_prompts[token]
        if prompts is not None:
            scope &= set(prompts)
        acc = defaultdict(lambda: [set(), 0, 0.0, []])
        for pid, f, layer, infl, act in self.instances:
            if pid in scope:
                a = acc[f]
                a[0].add(pid)
                a[1] += 1
                a[2] += infl
                a[3].append(act)
        rows = [{"feature": f, "n_prompts": len(a[0]), "instances": a[1], "total_influence": a[2],
                 "mean_activation": sum(a[3]) / len(a[3])} for f, a in acc.items()]
        rows.sort(key=lambda r: (-r["total_influence"], r["feature"]))
        return rows[:limit]

    def compare(self, a, b, min_prompts=2, limit=20):
        a, b = set(a) & self.prompts, set(b) & self.prompts
        rows = []
        for (s, t), ps in self.edge_prompts.items():
            sa, sb = len(ps & a), len(ps & b)
            if sa < min_prompts:
                continue
            rows.append({"source": s, "target": t, "support_a": sa, "support_b": sb,
                         "ratio": ((sa + 0.5) / (len(a) + 1)) / ((sb + 0.5) / (len(b) + 1))})
        rows.sort(key=lambda r: (-r["ratio"], -r["support_a"], r["source"], r["target"]))
        return rows[:limit]

    def circuit_prompts(self, features, token=None, limit=50):
        hops = list(zip(features, features[1:]))
        sets = [self.edge_prompts[h] for h in hops]
        keys = list(hops)
        if token is not None:
            sets.append(self.out_prompts[(features[-1], token)])
            keys.append((features[-1], ("tok", token)))
        ps = sorted(set.intersection(*sets))[:limit]
        return [{"prompt_id": p, "hop_weights": [self.hop_sum[(p,) + k] for k in keys]}
                for p in ps]
