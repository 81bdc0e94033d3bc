"""Acknowledging: successful tasks of one queue are released in batches.

A busy worker finishes many tasks per loop tick; one ``release_many`` per
batch keeps it at about two round trips per batch (fetch, ack) instead of per
task. An ack waits at most a few milliseconds for others to join it. When
Redis fails (lost, or any error reply) the ids are kept and released when it
answers again; a task kept longer than ``state.FINISHED_HOLD`` is given up, and its
lease hands it back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ..queue import Arque
from . import state
from .outage import FAILURES, Episodes, Outage
from .state import Record

__all__ = ["Acker"]

logger = logging.getLogger("arque.worker")

# How long the first ack of a batch waits for others to join it.
WINDOW = 0.002


class Acker:
    """The release loop of one queue.

    ``done(record, applied)`` follows each release (``applied`` None: given up).
    """

    def __init__(self, queue: Arque, batch: int, done: Callable[[Record, bool | None], None],
                 episodes: Episodes, on_error: Callable[[], None] | None = None) -> None:
        self._queue = queue
        self._batch = batch
        self._done = done
        self._on_error = on_error or (lambda: None)
        self._pending: list[Record] = []
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._outage = Outage(f"release on {queue.queue!r}", logger, episodes=episodes)
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
        """Release one batch; on a failure keep it and wait before the next try."""
        self._let_go()
        batch = self._pending[: self._batch]
        if not batch:
            self._wake.clear()
            return
        try:
            ids = [r.task_id for r in batch]
            if self._queue.result_ttl > 0:
                applied = await self._queue.release_many(ids, [r.result for r in batch])
            else:
                applied = await self._queue.release_many(ids)
        except FAILURES as exc:
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

    def _let_go(self) -> None:
        """Give up the releases kept past ``state.FINISHED_HOLD``: their leases hand them back."""
        now = time.monotonic()
        if not self._pending or self._pending[0].held(now):
            return  # the oldest first: nothing to give up
        gone = [r for r in self._pending if not r.held(now)]
        self._pending = [r for r in self._pending if r.held(now)]
        logger.error("release on %r: Redis refused the release of %d finished tasks for %g s; "
                     "giving them up, their leases hand them back (they will run again)",
                     self._queue.queue, len(gone), state.FINISHED_HOLD)
        for record in gone:
            self._done(record, None)
        if not self._pending:
            self._outage.close()

    async def drain(self, deadline: float) -> bool:
        """Let ``run`` release everything left, until ``deadline`` (loop time); True if all went."""
        self.hurry()
        loop = asyncio.get_running_loop()
        while self._pending and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return not self._pending
