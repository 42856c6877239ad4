"""`atlas neo4j start|stop|status|logs`: the managed Neo4j server."""

from __future__ import annotations

import click

from atlas.cli.main import get_config


def _render(status) -> None:
    state = "running" if status.running else "not running"
    click.echo(f"Neo4j {state} at {status.address}")
    if status.version:
        click.echo(f"  version: {status.version} ({status.edition})")
    if status.pid:
        click.echo(f"  pid:     {status.pid}")
    if status.store_bytes is not None:
        click.echo(f"  store:   {status.store_bytes / 2**20:.1f} MiB")


@click.group()
def neo4j() -> None:
    """Manage the local Neo4j server (not used when neo4j_uri points elsewhere)."""


@neo4j.command()
@click.option("--bolt-port", type=int, default=None, help="Bolt port (default 7687).")
@click.option("--http-port", type=int, default=None, help="HTTP port (default 7474).")
@click.pass_context
def start(ctx: click.Context, bolt_port: int | None, http_port: int | None) -> None:
    """Resolve Neo4j from Maven Central if needed, start it, wait until Bolt answers."""
    from atlas.neo4j import server

    config = get_config(ctx, neo4j_bolt_port=bolt_port, neo4j_http_port=http_port)
    if server.running_pid(config) is None:
        click.echo(f"starting Neo4j {config.neo4j_version} (first start downloads it) ...",
                   err=True)
    _render(server.start(config))


@neo4j.command()
@click.pass_context
def stop(ctx: click.Context) -> None:
    """Stop the managed server (SIGTERM, then SIGKILL after 60 s)."""
    from atlas.neo4j import server

    stopped = server.stop(get_config(ctx))
    click.echo("Neo4j stopped" if stopped else "Neo4j was not running")


@neo4j.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Version, address, pid and store size; exit 3 when not running."""
    from atlas.neo4j import server

    result = server.status(get_config(ctx))
    _render(result)
    if not result.running:
        ctx.exit(3)


@neo4j.command()
@click.option("-n", "--lines", type=int, default=50, show_default=True, help="Lines per file.")
@click.pass_context
def logs(ctx: click.Context, lines: int) -> None:
    """Print the tail of the server's log files."""
    from atlas.neo4j import server

    config = get_config(ctx)
    files = server.log_files(config)
    if not files:
        click.echo(f"no Neo4j logs under {config.neo4j_home / 'logs'}")
    for path in files:
        click.echo(f"==> {path} <==")
        for line in server.tail(path, lines):
            click.echo(line)
