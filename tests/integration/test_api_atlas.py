"""A small real atlas for the API tests: Neo4j, DuckDB and catalog filled from synthetic shards."""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atlas.config import AtlasConfig, replace
from atlas.graphdb.synthetic import SyntheticSpec

SPEC = SyntheticSpec(n_prompts=24, n_shards=2, seed=5)
T = SPEC.transcoder_set
PLANTED = [f"{T}:{layer}:{i}" for layer, i in SPEC.planted[0].features]
LABELS = {PLANTED[0]: ("capital cities of Europe", "Paris is the capital of France"),
          PLANTED[1]: ("French food and cooking", "a croissant with butter"),
          PLANTED[2]: ("numbers and counting", "one two three four")}


def word_embedder(texts: list[str]) -> list[list[float]]:
    """A deterministic bag-of-words embedder (384-d, unit length) standing in for MiniLM."""
    out = []
    for text in texts:
        v = np.zeros(384)
        for word in text.lower().split():
            v[int(hashlib.sha1(word.encode()).hexdigest(), 16) % 384] += 1.0
        norm = math.sqrt(float(v @ v)) or 1.0
        out.append([float(x) / norm for x in v])
    return out


@dataclass(frozen=True)
class FilledAtlas:
    """What the tests need to know about the filled atlas."""

    config: AtlasConfig
    run_dir: Path


BASELINE = [f"{who} {did} the {what}" for who in ("a cat", "my dog", "the bird", "one frog")
            for did in ("saw", "found") for what in ("ball", "garden", "river")]
"""The run's frozen prompts: the baseline of search by examples (24 short English texts)."""


def run_model_files(home: Path, tmp: Path) -> tuple[Path, Path]:
    """A tiny model and random transcoders for SPEC's run (its transcoder set's width, so the
    keys search by examples returns are the synthetic features') and the run's prompts.parquet
    under `home`; returns (model folder, transcoder folder)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from atlas.transcoders import random_transcoders, save_transcoders
    from ingest.prepare import PROMPTS_FILE
    from ingest.shards import run_dir
    from tests.fixtures.tiny_models import D_MODEL, N_LAYERS, build_tiny_model

    model = build_tiny_model("gpt2", tmp / "model")
    tc = Path(save_transcoders(random_transcoders(N_LAYERS, D_MODEL, SPEC.n_features, seed=3),
                               tmp / "transcoders"))
    prompts = run_dir(home, SPEC.run) / PROMPTS_FILE
    prompts.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"prompt_id": [f"b{i:03d}" for i in range(len(BASELINE))],
                      "text": BASELINE})
    pq.write_table(table, tmp / PROMPTS_FILE)
    (tmp / PROMPTS_FILE).replace(prompts)
    return model, tc


def fill_atlas(base: AtlasConfig, driver, tmp: Path, with_model: bool = False) -> FilledAtlas:
    """Own DuckDB + catalog under `tmp`, the shared Neo4j wiped and loaded with SPEC.

    `with_model`: the run's catalog record names a real tiny model and transcoder set (and its
    prompts are frozen), so GET /api/search/examples works for it; otherwise those paths do not
    exist and that endpoint answers the run's one-line "model folder is missing" error.
    """
    from atlas.catalog.db import make_engine, session_factory
    from atlas.catalog.models import ShardState
    from atlas.catalog.runs import RunSpec, create_run
    from atlas.features.merge import FeatureStatsStore
    from atlas.features.output_tokens import compute_output_tokens, write_output_tokens
    from atlas.graphdb.labels import FeatureLabel, write_labels
    from atlas.graphdb.loader import shard_dirs
    from atlas.graphdb.search import embed_features
    from atlas.initialize import init_atlas
    from atlas.stores.duckdb_store import connect

    from .graphdb_fixtures import loaded_run

    config = replace(base, duckdb_path=tmp / "api.duckdb",
                     catalog_url=f"sqlite:///{tmp / 'api-catalog.sqlite'}")
    init_atlas(config)
    db = config.neo4j_database
    run_dir = loaded_run(driver, db, tmp / "runs", SPEC)
    write_labels(driver, [FeatureLabel(k, lab, "manual", top_text=text)
                          for k, (lab, text) in LABELS.items()], database=db)
    embed_features(driver, word_embedder, database=db)
    driver.execute_query("CALL db.awaitIndexes(60)", database_=db)
    con = connect(config)
    try:
        store = FeatureStatsStore(con)
        for shard in shard_dirs(run_dir):
            store.merge_shard_dir(shard, T)
        rng = np.random.default_rng(3)
        out = compute_output_tokens(rng.normal(size=(SPEC.n_features, 8)),
                                    rng.normal(size=(8, SPEC.vocab)), k=3)
        write_output_tokens(con, SPEC.run, T, 1, np.arange(SPEC.n_features), out,
                            lambda t: f" t{t}")
    finally:
        con.close()
    model, tc = run_model_files(config.home, tmp) if with_model else (Path("/m"), Path("/t"))
    engine = make_engine(config.catalog_url_resolved)
    with session_factory(engine)() as session:
        run = create_run(session, RunSpec(SPEC.run, "tiny", str(model), T, str(tc), "plt",
                                          "corpus", "/c", "jsonl", "0" * 64, SPEC.n_prompts, 12,
                                          {"max_tokens": 24, "activation_batch": 8}))
        run.shards[0].state, run.shards[0].n_graphs = ShardState.loaded, 12
        session.commit()
    engine.dispose()
    return FilledAtlas(config, run_dir)


@contextlib.contextmanager
def serve_filled_atlas(base: AtlasConfig, driver, tmp: Path, with_model: bool = False):
    """Fill a small atlas under `tmp` and serve it on a free loopback port; yields the origin."""
    import uvicorn

    from atlas.api import create_app
    from tests.conftest import free_port

    atlas = fill_atlas(base, driver, tmp, with_model)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(atlas.config, lambda: word_embedder),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
