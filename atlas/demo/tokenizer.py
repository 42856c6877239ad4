"""The demo's word-level tokenizer: one token per whitespace-separated word, HF-loadable."""

from __future__ import annotations

from typing import Sequence


def build_tokenizer(vocab: Sequence[str]):
    """A PreTrainedTokenizerFast over `vocab` (ids in list order) with <bos>/<eos>/<pad>/<unk>.

    `vocab` must contain the four special tokens; save it with `save_pretrained(folder)` and
    reload with `AutoTokenizer.from_pretrained(folder)`.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    ids = {word: i for i, word in enumerate(vocab)}
    tok = Tokenizer(models.WordLevel(vocab=ids, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>")
