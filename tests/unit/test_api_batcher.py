"""The API's lookup batcher: concurrent gets share fetches, results and errors reach the callers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from atlas.api.batcher import Batcher


def test_concurrent_gets_are_fetched_together_and_each_gets_its_value() -> None:
    calls: list[list[int]] = []
    gate = threading.Event()

    def fetch(keys: list[int]) -> dict[int, int]:
        calls.append(list(keys))
        gate.wait(5)  # the first fetch holds the slot while the others queue up
        return {k: k * k for k in keys if k != 13}

    batcher: Batcher[int, int] = Batcher(fetch, max_batch=8, slots=1)
    keys = list(range(20)) + [3, 3, 7]
    with ThreadPoolExecutor(len(keys)) as pool:
        futures = [pool.submit(batcher.get, k) for k in keys]
        while sum(len(c) for c in calls) == 0:
            gate.wait(0.01)
        gate.set()
        results = [(k, f.exception() or f.result()) for k, f in zip(keys, futures)]
    for key, got in results:
        assert isinstance(got, KeyError) if key == 13 else got == key * key, (key, got)
    fetched = [k for c in calls for k in c]
    assert sorted(fetched) == sorted(set(fetched)) == list(range(20))  # each key fetched once
    assert all(len(c) <= 8 for c in calls) and len(calls) < len(keys)  # batched, bounded


def test_a_failing_fetch_raises_in_every_caller_and_the_batcher_recovers() -> None:
    def fetch(keys: list[str]) -> dict[str, str]:
        if "bad" in keys:
            raise ValueError("store down")
        return {k: k.upper() for k in keys}

    batcher: Batcher[str, str] = Batcher(fetch)
    with pytest.raises(ValueError, match="store down"):
        batcher.get("bad")
    assert batcher.get("ok") == "OK"
