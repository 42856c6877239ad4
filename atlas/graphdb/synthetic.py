"""Synthetic shard runs (docs/shard-format.md) with planted recurring paths, for tests and benchmarks.

A synthetic prompt's pruned graph is a random layered DAG over feature, error, embedding and
logit nodes. Planted paths (chains of features of increasing layer, optionally ending in an
output token) are inserted into a chosen fraction of the prompts, so cross-prompt queries have
known answers. Everything is seeded; node order and node ids follow circuit-tracer's conventions.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


@dataclass(frozen=True)
class PlantedPath:
    """A chain of features planted into a fraction of the prompts."""

    features: tuple[tuple[int, int], ...]
    """(layer, feature index) of each feature, layers strictly increasing."""
    rate: float
    """Fraction of prompts that contain the path."""
    token: int | None = None
    """Output token the last feature feeds (a logit node), or None."""
    weight: float = 1.0
    """Mean weight of the planted edges."""


@dataclass(frozen=True)
class SyntheticSpec:
    """Size and shape of a synthetic run."""

    run: str = "synth"
    """Run name written in every table."""
    transcoder_set: str = "synth-plt"
    """Transcoder set name of every feature."""
    n_prompts: int = 40
    """Number of prompts (each gets a graph)."""
    n_shards: int = 2
    """Prompts are split evenly over this many shards."""
    n_layers: int = 4
    """Transcoder layers; logits sit at layer n_layers."""
    n_features: int = 30
    """Features per layer (small values make random paths recur too)."""
    vocab: int = 50
    """Token vocabulary size."""
    features_per_prompt: int = 12
    """Random feature nodes per prompt (before planted ones)."""
    edges_per_prompt: int = 40
    """Random edges per prompt (before planted ones)."""
    seq_len: tuple[int, int] = (4, 8)
    """Min and max tokens per prompt, BOS included."""
    planted: tuple[PlantedPath, ...] = field(default_factory=lambda: (
        PlantedPath(((0, 1), (1, 2), (2, 3)), rate=0.6, token=7, weight=2.0),
        PlantedPath(((1, 5), (3, 6)), rate=0.3, token=None, weight=-1.5),
    ))
    """Recurring paths with known support."""
    seed: int = 0
    """Random seed."""


def _feature_node_id(layer: int, feat: int, pos: int) -> str:
    return f"{layer}_{feat}_{pos}"


class _PromptBuilder:
    """Builds one prompt's nodes and edges as column lists."""

    def __init__(self, spec: SyntheticSpec, rng: np.random.Generator, prompt_id: str):
        self.spec, self.rng, self.prompt_id = spec, rng, prompt_id
        n_pos = int(rng.integers(spec.seq_len[0], spec.seq_len[1] + 1))
        self.tokens = [0] + [int(t) for t in rng.integers(1, spec.vocab, n_pos - 1)]
        self.last = n_pos - 1
        self.features: dict[tuple[int, int, int], float] = {}  # (layer, feat, pos) -> act
        self.logits: dict[int, float] = {}
        self.edges: dict[tuple[tuple, tuple], float] = {}

    def plant(self, path: PlantedPath) -> None:
        pos = int(self.rng.integers(0, self.last + 1))
        keys = []
        for layer, feat in path.features:
            key = (layer, feat, pos)
            self.features.setdefault(key, float(self.rng.uniform(0.5, 5.0)))
            keys.append(("f",) + key)
        for src, dst in zip(keys, keys[1:]):
            self.edges[(src, dst)] = path.weight + float(self.rng.normal(0, 0.1))
        if path.token is not None:
            self.logits.setdefault(path.token, 0.0)
            self.edges[(keys[-1], ("l", path.token))] = path.weight + float(self.rng.normal(0, 0.1))

    def random_part(self) -> None:
        s, rng = self.spec, self.rng
        zipf = np.minimum(rng.zipf(1.6, s.features_per_prompt) - 1, s.n_features - 1)
        for f in zipf:
            key = (int(rng.integers(0, s.n_layers)), int(f), int(rng.integers(0, self.last + 1)))
            self.features.setdefault(key, float(rng.uniform(0.1, 5.0)))
        for t in rng.choice(s.vocab, size=int(rng.integers(1, 4)), replace=False):
            self.logits.setdefault(int(t), 0.0)

    def finish(self) -> tuple[list[dict], list[tuple[int, int, float]]]:
        s, rng = self.spec, self.rng
        feats = sorted(self.features)
        errors = sorted({(layer, pos) for layer, _, pos in feats})
        nodes: list[dict] = []
        index: dict[tuple, int] = {}
        for layer, feat, pos in feats:
            index[("f", layer, feat, pos)] = len(nodes)
            nodes.append(dict(node_id=_feature_node_id(layer, feat, pos), node_type="feature",
                              layer=layer, position=pos, feature=feat, token_id=-1,
                              activation=self.features[(layer, feat, pos)], logit_prob=None))
        for layer, pos in errors:
            index[("e", layer, pos)] = len(nodes)
            nodes.append(dict(node_id=f"0_{layer}_{pos}", node_type="error", layer=layer,
                              position=pos, feature=-1, token_id=-1, activation=None,
                              logit_prob=None))
        for pos, tok in enumerate(self.tokens):
            index[("x", pos)] = len(nodes)
            nodes.append(dict(node_id=f"E_{tok}_{pos}", node_type="embedding", layer=-1,
                              position=pos, feature=-1, token_id=tok, activation=None,
                              logit_prob=None))
        probs = rng.dirichlet(np.ones(len(self.logits))) * 0.9
        for (tok, _), p in zip(sorted(self.logits.items()), probs):
            index[("l", tok)] = len(nodes)
            nodes.append(dict(node_id=f"{s.n_layers + 1}_{tok}_{self.last}", node_type="logit",
                              layer=s.n_layers, position=self.last, feature=-1, token_id=tok,
                              activation=None, logit_prob=float(p)))
        for i, node in enumerate(nodes):
            node["node_index"] = i
            node["influence"] = float(rng.uniform(0.0, 1.0))
        edges = {(index[a], index[b]): w for (a, b), w in self.edges.items()}
        self._random_edges(nodes, edges)
        return nodes, [(a, b, w) for (a, b), w in edges.items()]

    def _random_edges(self, nodes: list[dict], edges: dict) -> None:
        rng = self.rng
        depth = np.array([n["layer"] for n in nodes])
        n = len(nodes)
        for _ in range(self.spec.edges_per_prompt * 3):
            if len(edges) >= self.spec.edges_per_prompt + len(self.edges):
                break
            a, b = int(rng.integers(0, n)), int(rng.integers(0, n))
            if depth[a] >= depth[b] or nodes[a]["node_type"] == "logit":
                continue
            if nodes[b]["node_type"] == "embedding":
                continue
            edges.setdefault((a, b), float(rng.normal(0, 1.0)))


_NODE_TYPES = {"node_index": pa.int32(), "node_id": pa.string(), "node_type": pa.string(),
               "layer": pa.int16(), "position": pa.int32(), "feature": pa.int32(),
               "token_id": pa.int32(), "activation": pa.float32(), "influence": pa.float32(),
               "logit_prob": pa.float32()}


def _write_shard(shard_dir: Path, tables: dict[str, pa.Table]) -> None:
    tmp = shard_dir.with_name(f".{shard_dir.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name, table in tables.items():
        pq.write_table(table, tmp / f"{name}.parquet")
    (tmp / "_SUCCESS").touch()
    if shard_dir.exists():
        shutil.rmtree(shard_dir)
    os.replace(tmp, shard_dir)


def _shard_tables(spec: SyntheticSpec, prompts: list[dict], nodes: list[dict],
                  edges: list[dict]) -> dict[str, pa.Table]:
    base = {"run": pa.string(), "prompt_id": pa.string()}
    node_schema = pa.schema({**base, "node_index": pa.int32(), **{
        k: v for k, v in _NODE_TYPES.items() if k != "node_index"}, "transcoder_set": pa.string()})
    acts = [dict(run=n["run"], prompt_id=n["prompt_id"], position=n["position"],
                 token_id=-1, layer=n["layer"], feature=n["feature"], activation=n["activation"])
            for n in nodes if n["node_type"] == "feature"]
    prompt_schema = pa.schema({**base, "text": pa.string(), "token_ids": pa.list_(pa.int32()),
                               "tokens": pa.list_(pa.string()), "metadata": pa.string(),
                               "has_graph": pa.bool_(), "replacement_score": pa.float32(),
                               "completeness_score": pa.float32()})
    return {
        "prompts": pa.Table.from_pylist(prompts, prompt_schema),
        "nodes": pa.Table.from_pylist(nodes, node_schema),
        "edges": pa.Table.from_pylist(edges, pa.schema({**base, "source": pa.int32(),
                                                        "target": pa.int32(),
                                                        "weight": pa.float32()})),
        "activations": pa.Table.from_pylist(acts, pa.schema({
            **base, "position": pa.int32(), "token_id": pa.int32(), "layer": pa.int16(),
            "feature": pa.int32(), "activation": pa.float32()})),
    }


def generate_run(runs_dir: Path, spec: SyntheticSpec = SyntheticSpec()) -> Path:
    """Write `spec.n_shards` shards under runs_dir/<run>/shards/; return the run folder."""
    rng = np.random.default_rng(spec.seed)
    run_dir = Path(runs_dir) / spec.run
    per_shard = -(-spec.n_prompts // spec.n_shards)
    for shard in range(spec.n_shards):
        prompts, nodes, edges = [], [], []
        for p in range(shard * per_shard, min(spec.n_prompts, (shard + 1) * per_shard)):
            pid = f"p{p:06d}"
            builder = _PromptBuilder(spec, rng, pid)
            builder.random_part()
            for path in spec.planted:
                if rng.random() < path.rate:
                    builder.plant(path)
            p_nodes, p_edges = builder.finish()
            common = {"run": spec.run, "prompt_id": pid}
            prompts.append(dict(common, text=" ".join(f"t{t}" for t in builder.tokens[1:]),
                                token_ids=builder.tokens,
                                tokens=["<bos>"] + [f" t{t}" for t in builder.tokens[1:]],
                                metadata=json.dumps({"i": p}), has_graph=True,
                                replacement_score=0.5, completeness_score=0.8))
            nodes.extend(dict(common, transcoder_set=spec.transcoder_set, **n) for n in p_nodes)
            edges.extend(dict(common, source=a, target=b, weight=w) for a, b, w in p_edges)
        _write_shard(run_dir / "shards" / f"{shard:05d}", _shard_tables(spec, prompts, nodes, edges))
    return run_dir
