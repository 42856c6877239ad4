"""`atlas label`: set feature labels by hand and embed labels for semantic search."""

from __future__ import annotations

import click

from atlas.cli.main import get_config


@click.group()
def label() -> None:
    """Feature labels (automatic labels come from the feature store; see docs/data-model.md)."""


@label.command("set")
@click.argument("feature")
@click.argument("text")
@click.pass_context
def set_label(ctx: click.Context, feature: str, text: str) -> None:
    """Set FEATURE's label to TEXT (provenance: manual)."""
    from atlas.errors import InputError
    from atlas.graphdb.keys import parse_feature_key
    from atlas.graphdb.labels import FeatureLabel, write_labels
    from atlas.neo4j.client import session_driver

    parse_feature_key(feature)
    config = get_config(ctx)
    with session_driver(config) as driver:
        if not write_labels(driver, [FeatureLabel(feature, text, "manual")],
                            database=config.neo4j_database):
            raise InputError(f"no feature {feature!r} in the graph; load a run that has it")
    click.echo(f"{feature}: {text}")


@label.command("embed")
@click.pass_context
def embed(ctx: click.Context) -> None:
    """Embed every labelled feature whose embedding is missing or stale (for --semantic)."""
    from atlas.graphdb.search import embed_features, sentence_embedder
    from atlas.neo4j.client import session_driver

    config = get_config(ctx)
    with session_driver(config) as driver:
        n = embed_features(driver, sentence_embedder(), database=config.neo4j_database)
    click.echo(f"{n} feature(s) embedded")
