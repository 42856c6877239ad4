"""`atlas serve`: the HTTP API and the web page on uvicorn (loopback by default)."""

from __future__ import annotations

import click

from atlas.cli.main import get_config


@click.command()
@click.option("--host", default=None, help="Address to bind (default api_host: 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default api_port: 8765).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes (default api_workers: 1); more use more cores.")
@click.option("--cors-origin", "cors", multiple=True,
              help="Origin allowed by CORS (repeatable; default api_cors_origins).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None,
          cors: tuple[str, ...]) -> None:
    """Serve the HTTP API (/api, OpenAPI at /api/openapi.json) and the web page (/).

    Read-only unless ATLAS_API_TOKEN is set; then PUT endpoints need 'Authorization: Bearer'.
    """
    from atlas.api.serve import serve as run_server

    config = get_config(ctx, api_host=host, api_port=port, api_workers=workers,
                        api_cors_origins=",".join(cors) if cors else None)
    if config.api_host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: binding {config.api_host}; the API is reachable from the network",
                   err=True)
    click.echo(f"serving http://{config.api_host}:{config.api_port}/ "
               f"(writes {'enabled' if config.api_token else 'disabled'}, "
               f"{config.api_workers} worker{'s' if config.api_workers > 1 else ''})", err=True)
    run_server(config)
