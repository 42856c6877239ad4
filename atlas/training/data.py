"""Training data for transcoders: corpus files and a deterministic block-shuffled activation buffer.

The buffer is a pure function of (seed, block index): block b runs the model over the next
`docs_per_block` documents of a seeded, epoch-wise permuted document stream, keeps every
non-padding position except BOS (circuit-tracer zeroes features there), and shuffles those
tokens with a generator seeded by (seed, b). A trainer resuming at (block, batch) rebuilds the
same block and skips the batches already used, so resumed runs see exactly the same data.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from atlas.errors import InputError

log = logging.getLogger(__name__)


def read_corpus(path: str | Path) -> list[str]:
    """Texts of a corpus file: JSONL with a "text" field per line, or plain text lines."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"corpus file {file} not found; pass --corpus with a JSONL or text file")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read corpus {file}: {e}; pass a UTF-8 text file") from e
    texts = [_line_text(line, file, n) for n, line in enumerate(lines, 1) if line.strip()]
    if not texts:
        raise InputError(f"corpus file {file} holds no text; add one document per line")
    return texts


def _line_text(line: str, file: Path, number: int) -> str:
    if not line.lstrip().startswith("{"):
        return line
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"{file}:{number}: invalid JSON ({e.msg}); one JSON object per line") \
            from e
    if not isinstance(record.get("text"), str):
        raise InputError(f"{file}:{number}: JSON line without a string \"text\" field; add one")
    return record["text"]


def tokenize_corpus(tokenizer: Any, texts: list[str], ctx_len: int) -> list[list[int]]:
    """Token id lists, each BOS + up to ctx_len-1 tokens (long documents become several)."""
    from atlas.models import bos_id

    bos = bos_id(tokenizer)
    chunk = ctx_len - (bos is not None)
    out = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        for start in range(0, len(ids), chunk):
            piece = ids[start:start + chunk]
            out.append(([bos] if bos is not None else []) + piece)
    if not out:
        raise InputError("the corpus tokenizes to nothing; check the tokenizer and the texts")
    return out


@dataclass(frozen=True)
class Batch:
    """One optimizer step's activations."""

    mlp_in: torch.Tensor
    """[batch n_layers d_model] transcoder inputs (pre-MLP norm outputs)."""
    mlp_out: torch.Tensor
    """[batch n_layers d_model] targets (MLP outputs)."""


class ActivationBuffer:
    """Deterministic stream of shuffled MLP input/output batches over a tokenized corpus."""

    def __init__(self, model: Any, sequences: list[list[int]], batch_tokens: int,
                 buffer_tokens: int, forward_batch: int, seed: int, pad_id: int = 0):
        self.model, self.sequences = model, sequences
        self.batch_tokens, self.forward_batch, self.seed = batch_tokens, forward_batch, seed
        self.pad_id = pad_id
        useful = sum(max(0, len(s) - 1) for s in sequences[:2000]) / min(len(sequences), 2000)
        if useful <= 0:
            raise InputError("corpus documents are a single token each; nothing to train on")
        self.docs_per_block = max(1, int(buffer_tokens / useful))
        self._order_epoch: int | None = None
        self._order = torch.empty(0, dtype=torch.long)

    def _doc_order(self, epoch: int) -> torch.Tensor:
        """The seeded permutation of documents in `epoch` (the last one is cached)."""
        if self._order_epoch != epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = torch.randperm(len(self.sequences), generator=gen)
            self._order_epoch = epoch
        return self._order

    def _block_docs(self, block: int) -> list[list[int]]:
        """Documents block*docs_per_block ... of the endless stream of epoch permutations."""
        start, n = block * self.docs_per_block, len(self.sequences)
        docs = []
        for i in range(start, start + self.docs_per_block):
            epoch, offset = divmod(i, n)
            docs.append(self.sequences[int(self._doc_order(epoch)[offset])])
        return docs

    @torch.no_grad()
    def _capture(self, docs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """[tokens n_layers d_model] inputs and outputs of all non-BOS, non-pad positions."""
        from atlas.models import capture_mlp_io

        ins, outs = [], []
        for start in range(0, len(docs), self.forward_batch):
            group = docs[start:start + self.forward_batch]
            width = max(len(d) for d in group)
            ids = torch.full((len(group), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(group), width), dtype=torch.long)
            for row, doc in enumerate(group):
                ids[row, :len(doc)] = torch.tensor(doc)
                mask[row, :len(doc)] = 1
            mlp_in, mlp_out = capture_mlp_io(self.model, ids, mask)
            keep = mask.bool().clone()
            keep[:, 0] = False
            keep = keep.to(mlp_in.device)
            ins.append(mlp_in[:, keep].transpose(0, 1).float().cpu())
            outs.append(mlp_out[:, keep].transpose(0, 1).float().cpu())
        return torch.cat(ins), torch.cat(outs)

    def block(self, block: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Shuffled [tokens n_layers d_model] inputs and outputs of block `block`."""
        mlp_in, mlp_out = self._capture(self._block_docs(block))
        gen = torch.Generator().manual_seed(self.seed * 7_919 + block + 1)
        perm = torch.randperm(len(mlp_in), generator=gen)
        return mlp_in[perm], mlp_out[perm]

    def batches(self, block: int = 0, skip: int = 0) -> Iterator[tuple[int, int, Batch]]:
        """Endless (block, index-in-block, Batch) from `block`, skipping its first `skip`."""
        while True:
            mlp_in, mlp_out = self.block(block)
            n_batches = len(mlp_in) // self.batch_tokens
            if n_batches == 0:
                raise InputError(f"a buffer block holds {len(mlp_in)} tokens, fewer than "
                                 f"batch_tokens={self.batch_tokens}; raise buffer_tokens")
            for index in range(skip, n_batches):
                sl = slice(index * self.batch_tokens, (index + 1) * self.batch_tokens)
                yield block, index, Batch(mlp_in[sl], mlp_out[sl])
            block, skip = block + 1, 0
