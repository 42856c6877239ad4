"""`atlas attribute`: one prompt's attribution graph, written as frontend JSON or an atlas graph."""

from __future__ import annotations

from pathlib import Path

import click


def _existing_dir(value: str, what: str) -> Path:
    from atlas.errors import InputError

    path = Path(value)
    if not path.is_dir():
        raise InputError(f"{what} folder {value!r} does not exist; pass a folder")
    return path


@click.command("attribute")
@click.option("--model", "model_dir", required=True, help="HF model folder (save_pretrained).")
@click.option("--transcoders", "tc_dir", required=True,
              help="Transcoder folder (circuit-tracer layout or SAELens).")
@click.option("--prompt", required=True, help="Prompt text (a BOS is prepended).")
@click.option("--out", "out", required=True,
              help="Output file: .json gets circuit-tracer frontend JSON, else an atlas graph "
                   "(.safetensors).")
@click.option("--max-n-logits", default=10, show_default=True, type=int, help="Most logit nodes.")
@click.option("--desired-logit-prob", default=0.95, show_default=True, type=float,
              help="Cumulative probability of the logit nodes.")
@click.option("--max-feature-nodes", default=None, type=int,
              help="Most feature nodes (default: all active features).")
@click.option("--batch-size", default=256, show_default=True, type=int,
              help="Targets per backward pass.")
@click.option("--node-threshold", default=0.8, show_default=True, type=float,
              help="Pruning: share of node influence kept (JSON output).")
@click.option("--edge-threshold", default=0.98, show_default=True, type=float,
              help="Pruning: share of edge influence kept (JSON output).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--dtype", default="fp32", show_default=True, help="fp32 or bf16.")
def attribute(model_dir: str, tc_dir: str, prompt: str, out: str, max_n_logits: int,
              desired_logit_prob: float, max_feature_nodes: int | None, batch_size: int,
              node_threshold: float, edge_threshold: float, device: str, dtype: str) -> None:
    """Compute one prompt's attribution graph."""
    from rich.console import Console

    from atlas.attribution import AttributionConfig, attribute as run_attribution
    from atlas.attribution import compute_graph_scores
    from atlas.errors import InputError
    from atlas.graph import save_graph
    from atlas.graph.frontend import write_frontend_json
    from atlas.models import load_model
    from atlas.transcoders import load_transcoders

    for name, value in (("node_threshold", node_threshold), ("edge_threshold", edge_threshold)):
        if not 0.0 <= value <= 1.0:
            raise InputError(f"--{name.replace('_', '-')} {value} is outside [0, 1]; "
                             "pass a fraction")
    config = AttributionConfig(max_n_logits=max_n_logits, desired_logit_prob=desired_logit_prob,
                               batch_size=batch_size, max_feature_nodes=max_feature_nodes)
    console = Console(stderr=True)
    with console.status("loading model and transcoders"):
        model = load_model(_existing_dir(model_dir, "model"), device=device, dtype=dtype)
        tset = load_transcoders(_existing_dir(tc_dir, "transcoders"), device=device)
    with console.status("attributing"):
        graph = run_attribution(prompt, model, tset, config)
        replacement, completeness = compute_graph_scores(graph)
        graph.scores = {"replacement_score": replacement, "completeness_score": completeness}
    target = Path(out)
    if target.suffix == ".json":
        write_frontend_json(graph.to("cpu"), target, node_threshold=node_threshold,
                            edge_threshold=edge_threshold)
    else:
        save_graph(graph, target)
    click.echo(f"{target}: {graph.n_features} features, {graph.n_logits} logits, "
               f"replacement {replacement:.3f}, completeness {completeness:.3f}, "
               f"{graph.metadata['seconds']:.2f}s")
