"""Sweeping: every worker runs the queue's safety net now and then.

``Arque.sweep`` is atomic and bounded, so many workers sweeping the same
queue do no harm; the jitter keeps them from sweeping in step. A sweep that
fails (a lost connection, any error reply) is tried again after a backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random

from ..queue import Arque
from .outage import FAILURES, Episodes, Outage
from .state import Counters

__all__ = ["Sweeper"]

logger = logging.getLogger("arque.worker")


class Sweeper:
    """Sweeps one queue every ``interval`` seconds (±20 % jitter) until cancelled."""

    def __init__(self, queue: Arque, interval: float, counters: Counters,
                 episodes: Episodes) -> None:
        self._queue = queue
        self._interval = interval
        self._counters = counters
        self._rng = random.Random()
        self._outage = Outage(f"sweep of {queue.queue!r}", logger, episodes=episodes)

    async def run(self) -> None:
        """Sweep until cancelled (an unexpected exception ends it: the launcher restarts it)."""
        # The first sweep comes early (a restarted worker recovers its own
        # expired leases soon), at a random point so a fleet does not sweep at once.
        await asyncio.sleep(self._rng.uniform(0.0, min(self._interval, 1.0)))
        while True:
            try:
                moved = await self._queue.sweep()
            except FAILURES as exc:
                await asyncio.sleep(min(self._outage.failed(exc), self._interval))
                continue
            self._outage.ok()
            self._counters.sweeps += 1
            self._counters.recovered += moved
            if moved:
                logger.info("sweep of %r: %d tasks back to pending", self._queue.queue, moved)
            await asyncio.sleep(self._interval * self._rng.uniform(0.8, 1.2))
