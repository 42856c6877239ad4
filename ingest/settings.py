"""Settings of an ingestion run, fixed at creation and stored with the run in the catalog."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from atlas.errors import InputError


def _doc(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class IngestSettings:
    """How a run turns its corpus into shards. Stored in the catalog; a resumed run reuses it."""

    model: str = field(metadata=_doc("Local folder of the HF causal LM."))
    transcoders: str = field(metadata=_doc("Folder of the transcoder set (circuit-tracer layout)."))
    corpus: str = field(metadata=_doc("Corpus: .jsonl, .txt, .parquet or a saved HF dataset."))
    corpus_format: str | None = field(default=None, metadata=_doc(
        "Corpus format (jsonl, txt, parquet, hf); guessed from the path when omitted."))
    shard_size: int = field(default=64, metadata=_doc("Prompts per shard."))
    max_tokens: int = field(default=64, metadata=_doc("Token limit per prompt, BOS included."))
    overflow: str = field(default="truncate", metadata=_doc(
        "What to do with longer prompts: truncate or skip (both counted)."))
    graph_every: int = field(default=1, metadata=_doc(
        "Compute an attribution graph for every N-th prompt (activations cover all)."))
    activation_batch: int = field(default=16, metadata=_doc(
        "Prompts per forward pass of the activation pass."))
    max_n_logits: int = field(default=10, metadata=_doc("Most logit targets per graph."))
    desired_logit_prob: float = field(default=0.95, metadata=_doc(
        "Logit targets cover this cumulative probability."))
    max_feature_nodes: int | None = field(default=None, metadata=_doc(
        "Cap on feature nodes per graph (most influential first)."))
    batch_size: int = field(default=256, metadata=_doc(
        "Rows per attribution backward pass (shared by the prompts of the pass)."))
    attribution_batch: int = field(default=4, metadata=_doc(
        "Prompts per attribution pass (one forward, shared backward passes)."))
    node_threshold: float = field(default=0.8, metadata=_doc("Pruning: node influence share."))
    edge_threshold: float = field(default=0.98, metadata=_doc("Pruning: edge influence share."))
    device: str | None = field(default=None, metadata=_doc("cpu, cuda, cuda:N or auto."))
    dtype: str | None = field(default=None, metadata=_doc("fp32 or bf16."))

    def __post_init__(self) -> None:
        for name in ("shard_size", "graph_every", "activation_batch", "max_n_logits",
                     "batch_size", "attribution_batch"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}={getattr(self, name)} must be at least 1")
        if not 0 < self.desired_logit_prob <= 1:
            raise InputError(f"desired_logit_prob={self.desired_logit_prob} must be in (0, 1]")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "IngestSettings":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
