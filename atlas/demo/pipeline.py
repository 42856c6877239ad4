"""`atlas demo`: the planted-circuit world end to end, in its own atlas home under the output folder.

Stages (each skipped when its output is already there, so a re-run reuses what is built):
model (corpus + tiny GPT-2) → transcoders → Neo4j + stores → ingest of the evaluation prompts
→ labels → findings (recurring circuits per task, concept search, one graph as JSON and PNG).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from atlas.config import AtlasConfig

log = logging.getLogger(__name__)

RUN = "demo"
TASKS = ("two_hop", "one_hop_state", "one_hop_capital", "induction")

Stage = Callable[[str, int, int, dict[str, Any]], None]
"""progress(stage, done, total, info) reported by long stages."""


@dataclass(frozen=True)
class DemoSettings:
    """Knobs of the demo; defaults take a few minutes on a 2-core CPU."""

    out: Path = field(default=Path("demo-output"), metadata={"help": "Output folder."})
    seed: int = field(default=0, metadata={"help": "Seed of corpus, model and transcoders."})
    model_steps: int = field(default=2000, metadata={"help": "Training steps of the tiny model."})
    transcoder_steps: int = field(default=5000, metadata={"help": "Transcoder training steps."})
    transcoder_kind: str = field(default="clt", metadata={
        "help": "clt (cross-layer: each feature writes to its own and every later layer) or plt "
                "(per-layer)."})
    d_transcoder: int = field(default=128, metadata={"help": "Features per layer."})
    transcoder_k: int = field(default=8, metadata={"help": "TopK: active features per token."})
    threads: int = field(default=2, metadata={"help": "torch CPU threads."})
    induction_prompts: int = field(default=200, metadata={
        "help": "Held-out induction prompts (evaluated and ingested with the others)."})


@dataclass
class DemoResult:
    """Where everything is, and what was found."""

    out: Path
    home: Path
    model_report: dict
    transcoder_report: dict
    ingest_summary: dict
    circuits: dict[str, list[dict]]
    concepts: dict[str, list[dict]]
    graph_json: Path
    graph_png: Path
    bolt: str
    password_file: Path
    answer_circuits: dict[str, list[dict]] = field(default_factory=dict)
    """Per two-hop answer: the top recurring paths into its logit within its prompts."""
    intermediates: list[dict] = field(default_factory=list)
    """Features on those paths that stand for the answer's (unnamed) state."""

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self).items()}


def demo_config(base: AtlasConfig, home: Path) -> AtlasConfig:
    """The demo's own atlas home; Neo4j jars are shared with the base home's runtime."""
    return replace(base, home=home, neo4j_runtime=base.neo4j_runtime_resolved, duckdb_path=None,
                   catalog_url=None)


def reset(base: AtlasConfig, settings: DemoSettings) -> None:
    """`--fresh`: stop the demo's Neo4j and delete the output folder."""
    from atlas.neo4j import server

    home = settings.out / "home"
    if home.exists():
        server.stop(demo_config(base, home))
    shutil.rmtree(settings.out, ignore_errors=True)


def build_model(settings: DemoSettings, progress: Stage) -> dict:
    from dataclasses import asdict

    from atlas.demo.corpus import CorpusConfig, build_corpus
    from atlas.demo.model import TinyModelConfig, train_tiny_model

    corpus = build_corpus(config=CorpusConfig(seed=settings.seed,
                                              n_eval_induction=settings.induction_prompts))
    config = replace(TinyModelConfig(), steps=settings.model_steps)
    report = train_tiny_model(corpus, settings.out / "model", seed=settings.seed, config=config,
                              progress=lambda s, n, loss: progress("model", s, n,
                                                                   {"loss": loss}))
    return asdict(report)


def build_transcoders(settings: DemoSettings, model_fingerprint: str, progress: Stage) -> dict:
    """Train (or reuse) the transcoders; reused only when fitted to this model with this config."""
    from dataclasses import asdict

    from atlas.training.config import TrainConfig
    from atlas.training.loop import train_transcoders

    out = settings.out / "transcoders"
    report_file = out / "training_report.json"
    config = TrainConfig(kind=settings.transcoder_kind, activation="topk", k=settings.transcoder_k,
                         d_transcoder=settings.d_transcoder,
                         steps=settings.transcoder_steps, seed=settings.seed)
    marker = out / "demo_config.json"
    wanted = json.dumps({"model": model_fingerprint, "config": asdict(config)}, sort_keys=True,
                        default=str)
    if report_file.exists() and marker.exists() and marker.read_text() == wanted:
        return json.loads(report_file.read_text())
    report = train_transcoders(settings.out / "model", settings.out / "model" / "corpus.jsonl",
                               out, config, resume=marker.exists() and
                               marker.read_text() == wanted,
                               progress=lambda s, n, m: progress("transcoders", s, n, m))
    marker.write_text(wanted)
    return asdict(report)


def _drop_stale_home(config: AtlasConfig, inputs: str) -> None:
    """Delete the demo's atlas home when it was filled from other model or transcoders.

    The home is derived data: a re-run with new settings must not answer from old graphs.
    `inputs` (the transcoders' marker: model fingerprint and transcoder config) is stored in
    the home once it is reset.
    """
    from atlas.neo4j import server

    marker = config.home / "demo_inputs.json"
    if marker.is_file() and marker.read_text() == inputs:
        return
    if config.home.exists():
        log.info("demo inputs changed: rebuilding the atlas home %s", config.home)
        server.stop(config)
        shutil.rmtree(config.home)
    config.home.mkdir(parents=True)
    marker.write_text(inputs)


def write_ingest_corpus(settings: DemoSettings) -> Path:
    """The evaluation prompts as an ingest corpus; ids say task and split."""
    from atlas.demo.planted import load_prompts

    path = settings.out / "ingest_corpus.jsonl"
    with open(path, "w") as f:
        for i, r in enumerate(load_prompts(settings.out / "model")):
            f.write(json.dumps({"id": f"{r.task}-{i:04d}", "text": r.prompt, "task": r.task,
                                "answer": r.answer, "split": r.split, "subject": r.subject,
                                "intermediate": r.intermediate}) + "\n")
    return path


def ingest_prompts(config: AtlasConfig, settings: DemoSettings, progress: Stage) -> dict:
    from atlas.errors import InputError
    from ingest import job
    from ingest.labeling import label_run
    from ingest.load import StoreSinks, load_run
    from ingest.progress import prompts_left
    from ingest.settings import IngestSettings

    spec = IngestSettings(model=str(settings.out / "model"),
                          transcoders=str(settings.out / "transcoders"),
                          corpus=str(write_ingest_corpus(settings)), shard_size=32,
                          max_tokens=32, batch_size=256, max_feature_nodes=256)
    try:
        job.create_run(config, RUN, spec)
    except InputError as e:
        if "already exists" not in str(e):
            raise
    seen = {"prompts": 0}
    left = prompts_left(config, RUN)

    def on_prompt(_n: int, _failed: bool) -> None:
        seen["prompts"] += 1
        progress("ingest", seen["prompts"], left, {})

    tset = job.transcoder_set_name(spec)
    with StoreSinks(config, RUN, tset) as sinks:
        outcome = job.work(config, RUN, [sinks], 1, on_prompt)
    load_run(config, RUN, tset)              # shards committed by an earlier, stopped demo
    labels = label_run(config, RUN, tset, spec.model, spec.transcoders)
    return {"prompts_this_time": outcome.report.prompts, "graphs": outcome.report.graphs,
            "errors": outcome.report.errors, "labelled_features": labels.labelled,
            "transcoder_set": tset}


def task_prompt_ids(settings: DemoSettings) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {t: [] for t in TASKS}
    for row in _ingest_rows(settings):
        ids[row["task"]].append(row["id"])
    return ids


def answer_prompt_ids(settings: DemoSettings, task: str = "two_hop") -> dict[str, list[str]]:
    """{answer: ids of the task's prompts whose expected next token it is}."""
    out: dict[str, list[str]] = {}
    for row in _ingest_rows(settings):
        if row["task"] == task:
            out.setdefault(row["answer"], []).append(row["id"])
    return out


def _ingest_rows(settings: DemoSettings) -> list[dict]:
    lines = (settings.out / "ingest_corpus.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line]


def run_demo(base: AtlasConfig, settings: DemoSettings, progress: Stage,
             atlas: AtlasConfig | None = None) -> DemoResult:
    """Every stage in order; stages whose outputs exist are reused.

    With `atlas` (an initialised atlas whose Neo4j is running, e.g. a test session's), the run is
    ingested there; otherwise the demo starts and initialises its own home under `settings.out`.
    """
    import torch

    from atlas.initialize import init_atlas
    from atlas.neo4j import server

    torch.set_num_threads(max(1, settings.threads))
    settings.out.mkdir(parents=True, exist_ok=True)
    model_report = build_model(settings, progress)
    transcoder_report = build_transcoders(settings, model_report["fingerprint"], progress)
    config = atlas or demo_config(base, settings.out.resolve() / "home")
    if atlas is None:
        progress("stores", 0, 1, {})
        _drop_stale_home(config, (settings.out / "transcoders" / "demo_config.json").read_text())
        server.start(config)
        init_atlas(config)
        progress("stores", 1, 1, {})
    summary = ingest_prompts(config, settings, progress)
    return _findings(config, settings, model_report, transcoder_report, summary)


def _findings(config: AtlasConfig, settings: DemoSettings, model_report: dict,
              transcoder_report: dict, summary: dict) -> DemoResult:
    from transformers import AutoTokenizer

    from atlas.demo import findings, intermediate
    from atlas.demo.planted import load_planted
    from atlas.graphdb.graph_json import prompt_graph_json
    from atlas.neo4j import client
    from atlas.stores import duckdb_store

    ids = task_prompt_ids(settings)
    answers = answer_prompt_ids(settings)
    planted = load_planted(settings.out / "model")
    tokenizer = AutoTokenizer.from_pretrained(str(settings.out / "model"))
    token_ids = {a: int(tokenizer.convert_tokens_to_ids(a)) for a in answers}
    with client.session_driver(config) as driver:
        circuits = findings.recurring_circuits(driver, config, ids)
        anchored = intermediate.answer_circuits(driver, config, answers, token_ids)
        found = findings.concept_search(driver, config, sorted(planted.two_hop.second_hop))
        example = ids["two_hop"][0]
        graph = prompt_graph_json(driver, example, run=RUN, database=config.neo4j_database)
    con = duckdb_store.connect(config)
    try:
        states = intermediate.find_intermediates(
            anchored, answers, planted, intermediate.top_tokens_reader(con, RUN))
    finally:
        con.close()
    graph_json = findings.write_json(settings.out / f"{example}.graph.json", graph)
    graph_png = findings.draw_graph(graph, settings.out / f"{example}.graph.png")
    result = DemoResult(settings.out, config.home, model_report, transcoder_report, summary,
                        circuits, found, graph_json, graph_png, client.managed_uri(config),
                        client.password_file(config), anchored,
                        [s.to_json() for s in states])
    findings.write_json(settings.out / "summary.json", result.to_json())
    return result
