"""Logit targets: which output tokens get logit nodes, their probabilities and injected vectors."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from atlas.errors import InputError


@dataclass
class LogitTargets:
    """Logit nodes of a graph."""

    token_ids: torch.Tensor
    """Vocabulary ids [n_logits]."""
    probabilities: torch.Tensor
    """Softmax probabilities at the last position [n_logits]."""
    vectors: torch.Tensor
    """Demeaned unembedding columns W_U[:, t] - mean_j W_U[:, j]  [n_logits d_model]."""

    def __len__(self) -> int:
        return int(self.token_ids.shape[0])


def select_targets(logits: torch.Tensor, W_U: torch.Tensor, max_n_logits: int = 10,
                   desired_logit_prob: float = 0.95,
                   token_ids: list[int] | None = None) -> LogitTargets:
    """circuit-tracer's salient logits: the top `max_n_logits` by probability, up to and
    including the one where the cumulative probability reaches `desired_logit_prob`; or the
    given `token_ids`. logits [vocab] (last position); W_U [d_model vocab]."""
    probs = torch.softmax(logits.float(), dim=-1)
    vocab = probs.shape[0]
    if token_ids is not None:
        ids = torch.tensor(list(token_ids), dtype=torch.long, device=logits.device)
        if ids.numel() == 0 or (ids < 0).any() or (ids >= vocab).any():
            raise InputError(f"target token ids {list(token_ids)} must be in [0, {vocab}); "
                             "pass valid ids")
    else:
        if max_n_logits < 1:
            raise InputError(f"max_n_logits={max_n_logits}; use 1 or more")
        top_p, top_idx = torch.topk(probs, min(max_n_logits, vocab))
        cutoff = int(torch.searchsorted(torch.cumsum(top_p, 0), desired_logit_prob)) + 1
        ids = top_idx[:cutoff]
    demean = W_U.mean(dim=-1, keepdim=True)
    vectors = (W_U[:, ids] - demean).T
    return LogitTargets(ids, probs[ids], vectors)
