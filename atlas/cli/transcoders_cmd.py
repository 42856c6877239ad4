"""`atlas transcoders`: train a transcoder set on a local model and inspect transcoder folders."""

from __future__ import annotations

import json
from pathlib import Path

import click

from atlas.training.config import TrainConfig, field_docs

_DOCS = field_docs(TrainConfig)
_DEFAULTS = TrainConfig()


def _opt(name: str, field: str, **kwargs):
    return click.option(name, field, default=getattr(_DEFAULTS, field), show_default=True,
                        help=_DOCS.get(field, ""), **kwargs)


@click.group()
def transcoders() -> None:
    """Train and inspect transcoders (circuit-tracer folder layout)."""


@transcoders.command()
@click.option("--model", "model_dir", required=True, type=click.Path(),
              help="Folder of the HF model (save_pretrained layout, with its tokenizer).")
@click.option("--corpus", required=True, type=click.Path(),
              help='Training text: JSONL with a "text" field per line, or plain text lines.')
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: config.yaml + layer files, training_report.json, checkpoints/.")
@_opt("--kind", "kind", type=click.Choice(["plt", "clt"]))
@_opt("--d-transcoder", "d_transcoder", type=int)
@_opt("--activation", "activation", type=click.Choice(["relu", "jumprelu", "topk"]))
@_opt("--k", "k", type=int)
@_opt("--l1", "l1", type=float)
@_opt("--l0", "l0", type=float)
@_opt("--steps", "steps", type=int)
@_opt("--batch-tokens", "batch_tokens", type=int)
@_opt("--buffer-tokens", "buffer_tokens", type=int)
@_opt("--lr", "lr", type=float)
@click.option("--skip/--no-skip", "skip", default=False, show_default=True, help=_DOCS["skip"])
@_opt("--checkpoint-every", "checkpoint_every", type=int)
@_opt("--seed", "seed", type=int)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in <out>/checkpoints.")
@click.option("--device", default=None, help="cpu (default), cuda, cuda:N or auto.")
@click.option("--dtype", default=None, help="Model dtype while capturing activations: fp32 "
              "(default) or bf16; transcoders always train in fp32.")
@click.option("--threads", type=int, default=None, help="CPU threads for torch (default: "
              "torch's choice). On a busy machine 1 is often much faster than oversubscribing.")
def train(model_dir: str, corpus: str, out_dir: str, resume: bool, device: str | None,
          dtype: str | None, threads: int | None, **options) -> None:
    """Train per-layer (PLT) or cross-layer (CLT) transcoders on a model's MLPs."""
    import torch

    from atlas.training.loop import train_transcoders

    if threads is not None:
        torch.set_num_threads(max(1, threads))
    config = TrainConfig(**options)
    with _progress_bar(config.steps) as update:
        report = train_transcoders(model_dir, corpus, out_dir, config, device=device,
                                   dtype=dtype, resume=resume, progress=update)
    _print_report(report, Path(out_dir))


class _progress_bar:
    """A rich progress bar showing loss, FVE and L0; yields the trainer's progress callback."""

    def __init__(self, total: int):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)
        self.progress = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[stats]}"), TimeRemainingColumn())
        self.task = self.progress.add_task("train", total=total, stats="")

    def __enter__(self):
        def update(step: int, total: int, metrics: dict[str, float]) -> None:
            if not self.progress.live.is_started:  # start only once inputs proved valid
                self.progress.start()
            stats = (f"loss {metrics['loss']:.4f}  FVE {metrics['fve']:.3f}  "
                     f"L0 {metrics['l0']:.1f}")
            self.progress.update(self.task, completed=step, total=total, stats=stats)
        return update

    def __exit__(self, *exc) -> None:
        self.progress.stop()


def _print_report(report, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"transcoders in {out} ({report.steps} steps, {report.tokens} tokens, "
                        f"{report.seconds:.1f} s)")
    for column in ("layer", "FVE", "L0", "MSE", "dead"):
        table.add_column(column, justify="right")
    for layer, values in enumerate(zip(report.fve, report.l0, report.mse, report.dead_fraction)):
        fve, l0, mse, dead = values
        table.add_row(str(layer), f"{fve:.4f}", f"{l0:.1f}", f"{mse:.3g}", f"{dead:.1%}")
    table.add_row("mean", f"{report.mean_fve:.4f}", f"{report.mean_l0:.1f}", "", "")
    Console().print(table)


@transcoders.command()
@click.argument("folder", type=click.Path())
def info(folder: str) -> None:
    """Show the shape, activation and training report of a transcoder folder."""
    from atlas.transcoders import load_transcoders

    tset = load_transcoders(folder)
    cfg = tset.config
    lines = [f"kind          {cfg.kind}", f"layers        {cfg.n_layers}",
             f"d_model       {cfg.d_model}", f"d_transcoder  {cfg.d_transcoder}",
             f"activation    {cfg.activation}" + (f" (k={cfg.top_k})" if cfg.top_k else ""),
             f"skip          {cfg.skip}", f"input hook    {cfg.input_hook}",
             f"output hook   {cfg.output_hook}", f"scan          {cfg.scan}"]
    report = Path(folder) / "training_report.json"
    if report.is_file():
        data = json.loads(report.read_text())
        lines += [f"trained       {data['steps']} steps, {data['tokens']} tokens",
                  f"FVE (mean)    {data['mean_fve']:.4f}  per layer "
                  + " ".join(f"{v:.3f}" for v in data["fve"]),
                  f"L0 (mean)     {data['mean_l0']:.1f}"]
    click.echo("\n".join(lines))
