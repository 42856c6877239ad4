"""The `atlas` root command: global options, lazy subcommands, and error rendering."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from atlas.config import AtlasConfig, load_config
from atlas.errors import AtlasError

# name -> "module:attribute"; modules are imported only when their command runs, so
# `atlas --help` never imports torch.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "neo4j": ("atlas.cli.neo4j_cmd:neo4j", "Manage the local Neo4j server (start, stop, status, logs)."),
    "init": ("atlas.cli.init_cmd:init", "Create or upgrade the catalog, Neo4j and DuckDB schemas."),
    "config": ("atlas.cli.config_cmd:config", "Show the effective configuration."),
    "attribute": ("atlas.cli.attribute_cmd:attribute", "Compute one prompt's attribution graph."),
    "transcoders": ("atlas.cli.transcoders_cmd:transcoders", "Train and inspect transcoders."),
    "demo": ("atlas.cli.demo_cmd:demo",
             "Run the planted-circuit demo end to end (offline, minutes on a CPU)."),
    "ingest": ("atlas.cli.ingest_cmd:ingest",
               "Compute graphs and activations over a corpus (resumable, sharded)."),
    "runs": ("atlas.cli.ingest_cmd:runs_cmd", "List ingestion runs with their progress."),
    "feature": ("atlas.cli.feature_cmd:feature",
                "Show a feature's card: stats, histogram, examples, output tokens."),
    "load": ("atlas.cli.load_cmd:load", "Load a run's shards into Neo4j (idempotent, resumable)."),
    "query": ("atlas.cli.query_cmd:query", "Run a named cross-prompt Cypher query."),
    "search": ("atlas.cli.search_cmd:search", "Find features by words, meaning or examples."),
    "label": ("atlas.cli.label_cmd:label", "Set feature labels; embed them for semantic search."),
    "serve": ("atlas.cli.serve_cmd:serve", "Serve the HTTP API and web page."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        target, _ = SUBCOMMANDS[name]
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:
                return None
            raise
        return getattr(module, attr)

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        """Render AtlasError as one line and exit 1; `--debug` keeps the traceback."""
        try:
            return super().invoke(ctx)
        except AtlasError as e:
            if (ctx.obj or {}).get("debug"):
                raise
            raise click.ClickException(str(e)) from e

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.option("--home", type=click.Path(file_okay=False), default=None,
              help="Atlas home (default ~/.cache/feature-atlas; env ATLAS_HOME).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Config file (TOML; default <home>/config.toml; env ATLAS_CONFIG).")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="feature-atlas")
@click.pass_context
def cli(ctx: click.Context, home: str | None, config_path: str | None, debug: bool) -> None:
    """Feature Atlas: attribution graphs over prompt corpora, queryable across prompts."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = {"overrides": {"home": home, "config": config_path}, "debug": debug}


def get_config(ctx: click.Context, **overrides: object) -> AtlasConfig:
    """The effective config for a command: root options, then the command's own flags."""
    root = ctx.find_root().obj or {"overrides": {}}
    return load_config({**root["overrides"], **overrides})


def main() -> None:
    try:
        cli.main()
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
