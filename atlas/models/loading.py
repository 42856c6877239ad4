"""Load a local HF causal LM, tokenize prompts as circuit-tracer does, capture MLP in/outputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from atlas.devices import resolve_device, resolve_dtype
from atlas.errors import InputError
from atlas.models.adapters import ModelAdapter, get_adapter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """An HF causal LM in eval mode with its tokenizer and architecture adapter."""

    model: Any
    """The transformers PreTrainedModel (eval mode, no gradients on parameters)."""
    tokenizer: Any
    """Its tokenizer (None when the folder holds no tokenizer files)."""
    adapter: ModelAdapter
    """Module access for this architecture."""
    device: torch.device
    """Where the weights live."""
    dtype: torch.dtype
    """The weights' dtype."""

    @property
    def n_layers(self) -> int:
        return self.adapter.n_layers

    @property
    def d_model(self) -> int:
        return self.adapter.d_model


def load_model(path: str | Path, device: Any = None, dtype: Any = None) -> LoadedModel:
    """Load the causal LM saved (save_pretrained) in folder `path` onto `device` in `dtype`.

    device: None (CPU), "cpu", "cuda", "cuda:N" or "auto"; dtype: None (fp32), "fp32", "bf16"...
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise InputError(f"no model at {folder}: config.json missing; "
                         "pass a folder written by save_pretrained")
    torch_device, torch_dtype = resolve_device(device), resolve_dtype(dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype,
                                                     attn_implementation="eager")
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"cannot load model from {folder}: {e}; check the folder") from e
    model.to(torch_device).eval().requires_grad_(False)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError, TypeError) as e:
        log.warning("no tokenizer loaded from %s (%s)", folder, e)
        tokenizer = None
    return LoadedModel(model, tokenizer, get_adapter(model), torch_device, torch_dtype)


def wrap_model(hf_model: Any, tokenizer: Any = None) -> LoadedModel:
    """A LoadedModel around an already built HF model (tests, notebooks)."""
    hf_model.eval().requires_grad_(False)
    param = next(hf_model.parameters())
    return LoadedModel(hf_model, tokenizer, get_adapter(hf_model), param.device, param.dtype)


def bos_id(tokenizer: Any) -> int | None:
    """circuit-tracer's BOS: the first truthy id among bos, pad, eos, then other special ids."""
    candidates = [getattr(tokenizer, name, None)
                  for name in ("bos_token_id", "pad_token_id", "eos_token_id")]
    candidates += list(getattr(tokenizer, "all_special_ids", []) or [])
    return next((int(c) for c in candidates if c), None)


def encode_prompt(tokenizer: Any, prompt: str | list[int] | torch.Tensor) -> torch.Tensor:
    """Token ids [pos] as circuit-tracer makes them: text is tokenized without special tokens;
    then, unless the first id is already a special token, the BOS (`bos_id`) is prepended."""
    if isinstance(prompt, torch.Tensor):
        ids = prompt.flatten().long().tolist()
    elif isinstance(prompt, (list, tuple)):
        ids = [int(i) for i in prompt]
    elif tokenizer is None:
        raise InputError("a text prompt needs a tokenizer; save one with the model or pass ids")
    else:
        ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    special = set(getattr(tokenizer, "all_special_ids", []) or []) if tokenizer else set()
    if not ids or ids[0] not in special:
        bos = bos_id(tokenizer) if tokenizer is not None else None
        if bos is not None:
            ids = [bos, *ids]
    if len(ids) < 2 and not isinstance(prompt, (list, tuple, torch.Tensor)):
        raise InputError("the prompt is empty after tokenization; pass a non-empty prompt")
    return torch.tensor(ids, dtype=torch.long)


@torch.no_grad()
def capture_mlp_io(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                   layers: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MLP inputs and outputs of every (or the given) layer for one forward pass.

    model: a LoadedModel or an HF causal LM; input_ids, attention_mask: [batch pos].
    Returns (mlp_in, mlp_out), each [n_layers batch pos d_model] in the model's dtype:
    mlp_in is the output of the pre-MLP norm (TransformerLens `mlp.hook_in`), mlp_out is what
    the block adds to the residual stream (`hook_mlp_out`; for Gemma-2 after its post-MLP norm).
    """
    adapter = model.adapter if isinstance(model, LoadedModel) else get_adapter(model)
    hf_model = adapter.model
    chosen = list(range(adapter.n_layers)) if layers is None else list(layers)
    ins: dict[int, torch.Tensor] = {}
    outs: dict[int, torch.Tensor] = {}

    def saver(store: dict[int, torch.Tensor], layer: int):
        def hook(_module, _inputs, output):
            store[layer] = output[0] if isinstance(output, tuple) else output
        return hook

    handles = []
    try:
        for layer in chosen:
            handles.append(adapter.pre_mlp_norm(layer).register_forward_hook(saver(ins, layer)))
            handles.append(adapter.mlp_out_module(layer).register_forward_hook(saver(outs, layer)))
        device = next(hf_model.parameters()).device
        hf_model(input_ids=input_ids.to(device),
                 attention_mask=None if attention_mask is None else attention_mask.to(device),
                 use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    return (torch.stack([ins[layer] for layer in chosen]),
            torch.stack([outs[layer] for layer in chosen]))
