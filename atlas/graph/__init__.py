"""Graph object, its files (safetensors + JSON header), frontend JSON, and shard tables.

    Graph                                              (atlas.graph.graph)
    save_graph(graph, path) -> Path / load_graph(path, device="cpu") -> Graph
    to_frontend(graph, slug, node_threshold=0.8, edge_threshold=0.98, pruned=None) -> FrontendGraph
    write_frontend_json(graph, path, slug=None, ...) -> Path / read_frontend_json(path)
    graph_to_shard_tables(graph, run, prompt_id, transcoder_set, pruned=None, ...)
        -> {"nodes": pa.Table, "edges": pa.Table}
    node_table(graph) -> pa.Table (every node of the unpruned graph)
    activation_table(graph, run, prompt_id) -> pa.Table; prompt_row(...) -> dict
"""

from atlas.graph.graph import Graph
from atlas.graph.io import load_graph, save_graph

__all__ = ["Graph", "load_graph", "save_graph"]
