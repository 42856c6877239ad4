"""`atlas search TEXT`: find features by words (full-text), by meaning (--semantic) or by examples."""

from __future__ import annotations

import json

import click

from atlas.cli.main import get_config


@click.command()
@click.argument("text", nargs=-1, required=True)
@click.option("--semantic", is_flag=True, help="Rank by embedding similarity to the labels.")
@click.option("--examples", is_flag=True,
              help="TEXT... are example texts; rank features by activation on them against "
                   "--baseline (needs the model runtime's activation provider).")
@click.option("--baseline", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Baseline texts for --examples, one per line.")
@click.option("--raw", is_flag=True, help="TEXT is a Lucene query (full-text only).")
@click.option("--limit", type=int, default=20, show_default=True, help="Results per page.")
@click.option("--offset", type=int, default=0, show_default=True, help="Results to skip.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="Output format (json prints the paged envelope).")
@click.pass_context
def search(ctx: click.Context, text: tuple[str, ...], semantic: bool, examples: bool,
           baseline: str | None, raw: bool, limit: int, offset: int, fmt: str) -> None:
    """Find features by concept: atlas search 'capital city'  |  --semantic  |  --examples."""
    from atlas.cli.render import render_rows
    from atlas.errors import InputError

    if examples:
        from atlas.graphdb.examples import search_by_examples

        if not baseline:
            raise InputError("--examples needs --baseline FILE with one baseline text per line")
        with open(baseline) as f:
            base = [line.strip() for line in f if line.strip()]
        rows = search_by_examples(list(text), base, top_k=limit)
        click.echo(render_rows(rows, fmt))
        return
    from atlas.graphdb import search as s
    from atlas.neo4j.client import session_driver

    config = get_config(ctx)
    query = " ".join(text)
    with session_driver(config) as driver:
        if semantic:
            page = s.search_semantic(driver, query, s.sentence_embedder(), offset, limit,
                                     database=config.neo4j_database)
        else:
            page = s.search_text(driver, query, offset, limit, database=config.neo4j_database,
                                 raw=raw)
    if fmt == "json":
        click.echo(json.dumps(page.as_dict(), indent=2, default=str))
        return
    click.echo(render_rows(page.results, fmt, ["feature", "label", "layer", "index", "score"]))
    if page.has_more and fmt == "table":
        click.echo(f"more: --offset {page.next_offset}")
