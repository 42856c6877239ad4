"""Training checkpoints: parameters, optimizer moments and dead-feature counters in safetensors,
the step counter, data cursor and config in JSON. Both are written atomically; the JSON (which
names its tensor file) is written last, so it always points at a complete tensor file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from atlas.errors import InputError

STATE_FILE = "state.json"


@dataclass(frozen=True)
class Checkpoint:
    """What a run needs to continue exactly where it stopped."""

    step: int
    """Optimizer steps done."""
    block: int
    """Activation-buffer block of the next batch."""
    batch_in_block: int
    """Index of the next batch within that block."""
    config: dict
    """TrainConfig fields of the run."""
    fingerprint: str
    """TrainConfig.training_fingerprint() of the run (resume refuses a different one)."""
    tensors: dict[str, torch.Tensor]
    """model.* parameters and buffers, optim.* Adam state, dead.steps_since_fired."""
    extra: dict
    """JSON metadata (model folder, corpus path, running metrics)."""


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def save_checkpoint(folder: Path, ckpt: Checkpoint) -> Path:
    """Write `ckpt` into `folder` (tensors, then state.json); remove older tensor files."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step_{ckpt.step:08d}.safetensors"
    tmp = folder / f".{name}.tmp"
    save_file({k: v.detach().cpu().contiguous() for k, v in ckpt.tensors.items()}, str(tmp))
    os.replace(tmp, folder / name)
    _atomic_json(folder / STATE_FILE, {
        "step": ckpt.step, "block": ckpt.block, "batch_in_block": ckpt.batch_in_block,
        "tensors": name, "config": ckpt.config, "fingerprint": ckpt.fingerprint,
        "extra": ckpt.extra})
    for old in folder.glob("step_*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return folder / name


def load_checkpoint(folder: Path) -> Checkpoint | None:
    """The checkpoint in `folder`, or None when there is none."""
    state_path = folder / STATE_FILE
    if not state_path.is_file():
        return None
    try:
        state = json.loads(state_path.read_text())
        tensors = load_file(str(folder / state["tensors"]))
    except (OSError, json.JSONDecodeError, KeyError, SafetensorError) as e:
        raise InputError(f"checkpoint in {folder} is unreadable ({e}); delete it or run "
                         "without --resume") from e
    return Checkpoint(state["step"], state["block"], state["batch_in_block"], state["config"],
                      state["fingerprint"], tensors, state.get("extra", {}))


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Adam state as flat tensors: optim.{param index}.{step|exp_avg|exp_avg_sq}."""
    out = {}
    for index, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            out[f"optim.{index}.{key}"] = torch.as_tensor(value).clone()
    return out


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    """Load Adam state written by `optimizer_tensors` into `opt`."""
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    sd["state"] = state
    opt.load_state_dict(sd)
