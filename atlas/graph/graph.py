"""The attribution Graph: node table, adjacency A[target, source], metadata and scores.

Node order (circuit-tracer's): [selected features][errors: layer-major, pos-minor]
[token embeddings: n_pos][logits]. `adjacency` is dense [n_nodes n_nodes] in memory (rows of
error and token nodes are zero) and is written to disk as sparse COO.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch


@dataclass
class Graph:
    """One prompt's attribution graph (unpruned)."""

    prompt: str
    """The prompt text (decoded from the ids when ids were given)."""
    input_ids: torch.Tensor
    """Token ids [pos], BOS included."""
    tokens: list[str]
    """Decoded tokens, one per position."""
    active_features: torch.Tensor
    """All active features [n_active 3] (layer, pos, feature), coalesced order."""
    activation_values: torch.Tensor
    """Their activations [n_active]."""
    selected_features: torch.Tensor
    """Indices into active_features of the feature nodes [n_features], ascending."""
    adjacency: torch.Tensor
    """Direct effects A[target, source] [n_nodes n_nodes], float32."""
    logit_token_ids: torch.Tensor
    """Token ids of the logit nodes [n_logits]."""
    logit_probabilities: torch.Tensor
    """Their probabilities [n_logits]."""
    logit_tokens: list[str]
    """Their decoded strings."""
    n_layers: int
    """Model layers."""
    vocab_size: int
    """Model vocabulary size."""
    scan: str = ""
    """Transcoder-set identifier."""
    model_name: str = ""
    """Model identifier (folder name)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Run settings and timings (JSON-serialisable)."""
    scores: dict[str, float] = field(default_factory=dict)
    """replacement_score and completeness_score when computed."""

    # --- layout ------------------------------------------------------------------------
    @property
    def n_pos(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.selected_features.shape[0])

    @property
    def n_logits(self) -> int:
        return int(self.logit_token_ids.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.adjacency.shape[0])

    @property
    def error_start(self) -> int:
        return self.n_features

    @property
    def token_start(self) -> int:
        return self.n_features + self.n_layers * self.n_pos

    @property
    def logit_start(self) -> int:
        return self.token_start + self.n_pos

    def error_index(self, layer: int, pos: int) -> int:
        return self.error_start + layer * self.n_pos + pos

    def token_index(self, pos: int) -> int:
        return self.token_start + pos

    def node_kind(self, index: int) -> str:
        """feature, error, embedding or logit."""
        if index < self.error_start:
            return "feature"
        if index < self.token_start:
            return "error"
        if index < self.logit_start:
            return "embedding"
        return "logit"

    def feature_nodes(self) -> torch.Tensor:
        """(layer, pos, feature) of each feature node [n_features 3]."""
        return self.active_features[self.selected_features]

    def feature_activations(self) -> torch.Tensor:
        return self.activation_values[self.selected_features]

    def logit_weights(self) -> torch.Tensor:
        """Influence seed: logit probabilities at the logit nodes, zero elsewhere [n_nodes]."""
        w = torch.zeros(self.n_nodes, device=self.adjacency.device)
        w[self.logit_start:] = self.logit_probabilities.to(w.device, torch.float32)
        return w

    def host_view(self) -> "Graph":
        """A shallow copy whose small tensors are on the CPU (adjacency stays where it is), for
        per-node Python loops without a device sync per element."""
        small = {name: getattr(self, name).cpu() for name in (
            "input_ids", "active_features", "activation_values", "selected_features",
            "logit_token_ids", "logit_probabilities")}
        return replace(self, **small)

    def to(self, device: Any) -> "Graph":
        """Move the tensors to `device` in place; returns self."""
        for name in ("input_ids", "active_features", "activation_values", "selected_features",
                     "adjacency", "logit_token_ids", "logit_probabilities"):
            setattr(self, name, getattr(self, name).to(device))
        return self
