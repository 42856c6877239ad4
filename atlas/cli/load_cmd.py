"""`atlas load RUN`: load a run's shards (<home>/runs/RUN/shards/*) into Neo4j."""

from __future__ import annotations

import click

from atlas.cli.main import get_config


@click.command()
@click.argument("run")
@click.option("--batch-edges", type=int, default=10_000, show_default=True,
              help="Edges per write transaction (whole prompts per batch).")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Shards loaded at once (2 suits a 2-core machine).")
@click.option("--bulk", is_flag=True,
              help="Offline importer: REPLACES the whole managed database with this run.")
@click.option("--replace-database", is_flag=True,
              help="Confirm that --bulk may delete the current database content.")
@click.option("--run-dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Read shards from this run folder instead of <home>/runs/RUN.")
@click.pass_context
def load(ctx: click.Context, run: str, batch_edges: int, workers: int, bulk: bool,
         replace_database: bool, run_dir: str | None) -> None:
    """Load the graphs of run RUN into Neo4j (idempotent and resumable: re-run after a stop)."""
    from pathlib import Path

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from atlas.graphdb.loader import count_edges, load_run, shard_dirs
    from atlas.neo4j.client import session_driver
    from ingest import shards as shard_layout

    config = get_config(ctx)
    folder = Path(run_dir) if run_dir else shard_layout.run_dir(config.home, run)
    shards = shard_dirs(folder)
    if bulk:
        _bulk(config, folder, replace_database)
        return
    with session_driver(config) as driver, Progress(
            "{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            transient=True) as bar:
        task = bar.add_task(f"load {run} (edges)", total=count_edges(shards))
        total = load_run(driver, folder, database=config.neo4j_database, batch_edges=batch_edges,
                         workers=workers, progress=lambda n: bar.advance(task, n))
    rate = total.edges / total.seconds if total.seconds else 0.0
    click.echo(f"{len(shards)} shard(s): {total.prompts_loaded} prompts, {total.nodes} nodes, "
               f"{total.edges} edges loaded in {total.seconds:.1f} s ({rate:,.0f} edges/s); "
               f"{total.prompts_skipped} prompts already present, "
               f"{len(total.shards_skipped)} shard(s) already loaded")


def _bulk(config, folder, confirmed: bool) -> None:
    import tempfile
    from pathlib import Path

    from atlas.errors import InputError
    from atlas.graphdb.bulk import bulk_load

    if not confirmed:
        raise InputError("--bulk replaces the whole database with this run; add "
                         "--replace-database to confirm, or drop --bulk to add to it")
    with tempfile.TemporaryDirectory(prefix="import-", dir=config.home) as tmp:
        stats = bulk_load(config, [folder], Path(tmp))
    total = stats.export_seconds + stats.import_seconds + stats.schema_seconds
    click.echo(f"{stats.edges} edges bulk-loaded: export {stats.export_seconds:.1f} s, import "
               f"{stats.import_seconds:.1f} s, start + schema {stats.schema_seconds:.1f} s "
               f"({stats.edges / total:,.0f} edges/s overall)")
