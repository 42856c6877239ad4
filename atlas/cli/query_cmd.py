"""`atlas query`: run a named query from queries/ with typed parameters."""

from __future__ import annotations

import click

from atlas.cli.main import get_config


def _split(pairs: tuple[str, ...]) -> dict[str, str]:
    from atlas.errors import InputError

    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputError(f"--param {pair!r} is not NAME=VALUE; write e.g. --param limit=10")
        name, value = pair.split("=", 1)
        out[name.strip()] = value
    return out


@click.command()
@click.argument("name", required=False)
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
              help="A query parameter (lists: comma-separated). Repeatable.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="Output format.")
@click.option("--list", "list_", is_flag=True, help="List the named queries and their parameters.")
@click.pass_context
def query(ctx: click.Context, name: str | None, params: tuple[str, ...], fmt: str,
          list_: bool) -> None:
    """Run the named query NAME (see --list), e.g.

    atlas query recurring-circuits --param min_prompts=5 --param token=262
    """
    from atlas.errors import InputError
    from atlas.graphdb.queries import load_query, query_names

    if list_ or not name:
        for qname in query_names():
            spec = load_query(qname)
            args = " ".join(f"{p.name}{'' if p.required else '=' + repr(p.default)}"
                            for p in spec.params)
            click.echo(f"{qname}: {spec.summary}\n    {args}")
        if not name and not list_:
            raise InputError("no query name; pick one of the names above")
        return
    from atlas.cli.render import render_rows
    from atlas.graphdb.queries import run_named_query
    from atlas.neo4j.client import session_driver

    spec = load_query(name)
    config = get_config(ctx)
    with session_driver(config) as driver:
        rows = run_named_query(driver, name, _split(params), database=config.neo4j_database)
    click.echo(render_rows(rows, fmt, [c.name for c in spec.columns]))
