"""Graph object, its files (safetensors + JSON), frontend JSON, and shard tables."""

from atlas.graph.graph import Graph

__all__ = ["Graph"]
