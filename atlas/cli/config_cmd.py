"""`atlas config show`: the effective configuration, secrets masked."""

from __future__ import annotations

import json

import click

from atlas.cli.main import get_config


@click.group()
def config() -> None:
    """Inspect the configuration (defaults < config file < environment < flags)."""


@config.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.pass_context
def show(ctx: click.Context, fmt: str) -> None:
    """Print every setting with its effective value; the password is masked."""
    values = get_config(ctx).masked()
    if fmt == "json":
        click.echo(json.dumps(values, indent=2))
        return
    width = max(map(len, values))
    for key, value in values.items():
        click.echo(f"{key.ljust(width)}  {value}")
