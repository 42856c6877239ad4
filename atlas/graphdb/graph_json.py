"""One stored prompt graph back as circuit-tracer's frontend graph JSON (the `prompt-graph` query)."""

from __future__ import annotations

from typing import Any, Callable

from atlas.errors import InputError
from atlas.graphdb.queries import run_named_query

_FEATURE_TYPE = {"feature": "cross layer transcoder", "error": "mlp reconstruction error",
                 "embedding": "embedding", "logit": "logit"}


def _ids_feature(n: dict) -> tuple[str, Any, str, str]:
    layer, feat, pos = n["layer"], n["findex"], n["pos"]
    return f"{layer}_{feat}_{pos}", n["feature"], str(layer), f"{layer}_{feat}-0"


def _ids_error(n: dict) -> tuple[str, Any, str, str]:
    layer, pos = n["layer"], n["pos"]
    return f"0_{layer}_{pos}", -1, str(layer), f"{layer}_{pos}-0"


def _ids_embedding(n: dict) -> tuple[str, Any, str, str]:
    return f"E_{n['tok']}_{n['pos']}", n["pos"], "E", f"E_{n['tok']}-{n['pos']}"


def _ids_logit(n: dict) -> tuple[str, Any, str, str]:
    top = n["layer"] + 1  # logits are stored at layer n_layers; the frontend puts them at n_layers+1
    return f"{top}_{n['tok']}_{n['pos']}", n["tok"], str(top), f"L_{n['tok']}-{n['pos']}"


# node type -> (node_id, feature, layer, jsNodeId)
_IDS: dict[str, Callable[[dict], tuple[str, Any, str, str]]] = {
    "feature": _ids_feature, "error": _ids_error, "embedding": _ids_embedding,
    "logit": _ids_logit}


def frontend_node(n: dict, top_logit_index: int | None) -> dict:
    """One node in the frontend's shape (see docs: circuit-tracer `create_graph_files`)."""
    node_id, feature, layer, js_id = _IDS[n["type"]](n)
    is_logit = n["type"] == "logit"
    prob = n.get("prob") or 0.0
    if is_logit:
        text = n.get("token_text") if n.get("token_text") is not None else str(n["tok"])
        clerp = f'Output "{text}" (p={prob:.3f})'
    else:
        clerp = (n.get("label") or "") if n["type"] == "feature" else ""
    return {"node_id": node_id, "feature": feature, "layer": layer, "ctx_idx": n["pos"],
            "feature_type": _FEATURE_TYPE[n["type"]], "jsNodeId": js_id,
            "influence": None if is_logit else n.get("infl"),
            "activation": n.get("act") if n["type"] == "feature" else None,
            "token_prob": prob if is_logit else 0.0,
            "is_target_logit": is_logit and n["i"] == top_logit_index,
            "clerp": clerp, "run_idx": 0, "reverse_ctx_idx": 0}


def prompt_graph_json(driver, prompt_id: str, run: str | None = None, database: str = "neo4j",
                      node_threshold: float | None = None) -> dict:
    """The prompt's stored pruned graph as a frontend JSON document."""
    rows = run_named_query(driver, "prompt-graph", {"prompt": prompt_id, "run": run},
                           database=database)
    if not rows:
        raise InputError(f"no prompt {prompt_id!r} in the graph"
                         f"{'' if run is None else f' for run {run!r}'}; check `atlas runs`")
    prompt, nodes, links = rows[0]["prompt"], rows[0]["nodes"], rows[0]["links"]
    logits = [n for n in nodes if n["type"] == "logit"]
    top = max(logits, key=lambda n: n.get("prob") or 0.0)["i"] if logits else None
    out_nodes = [frontend_node(n, top) for n in nodes]
    id_of = {n["i"]: o["node_id"] for n, o in zip(nodes, out_nodes)}
    scan = next((n["key"].rsplit(":", 2)[0] for n in nodes if n["type"] == "feature"), None)
    return {
        "metadata": {"slug": prompt["prompt_id"], "scan": scan, "transcoder_list": [],
                     "prompt_tokens": prompt["tokens"], "prompt": prompt["text"],
                     "node_threshold": node_threshold, "schema_version": 1},
        "qParams": {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "",
                    "sg_pos": ""},
        "nodes": out_nodes,
        "links": [{"source": id_of[s], "target": id_of[t], "weight": w} for s, t, w in links],
    }
