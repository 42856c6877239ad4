"""Search by examples: rank a run's features by activation on example texts against a baseline.

The run's catalog record names its model and transcoder folders; its frozen corpus
(`<home>/runs/<run>/prompts.parquet`) supplies the default baseline, a seeded sample of its
prompts. Both sides go through the same activation pass (`text_activations.max_activations`)
and are ranked by `atlas.graphdb.examples.rank_by_examples`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from atlas.config import AtlasConfig
from atlas.errors import InputError, StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunModel:
    """Where a run's model, transcoders and prompts are, as the catalog recorded them."""

    run: str
    """Run name."""
    model_path: Path
    """Folder of the HF causal LM (save_pretrained)."""
    transcoders_path: Path
    """Folder of the transcoder set."""
    transcoder_set: str
    """Catalog name of the set: the prefix of the feature keys."""
    prompts_path: Path
    """The run's prompts.parquet (the default baseline)."""
    max_tokens: int = 64
    """Token limit per text, BOS included (the run's)."""
    batch: int = 16
    """Texts per forward pass (the run's activation_batch)."""
    device: str | None = None
    """cpu, cuda, cuda:N or auto; None is CPU."""
    dtype: str | None = None
    """fp32 or bf16; None is fp32."""


def run_model_from_session(session, home: Path, run: str, device: str | None = None) -> RunModel:
    """The RunModel of `run` from a catalog session; InputError naming the known runs if absent.

    `device` overrides the run's own device setting.
    """
    from atlas.catalog.runs import get_run
    from ingest.prepare import PROMPTS_FILE
    from ingest.shards import run_dir

    record = get_run(session, run)
    settings = record.settings or {}
    return RunModel(run=run, model_path=Path(record.model.path),
                    transcoders_path=Path(record.transcoder_set.path),
                    transcoder_set=record.transcoder_set.name,
                    prompts_path=run_dir(Path(home), run) / PROMPTS_FILE,
                    max_tokens=int(settings.get("max_tokens", 64)),
                    batch=int(settings.get("activation_batch", 16)),
                    device=device if device is not None else settings.get("device"),
                    dtype=settings.get("dtype"))


def run_model(config: AtlasConfig, run: str, device: str | None = None) -> RunModel:
    """The RunModel of `run` from the atlas catalog (never creates a catalog)."""
    from atlas.catalog import db

    url = config.catalog_url_resolved
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise StoreError(f"no catalog at {url}; run `atlas init` and ingest a run first")
    engine = db.make_engine(url)
    try:
        with db.session_factory(engine)() as session:
            return run_model_from_session(session, config.home, run, device)
    finally:
        engine.dispose()


def sample_prompts(path: Path, n: int, seed: int = 0) -> list[str]:
    """`n` texts of a prompts.parquet (all if it has fewer), a seeded sample in file order."""
    import pyarrow.parquet as pq

    if n < 1:
        raise InputError(f"baseline size {n} must be at least 1")
    if not path.is_file():
        raise InputError(f"no frozen corpus at {path}; the run's folder is missing, give "
                         "--baseline FILE instead")
    texts = pq.read_table(path, columns=["text"])["text"].to_pylist()
    if len(texts) > n:
        keep = np.sort(np.random.default_rng(seed).choice(len(texts), n, replace=False))
        texts = [texts[i] for i in keep]
    return texts


def read_baseline_file(path: str | Path) -> list[str]:
    """Baseline texts of a file, one per line (blank lines skipped)."""
    try:
        with open(path, encoding="utf-8") as f:
            texts = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read baseline file {path}: {e}; give a UTF-8 text file") from e
    if not texts:
        raise InputError(f"baseline file {path} has no texts; write one text per line")
    return texts


class ExampleSearcher:
    """A run's model and transcoders, loaded on first use, and its baseline activations.

    Loading and the baseline pass happen once (under a lock); later searches only run the
    examples through the model. Searches may run concurrently (inference only).
    """

    def __init__(self, spec: RunModel, baseline: list[str] | None = None,
                 baseline_size: int = 256, seed: int = 0):
        self.spec = spec
        self._baseline_texts = baseline
        self._baseline_size = baseline_size
        self._seed = seed
        self._lock = threading.RLock()
        self._loaded: tuple[Any, Any, list[str]] | None = None
        self._baseline: np.ndarray | None = None

    def _load(self) -> tuple[Any, Any, list[str]]:
        from atlas.features.text_activations import feature_keys
        from atlas.models import load_model
        from atlas.transcoders import load_transcoders

        spec = self.spec
        if not (spec.model_path / "config.json").is_file():
            raise InputError(f"run {spec.run!r}: model folder {spec.model_path} is missing or "
                             "has no config.json; restore it at that path")
        if not spec.transcoders_path.is_dir():
            raise InputError(f"run {spec.run!r}: transcoder folder {spec.transcoders_path} is "
                             "missing; restore it at that path")
        log.info("run %s: loading model %s and transcoders %s", spec.run, spec.model_path,
                 spec.transcoders_path)
        model = load_model(spec.model_path, device=spec.device, dtype=spec.dtype)
        tset = load_transcoders(spec.transcoders_path)
        tset.validate_for_model(model.n_layers, model.d_model)
        keys = feature_keys(spec.transcoder_set, tset.n_layers, tset.d_transcoder)
        return model, tset.to(model.device, model.dtype), keys

    def loaded(self) -> tuple[Any, Any, list[str]]:
        """(LoadedModel, TranscoderSet, feature keys of the columns), loading them once."""
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = self._load()
        return self._loaded

    def activations(self, texts: list[str], progress: Callable[[int], None] | None = None,
                    ) -> tuple[np.ndarray, list[bool]]:
        """[n_texts n_features] max activation per feature over each text's tokens (no BOS),
        and whether each text had a non-finite activation (its row is 0)."""
        from atlas.features.text_activations import max_activations, tokenize_texts

        model, tset, _ = self.loaded()
        ids = tokenize_texts(model.tokenizer, texts, self.spec.max_tokens)
        return max_activations(model, tset, ids, self.spec.batch, progress)

    def baseline_texts(self) -> list[str]:
        """The given baseline texts, else a seeded sample of the run's prompts (read once)."""
        if self._baseline_texts is None:
            self._baseline_texts = sample_prompts(self.spec.prompts_path, self._baseline_size,
                                                  self._seed)
        return self._baseline_texts

    def baseline(self, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """[n_baseline n_features] activations of the baseline texts, computed once."""
        if self._baseline is None:
            with self._lock:
                if self._baseline is None:
                    texts = self.baseline_texts()
                    log.info("run %s: activations of %d baseline texts", self.spec.run, len(texts))
                    acts, bad = self.activations(texts, progress)
                    if any(bad):
                        log.warning("run %s: %d baseline texts with non-finite activations "
                                    "left out", self.spec.run, sum(bad))
                    self._baseline = acts[~np.asarray(bad, dtype=bool)]
        return self._baseline

    def search(self, texts: list[str], offset: int = 0, limit: int = 20,
               progress: Callable[[int], None] | None = None):
        """A Page of features ranked by `rank_by_examples` for `texts` against the baseline.

        Rows: feature, layer, index, score, mean_examples, mean_baseline, frac_examples_active.
        """
        from atlas.features.text_activations import check_texts
        from atlas.graphdb.examples import rank_by_examples
        from atlas.graphdb.search import page_of

        if offset < 0 or limit < 1:
            raise InputError(f"offset={offset}, limit={limit}: need offset >= 0 and limit >= 1")
        check_texts(texts)
        examples, bad = self.activations(texts, progress)
        if any(bad):
            first = bad.index(True)
            raise InputError(f"example text {first + 1} ({texts[first][:40]!r}) gives "
                             f"non-finite activations in run {self.spec.run!r}; check the "
                             "transcoders")
        base = self.baseline(progress)
        _, _, keys = self.loaded()
        ranked = rank_by_examples(examples, base, keys, top_k=offset + limit + 1)[offset:]
        return page_of([_with_layer_index(row) for row in ranked], offset, limit)


def _with_layer_index(row: dict) -> dict:
    """A ranked row with the feature's layer and index after its key, as text search has them."""
    from atlas.graphdb.keys import parse_feature_key

    _, layer, index = parse_feature_key(row["feature"])
    return {"feature": row["feature"], "layer": layer, "index": index,
            **{k: v for k, v in row.items() if k != "feature"}}
