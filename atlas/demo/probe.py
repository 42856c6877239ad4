"""Ground-truth check of the planted structure: which transcoder features stand for each state.

For every two-hop prompt ("the capital of the state containing X is"), the activation of each
feature is read at the city token and at the last position (where the answer is computed). A
feature stands for state S when it fires on the prompts whose intermediate is S and not on the
others; we score it by F1 over all two-hop prompts and report the best (feature, position) per
state. This uses only the model,
the transcoders and planted.json, not attribution graphs, so it can check what the atlas finds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from atlas.demo.planted import load_planted, load_prompts


@dataclass(frozen=True)
class StateFeature:
    """The feature that best separates one state's two-hop prompts from the rest."""

    state: str
    """The intermediate entity (never named in the prompts)."""
    position: str
    """Where it was read: "city" (the subject token) or "last" (the final token)."""
    layer: int
    """Transcoder layer of the feature."""
    feature: int
    """Feature index within the layer."""
    f1: float
    """F1 of "feature active" as a detector of "the prompt's intermediate is `state`"."""
    mean_activation: float
    """Mean activation on the state's prompts."""
    one_hop_f1: float
    """F1 of the same feature, at the same kind of position, on the one-hop prompts "X is in"
    (answer: the state). On two-hop
    prompts alone a state feature and a capital feature are indistinguishable (one capital per
    state); firing on one-hop state prompts too is evidence for the state reading."""


@torch.no_grad()
def position_activations(loaded: Any, tset: Any, prompts: list[str],
                         subjects: list[str]) -> dict[str, torch.Tensor]:
    """{"city", "last"} -> [n_prompts n_layers d_transcoder] activations at the subject token
    (its last occurrence) and at the last token of each prompt."""
    from atlas.models import capture_mlp_io, encode_prompt

    rows: dict[str, list[torch.Tensor]] = {"city": [], "last": []}
    for prompt, subject in zip(prompts, subjects):
        ids = encode_prompt(loaded.tokenizer, prompt)
        words = ["<bos>", *prompt.split()]
        city = len(words) - 1 - words[::-1].index(subject)
        mlp_in, _ = capture_mlp_io(loaded, ids[None])
        for name, pos in (("city", city), ("last", len(words) - 1)):
            rows[name].append(torch.stack([tset.encode(layer, mlp_in[layer, 0, pos])
                                           for layer in range(tset.n_layers)]))
    return {name: torch.stack(values) for name, values in rows.items()}


def _f1(active: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """F1 per feature; active [n_prompts n_features] bool, truth [n_prompts] bool."""
    tp = (active & truth[:, None]).sum(0).float()
    precision = tp / active.sum(0).clamp_min(1)
    recall = tp / truth.sum().clamp_min(1)
    return 2 * precision * recall / (precision + recall).clamp_min(1e-12)


def state_features(model_dir: str | Path, transcoder_dir: str | Path,
                   device: Any = None) -> list[StateFeature]:
    """The best feature per planted state (see the module docstring), sorted by state."""
    from atlas.models import load_model
    from atlas.transcoders import load_transcoders

    planted = load_planted(model_dir)
    records = load_prompts(model_dir, task="two_hop")
    loaded = load_model(model_dir, device=device)
    tset = load_transcoders(transcoder_dir, device=device)
    two_hop = position_activations(loaded, tset, [r.prompt for r in records],
                                   [r.subject for r in records])
    one_hop_records = load_prompts(model_dir, task="one_hop_state")
    one_hop = position_activations(loaded, tset, [r.prompt for r in one_hop_records],
                                   [r.subject for r in one_hop_records])
    states = [r.intermediate for r in records]
    out = []
    for state in sorted(planted.two_hop.second_hop):
        truth = torch.tensor([s == state for s in states])
        one_hop_truth = torch.tensor([r.answer == state for r in one_hop_records])
        candidates = []
        for position in ("city", "last"):
            scores = _f1(two_hop[position].flatten(1) > 0, truth)
            best = int(scores.argmax())
            candidates.append((float(scores[best]), position, best))
        f1, position, best = max(candidates)
        layer, feature = divmod(best, tset.d_transcoder)
        one_hop_active = one_hop[position].flatten(1)[:, best:best + 1] > 0
        out.append(StateFeature(state, position, layer, feature, f1,
                                float(two_hop[position][truth, layer, feature].mean()),
                                float(_f1(one_hop_active, one_hop_truth)[0])))
    return out
