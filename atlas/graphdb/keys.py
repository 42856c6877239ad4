"""Identity of atlas graph nodes: feature, token and prompt keys, prompt numbers, Cantor ids."""

from __future__ import annotations

import hashlib

from atlas.errors import InputError


def feature_key(transcoder_set: str, layer: int, index: int) -> str:
    """Key of a shared :Feature: `<transcoder_set>:<layer>:<index>`.

    A transcoder set's catalog name belongs to exactly one model, so (transcoder set, layer,
    index) identifies a feature of a model.
    """
    return f"{transcoder_set}:{int(layer)}:{int(index)}"


def parse_feature_key(key: str) -> tuple[str, int, int]:
    """(transcoder_set, layer, index) of a feature key; InputError when it is not one."""
    parts = key.rsplit(":", 2)
    try:
        return parts[0], int(parts[1]), int(parts[2])
    except (IndexError, ValueError) as e:
        raise InputError(f"feature key {key!r} is not <transcoder_set>:<layer>:<index>; "
                         "write it like clt-gpt2:3:120") from e


def token_key(transcoder_set: str, token_id: int) -> str:
    """Key of a shared output :Token; the transcoder set names the model and so its vocabulary."""
    return f"{transcoder_set}:{int(token_id)}"


def prompt_uid(run: str, prompt_id: str) -> str:
    """Key of a :Prompt: prompt ids are unique within a run."""
    return f"{run}/{prompt_id}"


def prompt_number(uid: str) -> int:
    """A 60-bit integer id of a prompt (sha1 prefix), stored in aggregate edges' prompt lists.

    Derived from the uid, so concurrent loaders agree on it without coordination.
    """
    return int(hashlib.sha1(uid.encode()).hexdigest()[:15], 16)


def cantor(layer: int, index: int) -> int:
    """circuit-tracer's feature id: cantor pairing (l + f)(l + f + 1)/2 + f."""
    s = int(layer) + int(index)
    return s * (s + 1) // 2 + int(index)
