"""`atlas init`: create or upgrade the stores."""

from __future__ import annotations

import click

from atlas.cli.main import get_config


@click.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create or upgrade the catalog, Neo4j and DuckDB schemas (safe to run again).

    Neo4j must be reachable: `atlas neo4j start` first, or set neo4j_uri.
    """
    from atlas.initialize import init_atlas

    config = get_config(ctx)
    report = init_atlas(config)
    click.echo(f"catalog  {config.catalog_url_resolved}: revision {report.catalog_after}"
               + ("" if report.catalog_before == report.catalog_after
                  else f" (was {report.catalog_before or 'empty'})"))
    click.echo(f"neo4j    {len(report.neo4j_applied)} migration(s) applied"
               + (f": {', '.join(report.neo4j_applied)}" if report.neo4j_applied else ""))
    click.echo(f"duckdb   {config.duckdb_path_resolved}: {len(report.duckdb_applied)} "
               "migration(s) applied"
               + (f": {', '.join(report.duckdb_applied)}" if report.duckdb_applied else ""))
    if not report.changed:
        click.echo("already up to date")
