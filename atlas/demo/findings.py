"""What the demo shows once the atlas holds its run: circuits per task, concepts, one graph."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from atlas.config import AtlasConfig


def recurring_circuits(driver, config: AtlasConfig, prompt_ids: dict[str, list[str]],  # noqa: ANN001
                       limit: int = 5) -> dict[str, list[dict]]:
    """The top recurring feature paths within each task's prompts."""
    from atlas.graphdb.queries import run_named_query

    out = {}
    for task, ids in prompt_ids.items():
        if not ids:
            continue
        min_prompts = max(2, len(ids) // 10)
        out[task] = run_named_query(driver, "recurring-circuits",
                                    {"prompts": ids, "min_prompts": min_prompts, "limit": limit},
                                    database=config.neo4j_database)
    return out


def concept_search(driver, config: AtlasConfig, concepts: list[str], limit: int = 3  # noqa: ANN001
                   ) -> dict[str, list[dict]]:
    """Full-text search of feature labels and top-example text for each planted concept."""
    from atlas.graphdb.search import search_text

    return {c: search_text(driver, c, limit=limit, database=config.neo4j_database).results
            for c in concepts}


def write_json(path: Path, data: Any) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)
    return path


def draw_graph(graph: dict, path: Path) -> Path:
    """A PNG of a frontend-JSON graph: x = token position, y = layer (embeddings at the bottom,
    logits on top), edges coloured by sign with width by |weight|."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nodes = {n["node_id"]: n for n in graph["nodes"]}
    logit_layer = max((int(n["layer"]) for n in graph["nodes"] if n["layer"] != "E"),
                      default=1)                     # logits sit at n_layers + 1

    def y_of(n: dict) -> float:
        return -1.0 if n["layer"] == "E" else float(n["layer"])

    # spread nodes that share a (position, layer) cell so each stays visible
    cells: dict[tuple[int, float], list[str]] = {}
    for nid, n in nodes.items():
        cells.setdefault((n["ctx_idx"], y_of(n)), []).append(nid)
    xy = {}
    for (pos, y), ids in cells.items():
        for k, nid in enumerate(sorted(ids)):
            xy[nid] = (pos + (k - (len(ids) - 1) / 2) * 0.8 / max(len(ids), 1), y)
    fig, ax = plt.subplots(figsize=(max(6, len(graph["metadata"]["prompt_tokens"]) * 1.1), 6))
    top = max((abs(link["weight"]) for link in graph["links"]), default=1.0) or 1.0
    for link in graph["links"]:
        if link["source"] in xy and link["target"] in xy:
            (x0, y0), (x1, y1) = xy[link["source"]], xy[link["target"]]
            ax.plot([x0, x1], [y0, y1], color="tab:blue" if link["weight"] > 0 else "tab:red",
                    alpha=0.35, linewidth=0.3 + 2.5 * abs(link["weight"]) / top, zorder=1)
    colours = {"embedding": "tab:gray", "cross layer transcoder": "tab:orange",
               "mlp reconstruction error": "tab:purple", "logit": "tab:green"}
    for nid, (x, y) in xy.items():
        ax.scatter([x], [y], s=30, color=colours.get(nodes[nid]["feature_type"], "black"),
                   zorder=2)
    tokens = graph["metadata"]["prompt_tokens"]
    ax.set_xticks(range(len(tokens)), tokens, rotation=45, ha="right")
    ax.set_yticks([-1, *range(logit_layer - 1), logit_layer],
                  ["emb", *[f"L{i}" for i in range(logit_layer - 1)], "logit"])
    ax.set_title(graph["metadata"]["prompt"])
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path
