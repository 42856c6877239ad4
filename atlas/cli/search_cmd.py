"""`atlas search TEXT`: find features by words (full-text), by meaning (--semantic) or by examples."""

from __future__ import annotations

import json

import click

from atlas.cli.main import get_config

TEXT_COLUMNS = ["feature", "label", "layer", "index", "score"]
EXAMPLE_COLUMNS = ["feature", "layer", "index", "score", "mean_examples", "mean_baseline",
                   "frac_examples_active"]


@click.command()
@click.argument("text", nargs=-1, required=True)
@click.option("--semantic", is_flag=True, help="Rank by embedding similarity to the labels.")
@click.option("--examples", is_flag=True,
              help="TEXT... are example texts: run --run's model on them and rank features by "
                   "activation on them against a baseline (default: a sample of the run's "
                   "prompts).")
@click.option("--run", "run_name", default=None, help="Run whose model and features --examples uses.")
@click.option("--baseline", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Baseline texts for --examples, one per line (default: the run's prompts).")
@click.option("--baseline-size", type=click.IntRange(1), default=256, show_default=True,
              help="Run prompts sampled (seeded) as the --examples baseline.")
@click.option("--device", default=None,
              help="Device of --examples' model (cpu, cuda, cuda:N, auto; default: the run's).")
@click.option("--raw", is_flag=True, help="TEXT is a Lucene query (full-text only).")
@click.option("--limit", type=int, default=20, show_default=True, help="Results per page.")
@click.option("--offset", type=int, default=0, show_default=True, help="Results to skip.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="Output format (json prints the paged envelope).")
@click.pass_context
def search(ctx: click.Context, text: tuple[str, ...], semantic: bool, examples: bool,
           run_name: str | None, baseline: str | None, baseline_size: int, device: str | None,
           raw: bool, limit: int, offset: int, fmt: str) -> None:
    """Find features by concept: atlas search 'capital city'  |  --semantic  |  --examples --run R."""
    from atlas.errors import InputError

    if examples and (semantic or raw):
        raise InputError("--examples cannot be combined with --semantic or --raw; pick one mode")
    config = get_config(ctx)
    if examples:
        page = _search_examples(config, list(text), run_name, baseline, baseline_size, device,
                                offset, limit, quiet=fmt != "table")
        _render(page, fmt, EXAMPLE_COLUMNS)
        return
    from atlas.graphdb import search as s
    from atlas.neo4j.client import session_driver

    query = " ".join(text)
    with session_driver(config) as driver:
        if semantic:
            page = s.search_semantic(driver, query, s.sentence_embedder(), offset, limit,
                                     database=config.neo4j_database)
        else:
            page = s.search_text(driver, query, offset, limit, database=config.neo4j_database,
                                 raw=raw)
    _render(page, fmt, TEXT_COLUMNS)


def _search_examples(config, texts: list[str], run_name: str | None, baseline: str | None,
                     baseline_size: int, device: str | None, offset: int, limit: int,
                     quiet: bool):  # noqa: ANN001, ANN202 - AtlasConfig -> Page, imported lazily
    from atlas.errors import InputError
    from atlas.features.by_examples import ExampleSearcher, read_baseline_file, run_model

    if not run_name:
        raise InputError("--examples needs --run NAME: the run whose model and features to use "
                         "(see `atlas runs`)")
    searcher = ExampleSearcher(run_model(config, run_name, device),
                               read_baseline_file(baseline) if baseline else None,
                               baseline_size=baseline_size)
    if quiet:
        return searcher.search(texts, offset, limit)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    total = len(texts) + len(searcher.baseline_texts())
    with Progress(TextColumn("activations"), BarColumn(), MofNCompleteColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("activations", total=total)
        return searcher.search(texts, offset, limit, progress=lambda n: bar.advance(task, n))


def _render(page, fmt: str, columns: list[str]) -> None:  # noqa: ANN001 - search.Page
    from atlas.cli.render import render_rows

    if fmt == "json":
        click.echo(json.dumps(page.as_dict(), indent=2, default=str))
        return
    click.echo(render_rows(page.results, fmt, columns))
    if page.has_more and fmt == "table":
        click.echo(f"more: --offset {page.next_offset}")
