"""`atlas demo`: the planted-circuit world end to end, offline, in minutes on a CPU."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from atlas.cli.main import get_config
from atlas.demo.pipeline import DemoSettings


def _setting(flag: str, name: str, kind: type | click.ParamType = int):  # noqa: ANN202
    """An option whose default and help come from DemoSettings (one source of truth)."""
    spec = next(f for f in dataclasses.fields(DemoSettings) if f.name == name)
    return click.option(flag, name, type=kind, default=spec.default, show_default=True,
                        help=spec.metadata.get("help"))


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo-output", show_default=True,
              help="Output folder (model, transcoders, the demo's atlas home, findings).")
@click.option("--fresh", is_flag=True, help="Delete the output folder and build everything again.")
@_setting("--seed", "seed")
@_setting("--model-steps", "model_steps")
@_setting("--transcoder-steps", "transcoder_steps")
@_setting("--transcoder-kind", "transcoder_kind", click.Choice(["clt", "plt"]))
@_setting("--threads", "threads")
@_setting("--induction-prompts", "induction_prompts")
@click.pass_context
def demo(ctx: click.Context, out: str, fresh: bool, seed: int, model_steps: int,
         transcoder_steps: int, transcoder_kind: str, threads: int,
         induction_prompts: int) -> None:
    """Train a tiny model on a world with planted two-hop facts, fit transcoders, ingest its
    prompts into Neo4j and DuckDB, and show the circuits the atlas finds.

    Re-running reuses every stage already built; --fresh starts over.
    """
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)

    from atlas.demo import pipeline

    base = get_config(ctx)
    settings = DemoSettings(out=Path(out), seed=seed, model_steps=model_steps,
                            transcoder_steps=transcoder_steps,
                            transcoder_kind=transcoder_kind, threads=threads,
                            induction_prompts=induction_prompts)
    if fresh:
        pipeline.reset(base, settings)
    tasks: dict[str, int] = {}
    with Progress(TextColumn("[bold]{task.description:<12}"), BarColumn(),
                  MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn()) as bar:
        def progress(stage: str, done: int, total: int, info: dict) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None, info="")
            text = "  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in info.items())
            bar.update(tasks[stage], completed=done, total=total or None, info=text)

        result = pipeline.run_demo(base, settings, progress)
    _render(result)


def _render(result) -> None:  # noqa: ANN001
    acc = result.model_report.get("accuracy", {})
    click.echo("\nmodel accuracy: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(acc.items())))
    tr = result.transcoder_report
    click.echo(f"transcoders: FVE {tr.get('fve')}, L0 {tr.get('l0')}")
    click.echo(f"ingest: {result.ingest_summary}")
    for task, rows in result.circuits.items():
        click.echo(f"\nrecurring circuits, {task}:")
        for r in rows:
            names = [lab or key for key, lab in zip(r["features"], r["labels"])]
            click.echo(f"  support {r['support']:>3}  mean w {r['mean_weight']:+.3f}  "
                       + " -> ".join(names))
    _render_intermediates(result)
    click.echo("\nconcept search (planted intermediate states):")
    for concept, rows in result.concepts.items():
        hits = ", ".join(f"{r['feature']} ({r.get('label') or ''})" for r in rows) or "none"
        click.echo(f"  {concept}: {hits}")
    click.echo(f"\none graph: {result.graph_json} (circuit-tracer frontend JSON) and "
               f"{result.graph_png}")
    click.echo(f"summary:   {result.out / 'summary.json'}")
    click.echo(f"explore:   atlas --home {result.home} serve   (HTTP API and web page)")
    click.echo(f"Neo4j:     {result.bolt}, user neo4j, password in {result.password_file}")


def _render_intermediates(result) -> None:  # noqa: ANN001
    """Per two-hop answer: its top anchored paths, and the feature that stands for its state."""
    click.echo("\ntwo-hop, per answer: top recurring paths into the answer's logit "
               "(within the prompts with that answer)")
    by_answer = {f["answer"]: f for f in result.intermediates}
    for answer, rows in result.answer_circuits.items():
        hit = by_answer.get(answer)
        if hit is None:
            click.echo(f"  {answer}: no feature of its state among the top {len(rows)} paths")
            continue
        click.echo(f"  {answer}: rank {hit['rank']}, {hit['feature']} stands for state "
                   f"{hit['state']} (never in the prompt); support {hit['support']}/"
                   f"{hit['n_prompts']}; top examples {', '.join(hit['top_tokens'][:6])} "
                   f"({hit['share']:.0%} {hit['state']} or its cities)")
    click.echo(f"  intermediate state found for {len(by_answer)} of "
               f"{len(result.answer_circuits)} answers")
