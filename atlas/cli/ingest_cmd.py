"""`atlas ingest`, `atlas runs`: ingestion runs from the command line."""

from __future__ import annotations

import dataclasses

import click

from atlas.cli.main import get_config


def _settings_options(func):  # noqa: ANN001, ANN201
    """Click options for the IngestSettings fields a user sets often; help from their docs."""
    from ingest.settings import IngestSettings

    fields = {f.name: f for f in dataclasses.fields(IngestSettings)}
    for name in reversed(["shard_size", "max_tokens", "overflow", "graph_every",
                          "activation_batch", "max_n_logits", "desired_logit_prob",
                          "max_feature_nodes", "batch_size", "attribution_batch",
                          "node_threshold", "edge_threshold",
                          "device", "dtype", "corpus_format"]):
        f = fields[name]
        kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
        if name == "overflow":
            kind = click.Choice(["truncate", "skip"])
        func = click.option(f"--{name.replace('_', '-')}", name, type=kind, default=None,
                            help=f"{f.metadata['help']} [default: {f.default}]")(func)
    return func


@click.command()
@click.option("--run", "run_name", help="Name of a new run (with --model, --transcoders, --corpus).")
@click.option("--model", type=click.Path(), help="Local folder of the HF causal LM.")
@click.option("--transcoders", type=click.Path(), help="Folder of the transcoder set.")
@click.option("--corpus", type=click.Path(), help="Corpus: .jsonl, .txt, .parquet or HF dataset.")
@click.option("--resume", "resume_name", help="Continue an existing run after a stop or crash.")
@click.option("--worker", is_flag=True, help="Join a run (--run NAME) that others are working on.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Worker processes on this machine.")
@click.option("--no-load", is_flag=True, help="Only write shards; load them later with `atlas load`.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_settings_options
@click.pass_context
def ingest(ctx: click.Context, run_name: str | None, model: str | None, transcoders: str | None,
           corpus: str | None, resume_name: str | None, worker: bool, workers: int,
           no_load: bool, quiet: bool, **settings: object) -> None:
    """Compute attribution graphs and feature activations over a corpus, shard by shard.

    \b
    New run:     atlas ingest --run demo --model M --transcoders T --corpus prompts.jsonl
    After kill:  atlas ingest --resume demo
    More hands:  atlas ingest --worker --run demo      (any machine sharing the catalog)
    """
    from atlas.errors import InputError
    from ingest import job
    from ingest.settings import IngestSettings

    config = get_config(ctx)
    if workers < 1:
        raise InputError(f"--workers={workers}; use 1 or more")
    if resume_name:
        name = resume_name
        job.refuse_if_running(config, name)
    elif worker:
        if not run_name:
            raise InputError("--worker needs --run NAME of an existing run")
        name = run_name
    else:
        missing = [opt for opt, v in (("--run", run_name), ("--model", model),
                                      ("--transcoders", transcoders), ("--corpus", corpus)) if not v]
        if missing:
            raise InputError(f"a new run needs {', '.join(missing)}; or continue one with "
                             "--resume NAME")
        given = {k: v for k, v in settings.items() if v is not None}
        spec = IngestSettings(model=model, transcoders=transcoders, corpus=corpus, **given)
        prepared = job.create_run(config, run_name, spec)
        name = run_name
        click.echo(f"run {name}: {prepared.read.summary()}; {prepared.n_truncated} truncated, "
                   f"{prepared.n_too_long} over the token limit skipped", err=True)
    _work(config, name, workers, load=not no_load, quiet=quiet)


def _work(config, name: str, workers: int, load: bool, quiet: bool) -> None:  # noqa: ANN001
    from ingest import job
    from ingest.load import StoreSinks
    from ingest.progress import IngestProgress

    settings = job.run_settings(config, name)
    sinks = StoreSinks(config, name, job.transcoder_set_name(settings)) if load else None
    try:
        with IngestProgress(config, name, enabled=not quiet) as progress:
            outcome = job.work(config, name, [sinks] if sinks else [], workers,
                               progress.on_prompt)
        if sinks and workers > 1:
            from ingest.load import load_run

            load_run(config, name, job.transcoder_set_name(settings))
    finally:
        if sinks:
            sinks.close()
    r = outcome.report
    click.echo(f"run {name}: {r.shards} shard(s), {r.prompts} prompts, {r.tokens} tokens, "
               f"{r.graphs} graphs, {r.errors} errors in {r.seconds:.1f} s by this worker",
               err=True)
    for problem in r.sink_errors:
        click.echo(f"warning: {problem} (retry with `atlas load {name}`)", err=True)
    if outcome.helpers_failed:
        raise click.ClickException(f"{outcome.helpers_failed} worker process(es) failed; "
                                   f"resume with `atlas ingest --resume {name}`")


@click.command("runs")
@click.pass_context
def runs_cmd(ctx: click.Context) -> None:
    """Runs with their progress (shards by state, graphs, tokens, errors)."""
    from rich.console import Console
    from rich.table import Table

    from atlas.catalog import db, runs

    config = get_config(ctx)
    engine = db.make_engine(config.catalog_url_resolved)
    try:
        with db.session_factory(engine)() as session:
            rows = runs.run_progress(session)
    finally:
        engine.dispose()
    table = Table("run", "state", "shards done", "loaded", "pending", "graphs", "tokens",
                  "errors", "created")
    for p in rows:
        done = p.by_state.get("committed", 0) + p.by_state.get("loaded", 0)
        table.add_row(p.name, p.state, f"{done}/{p.n_shards}", str(p.by_state.get("loaded", 0)),
                      str(p.by_state.get("pending", 0) + p.by_state.get("claimed", 0)),
                      str(p.n_graphs), str(p.n_tokens), str(p.n_errors),
                      p.created_at.strftime("%Y-%m-%d %H:%M"))
    Console().print(table)
