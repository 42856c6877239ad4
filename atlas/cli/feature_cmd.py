"""`atlas feature`: show one feature's card from the DuckDB statistics store."""

from __future__ import annotations

import re

import click

from atlas.cli.main import get_config
from atlas.errors import InputError

_REF = re.compile(r"^(\d+)/(\d+)$")


def parse_feature_ref(ref: str) -> tuple[int, int]:
    """'LAYER/INDEX' -> (layer, index)."""
    match = _REF.match(ref.strip())
    if not match:
        raise InputError(f"feature {ref!r} is not LAYER/INDEX; write it like 3/1024")
    return int(match.group(1)), int(match.group(2))


@click.command()
@click.argument("feature_ref", metavar="LAYER/INDEX")
@click.option("--run", required=True, help="Run whose statistics to read.")
@click.option("--transcoder-set", default=None,
              help="Transcoder set (default: the run's only one in the store).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "neuronpedia"]),
              default="table", show_default=True, help="Terminal card, card JSON, or "
              "Neuronpedia's feature JSON.")
@click.option("--model-id", default="model", show_default=True,
              help="modelId written into the Neuronpedia JSON.")
@click.option("--examples-per-bucket", default=4, show_default=True, type=click.IntRange(1, 64))
@click.pass_context
def feature(ctx: click.Context, feature_ref: str, run: str, transcoder_set: str | None,
            fmt: str, model_id: str, examples_per_bucket: int) -> None:
    """Show a feature's card: stats, histogram, examples, output tokens."""
    from atlas.features.card import load_card, resolve_transcoder_set
    from atlas.features.merge import TABLES
    from atlas.stores.duckdb_store import connect, require_tables

    layer, index = parse_feature_ref(feature_ref)
    con = connect(get_config(ctx), read_only=True)
    try:
        require_tables(con, *TABLES)
        tset = resolve_transcoder_set(con, run, transcoder_set)
        card = load_card(con, run, tset, layer, index, per_bucket=examples_per_bucket)
    finally:
        con.close()
    if fmt == "json":
        click.echo(card.model_dump_json(indent=2))
    elif fmt == "neuronpedia":
        from atlas.features.neuronpedia import to_neuronpedia

        click.echo(to_neuronpedia(card, model_id).model_dump_json(indent=2))
    else:
        from atlas.features.render import print_card

        print_card(card)
