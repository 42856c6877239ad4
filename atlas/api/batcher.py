"""Coalescing concurrent lookups: threads that miss at the same time share one batched fetch.

A DuckDB statement costs about the same for one feature as for twenty (binding and planning
dominate), so when 20 clients each miss a different card, fetching them one by one queues 20
fetches while fetching them together costs about one. A thread asking for a key joins the
pending set; whenever fewer than `slots` fetches are running, a waiting thread takes up to
`max_batch` pending keys, fetches them, hands each waiter its result and wakes the others.
Nothing is cached here: each call still reads the store (the card cache sits in front).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Callable, Generic, Hashable, Mapping, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Batcher(Generic[K, V]):
    """Calls `fetch(keys) -> {key: value}` on batches of the keys concurrent `get`s ask for.

    A key missing from fetch's answer, or an exception raised by fetch, is raised by `get` to
    each caller of the keys concerned.
    """

    def __init__(self, fetch: Callable[[list[K]], Mapping[K, V]], max_batch: int = 64,
                 slots: int = 1):
        self._fetch = fetch
        self.max_batch = max_batch
        self._slots = slots
        self._cond = threading.Condition()
        self._pending: dict[K, Future] = {}
        self._running = 0

    def get(self, key: K) -> V:
        with self._cond:
            future = self._pending.get(key)
            if future is None:
                future = self._pending[key] = Future()
            while not future.done():
                if self._running < self._slots and self._pending:
                    self._run_one_batch()
                else:
                    self._cond.wait()
        return future.result()

    def _run_one_batch(self) -> None:
        """Take a batch off the pending set and fetch it (called holding the condition)."""
        keys = list(self._pending)[:self.max_batch]
        batch = {k: self._pending.pop(k) for k in keys}
        self._running += 1
        self._cond.release()
        try:
            _resolve(batch, self._fetch)
        finally:
            self._cond.acquire()
            self._running -= 1
            self._cond.notify_all()


def _resolve(batch: dict[K, Future], fetch: Callable[[list[K]], Mapping[K, V]]) -> None:
    try:
        values = fetch(list(batch))
    except BaseException as e:  # noqa: BLE001 - handed to every waiter of the batch
        for future in batch.values():
            future.set_exception(e)
        if not isinstance(e, Exception):
            raise
        return
    for key, future in batch.items():
        if key in values:
            future.set_result(values[key])
        else:
            future.set_exception(KeyError(key))
