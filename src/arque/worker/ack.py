"""Acknowledging: successful tasks of one queue are released in batches.

A busy worker finishes many tasks per loop tick; one ``release_many`` per
batch keeps it at about two round trips per batch (fetch, ack) instead of per
task. An ack waits at most a few milliseconds for others to join it. When
Redis is unavailable the ids are kept and released when it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..errors import RedisUnavailable
from ..queue import Arque
from .outage import Outage
from .state import Record

__all__ = ["Acker"]

logger = logging.getLogger("arque.worker")

# How long the first ack of a batch waits for others to join it.
WINDOW = 0.002


class Acker:
    """The release loop of one queue; ``done(record, applied)`` follows each release."""

    def __init__(self, queue: Arque, batch: int, done: Callable[[Record, bool], None],
                 on_error: Callable[[], None] | None = None) -> None:
        self._queue = queue
        self._batch = batch
        self._done = done
        self._on_error = on_error or (lambda: None)
        self._pending: list[Record] = []
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._outage = Outage(f"release on {queue.queue!r}", logger)
        self._hurry = False

    def __len__(self) -> int:
        return len(self._pending)

    def ack(self, record: Record) -> None:
        """Queue the release of a task whose handler succeeded."""
        self._pending.append(record)
        self._wake.set()
        if len(self._pending) >= self._batch:
            self._full.set()

    def hurry(self) -> None:
        """Flush at once from now on (shutting down)."""
        self._hurry = True
        self._full.set()

    async def run(self) -> None:
        """Release batches until cancelled."""
        while True:
            await self._wake.wait()
            if not self._hurry and len(self._pending) < self._batch:
                try:
                    await asyncio.wait_for(self._full.wait(), WINDOW)
                except asyncio.TimeoutError:
                    pass
            await self.flush_once()

    async def flush_once(self) -> None:
        """Release one batch; on an outage keep it and wait before the next try."""
        batch = self._pending[: self._batch]
        if not batch:
            self._wake.clear()
            return
        try:
            applied = await self._queue.release_many([r.task_id for r in batch])
        except RedisUnavailable as exc:
            self._on_error()
            await asyncio.sleep(self._outage.failed(exc))
            return
        self._outage.ok()
        del self._pending[: len(batch)]
        if not self._pending:
            self._wake.clear()
        if len(self._pending) < self._batch and not self._hurry:
            self._full.clear()
        for record, ok in zip(batch, applied):
            self._done(record, ok)

    async def drain(self, deadline: float) -> bool:
        """Let ``run`` release everything left, until ``deadline`` (loop time); True if all went."""
        self.hurry()
        loop = asyncio.get_running_loop()
        while self._pending and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return not self._pending
