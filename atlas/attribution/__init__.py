"""Attribution graphs: local replacement model, direct-effect edges, pruning and scores.

    attribute(prompt, model, transcoders, config=None, **overrides) -> Graph
    attribute_many(prompts, model, transcoders, config=None, prompts_per_pass=4, **overrides)
        -> list[Graph]   (several prompts per forward/backward pass; same graphs)
    AttributionConfig(max_n_logits, desired_logit_prob, batch_size, max_feature_nodes,
                      update_interval, target_token_ids, zero_positions)
    prune_graph(graph, node_threshold=0.8, edge_threshold=0.98) -> PruneResult
    compute_graph_scores(graph) -> (replacement_score, completeness_score)
"""

from atlas.attribution.attribute import AttributionConfig, attribute, attribute_many
from atlas.attribution.prune import (PruneResult, compute_graph_scores, node_influence,
                                     prune_graph)

__all__ = ["AttributionConfig", "PruneResult", "attribute", "attribute_many",
           "compute_graph_scores", "node_influence", "prune_graph"]
