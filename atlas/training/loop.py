"""Train a transcoder set: the optimisation loop, dead-feature resampling, checkpoints, export.

    train_transcoders(model_dir, corpus, out_dir, config, device=None, dtype=None,
                      resume=False, progress=None) -> TrainReport

Loss per step: sum over layers of the squared reconstruction error (normalised units, summed over
d_model, averaged over tokens) plus `l1` times the L1 norm of the activations weighted by their
decoder norms (relu, jumprelu; TopK needs no penalty, but gets the AuxK loss on dead features).
A feature silent for `dead_after` steps is dead; every `resample_every` steps dead features are
re-initialised towards the batch's worst-reconstructed tokens (encoder along the input, decoder
along the residual error) and their Adam moments reset.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from atlas.errors import InputError
from atlas.training.checkpoint import (Checkpoint, load_checkpoint, optimizer_tensors,
                                       restore_optimizer, save_checkpoint)
from atlas.training.config import TrainConfig
from atlas.training.data import ActivationBuffer, Batch, read_corpus, tokenize_corpus
from atlas.training.module import TrainableTranscoders

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
REPORT_FILE = "training_report.json"
Progress = Callable[[int, int, dict[str, float]], None]
"""progress(step, total_steps, {"loss", "fve", "l0"}) after every optimizer step."""


@dataclass(frozen=True)
class TrainReport:
    """Final quality of a trained set, measured on a block of tokens not used for training."""

    steps: int
    """Optimizer steps done in total (including before a resume)."""
    tokens: int
    """Training tokens seen (steps * batch_tokens)."""
    fve: list[float]
    """Per layer: fraction of variance of the MLP output explained by the reconstruction."""
    l0: list[float]
    """Per layer: mean number of active features per token."""
    mse: list[float]
    """Per layer: mean squared error (raw units, summed over d_model)."""
    dead_fraction: list[float]
    """Per layer: share of features that did not fire in the last `dead_after` steps."""
    eval_tokens: int
    """Tokens in the evaluation block."""
    seconds: float
    """Wall-clock seconds of this invocation."""
    resumed_from: int | None
    """Step the run resumed from, or None."""
    config: dict
    """The TrainConfig used."""

    @property
    def mean_fve(self) -> float:
        return sum(self.fve) / len(self.fve)

    @property
    def mean_l0(self) -> float:
        return sum(self.l0) / len(self.l0)


def _lr(step: int, config: TrainConfig) -> float:
    warm, decay_from = max(1, config.steps // 20), int(config.steps * 0.8)
    if step < warm:
        return config.lr * (step + 1) / warm
    if step >= decay_from:
        return config.lr * (config.steps - step) / max(1, config.steps - decay_from)
    return config.lr


def _optimizer(module: TrainableTranscoders, config: TrainConfig) -> torch.optim.Adam:
    """Adam; JumpReLU thresholds get `threshold_lr_scale` times the learning rate (they move
    only through the sparse straight-through gradient and must travel O(1) activation units)."""
    thresholds = [module.threshold] if module.threshold is not None else []
    others = [p for p in module.parameters() if p is not module.threshold]
    groups = [{"params": others, "lr_scale": 1.0}]
    if thresholds:
        groups.append({"params": thresholds, "lr_scale": config.threshold_lr_scale})
    return torch.optim.Adam(groups, lr=config.lr)


@torch.no_grad()
def _resample(module: TrainableTranscoders, opt: torch.optim.Optimizer, batch: Batch,
              since_fired: torch.Tensor, dead_after: int) -> int:
    """Re-initialise dead features from the worst-reconstructed tokens; return how many."""
    x, y = module.normalise(batch.mlp_in, batch.mlp_out)
    recon = module.decode(module.activate(module.pre_activation(x)), x)
    residual = y - recon                                               # [batch n_layers d_model]
    enc_norm = module.W_enc.norm(dim=-1)                               # [n_layers d_tc]
    total = 0
    for layer, w_dec in enumerate(module.W_dec):
        dead = (since_fired[layer] > dead_after).nonzero().flatten()
        n_out = w_dec.shape[1]
        err = residual[:, layer:layer + n_out].flatten(1)              # [batch n_out*d_model]
        n = min(len(dead), len(x))
        if n == 0:
            continue
        dead, worst = dead[:n], err.norm(dim=1).topk(n).indices
        alive = since_fired[layer] <= dead_after
        scale = enc_norm[layer][alive].mean() if alive.any() else enc_norm[layer].mean()
        inp = x[worst, layer]
        unit = inp / inp.norm(dim=1, keepdim=True).clamp_min(1e-8)
        module.W_enc[layer, dead] = 0.2 * scale * unit
        module.b_enc[layer, dead] = 0.0
        direction = err[worst] / err[worst].norm(dim=1, keepdim=True).clamp_min(1e-8)
        w_dec[dead] = 0.1 * direction.view(n, n_out, -1)
        reset = [(module.W_enc, (layer, dead)), (module.b_enc, (layer, dead)), (w_dec, (dead,))]
        if module.threshold is not None:
            module.threshold[layer, dead] = module.config.jumprelu_init_threshold
            reset.append((module.threshold, (layer, dead)))
        _reset_moments(opt, reset)
        since_fired[layer, dead] = 0
        total += n
    return total


def _reset_moments(opt: torch.optim.Optimizer, targets: list[tuple[torch.Tensor, tuple]]) -> None:
    for param, index in targets:
        state = opt.state.get(param, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in state:
                state[key][index] = 0.0


def _load_inputs(model_dir: str | Path, corpus: str | Path, config: TrainConfig, device: Any,
                 dtype: Any):
    from atlas.models import load_model

    texts = read_corpus(corpus)  # check the cheap input first
    loaded = load_model(model_dir, device=device, dtype=dtype)
    if loaded.tokenizer is None:
        raise InputError(f"model folder {model_dir} has no tokenizer; save one with the model")
    sequences = tokenize_corpus(loaded.tokenizer, texts, config.ctx_len)
    pad = loaded.tokenizer.pad_token_id
    buffer = ActivationBuffer(loaded, sequences, config.batch_tokens, config.buffer_tokens,
                              config.forward_batch, config.seed, pad_id=pad or 0)
    return loaded, buffer


def _start(module: TrainableTranscoders, opt, buffer: ActivationBuffer, ckpt_dir: Path,
           config: TrainConfig, resume: bool) -> tuple[int, int, int, torch.Tensor]:
    """(step, block, batch_in_block, steps_since_fired) to start from."""
    ckpt = load_checkpoint(ckpt_dir) if resume else None
    if ckpt is None:
        if resume:
            log.warning("no checkpoint in %s; starting from scratch", ckpt_dir)
        x, y = buffer.block(0)
        module.init_from_data(x.to(module.b_enc.device), y.to(module.b_enc.device))
        return 0, 0, 0, torch.zeros(module.n_layers, config.d_transcoder,
                                    device=module.b_enc.device)
    if ckpt.fingerprint != config.training_fingerprint():
        raise InputError(f"checkpoint in {ckpt_dir} was made with different settings "
                         f"({ckpt.config}); pass the same options or run without --resume")
    module.load_state_dict({k[6:]: v for k, v in ckpt.tensors.items() if k.startswith("model.")})
    restore_optimizer(opt, ckpt.tensors)
    log.info("resuming from step %d", ckpt.step)
    since_fired = ckpt.tensors["dead.since_fired"].to(module.b_enc.device)
    return ckpt.step, ckpt.block, ckpt.batch_in_block, since_fired


def _checkpoint(ckpt_dir: Path, module, opt, step: int, cursor: tuple[int, int],
                since_fired: torch.Tensor, config: TrainConfig) -> None:
    tensors = {f"model.{k}": v for k, v in module.state_dict().items()}
    tensors.update(optimizer_tensors(opt))
    tensors["dead.since_fired"] = since_fired
    save_checkpoint(ckpt_dir, Checkpoint(step, cursor[0], cursor[1], config.to_json(),
                                         config.training_fingerprint(), tensors, {}))


def train_transcoders(model_dir: str | Path, corpus: str | Path, out_dir: str | Path,
                      config: TrainConfig, device: Any = None, dtype: Any = None,
                      resume: bool = False, progress: Progress | None = None) -> TrainReport:
    """Train transcoders for the model in `model_dir` on `corpus`; write them to `out_dir`.

    `out_dir` receives the circuit-tracer layout (config.yaml, layer_{i}.safetensors or the CLT
    files), `training_report.json`, and `checkpoints/` (used by `resume=True`).
    """
    started = time.perf_counter()
    loaded, buffer = _load_inputs(model_dir, corpus, config, device, dtype)
    out = Path(out_dir)
    ckpt_dir = out / CHECKPOINT_DIR
    module = TrainableTranscoders(config, loaded.n_layers, loaded.d_model).to(loaded.device)
    opt = _optimizer(module, config)
    step, block, index, since_fired = _start(module, opt, buffer, ckpt_dir, config, resume)
    resumed_from = step if resume and step > 0 else None
    stream = buffer.batches(block, index)
    cursor = (block, index)
    while step < config.steps:
        block, index, batch = next(stream)
        batch = Batch(batch.mlp_in.to(loaded.device), batch.mlp_out.to(loaded.device))
        cursor = (block, index + 1)
        for group in opt.param_groups:
            group["lr"] = _lr(step, config) * group["lr_scale"]
        result = module(*module.normalise(batch.mlp_in, batch.mlp_out),
                        dead=since_fired > config.dead_after)
        opt.zero_grad(set_to_none=True)
        result["loss"].backward()
        opt.step()
        step += 1
        fired = (result["acts"] > 0).any(0)                            # [n_layers d_tc]
        since_fired = torch.where(fired, torch.zeros_like(since_fired), since_fired + 1)
        if config.resample_every and step % config.resample_every == 0 and step < config.steps:
            n = _resample(module, opt, batch, since_fired, config.dead_after)
            if n:
                log.info("step %d: resampled %d dead features", step, n)
        if config.checkpoint_every and step % config.checkpoint_every == 0:
            _checkpoint(ckpt_dir, module, opt, step, cursor, since_fired, config)
        if progress is not None:
            progress(step, config.steps, {"loss": result["loss"].item(),
                                          "fve": float(result["fve"].mean()),
                                          "l0": float(result["l0"].mean())})
    _checkpoint(ckpt_dir, module, opt, step, cursor, since_fired, config)
    report = _evaluate(module, buffer, cursor[0] + 1, since_fired, config, step, started,
                       resumed_from)
    _export(module, out, report)
    return report


@torch.no_grad()
def _evaluate(module, buffer: ActivationBuffer, block: int, since_fired: torch.Tensor,
              config: TrainConfig, step: int, started: float,
              resumed_from: int | None) -> TrainReport:
    x, y = buffer.block(block)
    device = module.b_enc.device
    result = module(*module.normalise(x.to(device), y.to(device)))
    mse_raw = result["mse"] * module.out_scale.pow(2)
    dead = (since_fired > config.dead_after).float().mean(1)
    return TrainReport(steps=step, tokens=step * config.batch_tokens,
                       fve=result["fve"].tolist(), l0=result["l0"].tolist(),
                       mse=mse_raw.tolist(), dead_fraction=dead.tolist(), eval_tokens=len(x),
                       seconds=round(time.perf_counter() - started, 2),
                       resumed_from=resumed_from, config=config.to_json())


_LAYOUT_GLOBS = ("config.yaml", "layer_*.safetensors", "W_enc_*.safetensors",
                 "W_dec_*.safetensors")


def _export(module: TrainableTranscoders, out: Path, report: TrainReport) -> None:
    """Write the transcoders (circuit-tracer layout) and the report into `out`."""
    from atlas.transcoders import save_transcoders

    staging = save_transcoders(module.export(scan=out.resolve().name), out / ".export")
    for pattern in _LAYOUT_GLOBS:  # files of an earlier run of another kind
        for stale in out.glob(pattern):
            stale.unlink()
    for file in sorted(staging.iterdir()):
        os.replace(file, out / file.name)
    staging.rmdir()
    tmp = out / f".{REPORT_FILE}.tmp"
    tmp.write_text(json.dumps({**asdict(report), "mean_fve": report.mean_fve,
                               "mean_l0": report.mean_l0}, indent=2) + "\n")
    os.replace(tmp, out / REPORT_FILE)
