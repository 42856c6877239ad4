"""Train the demo's tiny GPT-2 from scratch on the planted corpus and score it per task.

`train_tiny_model(corpus, out_dir, seed)` writes a save_pretrained folder (model + word-level
tokenizer + planted.json + prompts.jsonl + corpus.jsonl) and `atlas_demo.json` holding the
fingerprint of (corpus config, model config, seed) and the report. Called again with the same
inputs it returns the stored report without training.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from atlas.demo.corpus import Corpus, Query
from atlas.demo.tokenizer import build_tokenizer
from atlas.errors import InputError

log = logging.getLogger(__name__)

MARKER = "atlas_demo.json"
Progress = Callable[[int, int, float], None]
"""progress(step, total_steps, loss) called during training."""


@dataclass(frozen=True)
class TinyModelConfig:
    """Architecture and optimisation of the tiny demo model (GPT-2 architecture)."""

    n_layers: int = 4
    """Transformer blocks."""
    d_model: int = 64
    """Residual-stream width."""
    n_heads: int = 4
    """Attention heads per block."""
    n_positions: int = 32
    """Context length (documents are at most ~14 tokens)."""
    steps: int = 2000
    """Optimizer steps."""
    batch_size: int = 64
    """Documents per step."""
    lr: float = 3e-3
    """Peak AdamW learning rate (linear warm-up over 5% of steps, then cosine decay)."""
    weight_decay: float = 1.0
    """AdamW weight decay (helps the two-hop facts compose instead of being memorised)."""
    eval_every: int = 100
    """Steps between validation evaluations (checkpoint selection)."""

    def __post_init__(self) -> None:
        for name in ("n_layers", "d_model", "n_heads", "steps", "batch_size", "eval_every"):
            if getattr(self, name) <= 0:
                raise InputError(f"TinyModelConfig.{name}={getattr(self, name)} must be positive")
        if self.d_model % self.n_heads:
            raise InputError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")


@dataclass(frozen=True)
class TinyModelReport:
    """What training produced: per-task accuracy on the evaluation queries."""

    accuracy: dict[str, float]
    """"task:split" -> fraction of queries whose argmax next token is the answer, for tasks
    two_hop, one_hop_state, one_hop_capital, induction and splits train, validation, test."""
    final_loss: float
    """Mean training loss over the last 100 steps."""
    steps: int
    """Optimizer steps run."""
    best_step: int
    """Step of the kept weights (best validation score; evaluated every eval_every steps)."""
    seconds: float
    """Wall-clock training time (0 when loaded from cache)."""
    n_params: int
    """Model parameter count."""
    fingerprint: str
    """Hash of corpus config, model config and seed; equal fingerprints mean equal outputs."""
    cached: bool = False
    """True when the folder already held this model and nothing was trained."""


def fingerprint(corpus: Corpus, config: TinyModelConfig, seed: int) -> str:
    blob = json.dumps([corpus.config.fingerprint(), asdict(config), seed], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _gpt2_config(config: TinyModelConfig, tokenizer):
    from transformers import GPT2Config

    return GPT2Config(vocab_size=len(tokenizer), n_positions=config.n_positions,
                      n_embd=config.d_model, n_layer=config.n_layers, n_head=config.n_heads,
                      n_inner=4 * config.d_model, resid_pdrop=0.0, embd_pdrop=0.0,
                      attn_pdrop=0.0, bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                      tie_word_embeddings=True)


def _encode_documents(corpus: Corpus, tokenizer, n_positions: int) -> torch.Tensor:
    """Token ids [n_docs pos]: <bos> words <eos>, right-padded with <pad>."""
    rows = [[tokenizer.bos_token_id, *tokenizer(d, add_special_tokens=False)["input_ids"],
             tokenizer.eos_token_id] for d in corpus.documents]
    width = max(len(r) for r in rows)
    if width > n_positions:
        raise InputError(f"documents of {width} tokens exceed n_positions={n_positions}")
    out = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row)
    return out


def _lr_at(step: int, config: TinyModelConfig) -> float:
    warm = max(1, config.steps // 20)
    if step < warm:
        return config.lr * (step + 1) / warm
    progress = (step - warm) / max(1, config.steps - warm)
    return config.lr * 0.5 * (1 + torch.cos(torch.tensor(progress * torch.pi)).item())


@torch.no_grad()
def evaluate(model, tokenizer, queries: tuple[Query, ...] | list[Query]) -> dict[str, float]:
    """Argmax accuracy of `model` per "task:split" (prompts get circuit-tracer's BOS).

    Prompts are right-padded into one batch; each is read at its own last position.
    """
    if not queries:
        return {}
    rows = [[tokenizer.bos_token_id, *tokenizer(q.prompt, add_special_tokens=False)["input_ids"]]
            for q in queries]
    ids = torch.full((len(rows), max(map(len, rows))), tokenizer.pad_token_id)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
    logits = model(input_ids=ids, attention_mask=(ids != tokenizer.pad_token_id).long()).logits
    last = torch.tensor([len(r) - 1 for r in rows])
    predicted = logits[torch.arange(len(rows)), last].argmax(-1).tolist()
    hits: dict[str, list[bool]] = {}
    for q, token in zip(queries, predicted):
        ok = tokenizer.convert_ids_to_tokens(token) == q.answer
        hits.setdefault(f"{q.task}:{q.split}", []).append(ok)
    return {k: sum(v) / len(v) for k, v in sorted(hits.items())}


def _validation_score(model, tokenizer, corpus: Corpus) -> float:
    """Mean validation accuracy over tasks: the checkpoint-selection criterion."""
    accuracy = evaluate(model, tokenizer, [q for q in corpus.queries if q.split == "validation"])
    return sum(accuracy.values()) / max(1, len(accuracy))


def _train(model, data: torch.Tensor, pad_id: int, config: TinyModelConfig, seed: int,
           progress: Progress | None, score: Callable[[], float]) -> tuple[float, int]:
    """Train; keep the weights of the evaluation with the best validation score (the later one
    on ties) and load them at the end. Returns (mean loss of the last 100 steps, best step)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.98),
                            weight_decay=config.weight_decay)
    recent: list[float] = []
    best: tuple[float, int, dict] = (-1.0, 0, {})
    model.train()
    for step in range(config.steps):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, config)
        batch = data[torch.randint(len(data), (config.batch_size,), generator=gen)]
        batch = batch[:, :int((batch != pad_id).sum(1).max())]
        labels = batch.masked_fill(batch == pad_id, -100)
        loss = model(input_ids=batch, attention_mask=(batch != pad_id).long(), labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        recent = (recent + [loss.item()])[-100:]
        if progress is not None:
            progress(step + 1, config.steps, recent[-1])
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            value = score()
            log.info("step %d loss %.4f validation %.3f", step + 1, sum(recent) / len(recent),
                     value)
            if value >= best[0]:
                best = (value, step + 1, {k: v.clone() for k, v in model.state_dict().items()})
            model.train()
    model.load_state_dict(best[2])
    model.eval()
    return sum(recent) / len(recent), best[1]


def load_report(out_dir: str | Path) -> TinyModelReport | None:
    """The report stored in a trained demo folder, or None if there is none."""
    marker = Path(out_dir) / MARKER
    if not marker.is_file():
        return None
    data = json.loads(marker.read_text())["report"]
    return TinyModelReport(**{**data, "cached": True})


def train_tiny_model(corpus: Corpus, out_dir: str | Path, seed: int = 0,
                     progress: Progress | None = None,
                     config: TinyModelConfig | None = None) -> TinyModelReport:
    """Train (or reuse) the tiny GPT-2 on `corpus` and save it to `out_dir`; return the report.

    Deterministic on CPU for a given (corpus, config, seed). If `out_dir` already holds a model
    trained from the same fingerprint, nothing is trained and the stored report is returned.
    """
    from transformers import GPT2LMHeadModel

    config = config or TinyModelConfig()
    out = Path(out_dir)
    fp = fingerprint(corpus, config, seed)
    cached = load_report(out)
    if cached is not None and cached.fingerprint == fp and (out / "config.json").is_file():
        return cached
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(corpus.vocab)
    model = GPT2LMHeadModel(_gpt2_config(config, tokenizer))
    data = _encode_documents(corpus, tokenizer, config.n_positions)
    start = time.perf_counter()
    final_loss, best_step = _train(model, data, tokenizer.pad_token_id, config, seed, progress,
                                   lambda: _validation_score(model.eval(), tokenizer, corpus))
    seconds = time.perf_counter() - start
    report = TinyModelReport(accuracy=evaluate(model, tokenizer, corpus.queries),
                         final_loss=final_loss, steps=config.steps, best_step=best_step,
                         seconds=round(seconds, 1),
                         n_params=sum(p.numel() for p in model.parameters()), fingerprint=fp)
    _save(model, tokenizer, corpus, config, report, out)
    return report


def _save(model, tokenizer, corpus: Corpus, config: TinyModelConfig, report: TinyModelReport,
          out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).unlink(missing_ok=True)  # invalid until everything below is written
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    corpus.write(out)
    marker = {"fingerprint": report.fingerprint, "model_config": asdict(config),
              "report": asdict(report)}
    tmp = out / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(marker, indent=2) + "\n")
    os.replace(tmp, out / MARKER)
