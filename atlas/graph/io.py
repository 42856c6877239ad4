"""Graph files: one safetensors file, tensors plus a JSON header; the adjacency is stored as COO.

Header key "atlas_graph" holds JSON with the non-tensor fields and "format": 1. Written to a
temporary name and renamed into place. No pickle.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from atlas.errors import InputError, StoreError
from atlas.graph.graph import Graph

FORMAT = 1
_TENSORS = ("input_ids", "active_features", "activation_values", "selected_features",
            "logit_token_ids", "logit_probabilities")
_FIELDS = ("prompt", "tokens", "logit_tokens", "n_layers", "vocab_size", "scan", "model_name",
           "metadata", "scores")


def save_graph(graph: Graph, path: str | Path) -> Path:
    """Write `graph` to `path` (.safetensors); returns the path."""
    target = Path(path)
    adjacency = graph.adjacency.detach().float().cpu()
    index = adjacency.nonzero().T.to(torch.int32).contiguous()
    tensors: dict[str, torch.Tensor] = {
        name: getattr(graph, name).detach().cpu().contiguous() for name in _TENSORS}
    tensors["adjacency_index"] = index
    tensors["adjacency_value"] = adjacency[index[0].long(), index[1].long()].contiguous()
    header = {name: getattr(graph, name) for name in _FIELDS}
    header.update(format=FORMAT, n_nodes=graph.n_nodes)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"atlas_graph": json.dumps(header, default=str)})
        os.replace(tmp, target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write graph to {target}: {e}; check the path") from e
    return target


def load_graph(path: str | Path, device: Any = "cpu") -> Graph:
    """Read a graph written by `save_graph`."""
    source = Path(path)
    try:
        with safe_open(str(source), framework="pt", device=str(device)) as f:
            header = json.loads((f.metadata() or {}).get("atlas_graph", "null"))
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (OSError, SafetensorError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read graph {source}: {e}; pass a file from save_graph") from e
    if not header or header.get("format") != FORMAT:
        raise StoreError(f"{source} is not an atlas graph of format {FORMAT}; re-create it")
    n = header["n_nodes"]
    adjacency = torch.zeros(n, n, device=tensors["adjacency_value"].device)
    index = tensors["adjacency_index"].long()
    adjacency[index[0], index[1]] = tensors["adjacency_value"]
    return Graph(adjacency=adjacency, **{k: tensors[k] for k in _TENSORS},
                 **{k: header[k] for k in _FIELDS})
