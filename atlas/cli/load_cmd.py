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
@click.option("--transcoder-set", default=None,
              help="Transcoder set of a run the catalog does not know (for DuckDB statistics).")
@click.pass_context
def load(ctx: click.Context, run: str, batch_edges: int, workers: int, bulk: bool,
         replace_database: bool, run_dir: str | None, transcoder_set: str | None) -> None:
    """Load run RUN's shards: graphs into Neo4j, feature statistics into DuckDB.

    Idempotent and resumable: re-run after a stop; shards already held are skipped.
    """
    from pathlib import Path

    from atlas.graphdb.loader import shard_dirs
    from ingest import shards as shard_layout

    config = get_config(ctx)
    folder = Path(run_dir) if run_dir else shard_layout.run_dir(config.home, run)
    shards = shard_dirs(folder)
    if bulk:
        _bulk(config, folder, replace_database)
    else:
        _incremental(config, run, folder, shards, batch_edges, workers)
    _features(config, run, shards, transcoder_set)


def _features(config, run: str, shards, transcoder_set: str | None) -> None:  # noqa: ANN001
    from ingest.load import catalog_transcoder_set, finish_load

    tset = transcoder_set or catalog_transcoder_set(config, run)
    if tset is None:
        click.echo(f"DuckDB: run {run!r} is not in the catalog; pass --transcoder-set to merge "
                   "its feature statistics", err=True)
        return
    merged = finish_load(config, run, shards, tset)
    click.echo(f"DuckDB: {merged} shard(s) merged, {len(shards) - merged} already held")


def _incremental(config, run: str, folder, shards, batch_edges: int, workers: int) -> None:  # noqa: ANN001
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from atlas.graphdb.loader import count_edges, load_run
    from atlas.neo4j.client import session_driver

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
