"""Scheduling: every worker fires the due schedules of its queues.

Any number of workers may run this loop on one queue: ``schedule_fire.lua``
enqueues each run once (compare-and-set on the schedule's version and run),
so there is no elected firer whose death could lose runs. The loop sleeps
until the earliest next run, at most ``CHECK`` seconds, so a schedule added
or changed meanwhile is seen that soon. A call that fails because of Redis
(a lost connection, any error reply) is tried again after a backoff; any
other error (a schedule this worker cannot read) is logged and the loop goes
on, so one bad schedule does not stop the others or the worker.
"""

from __future__ import annotations

import asyncio
import logging

from ..queue import Arque
from .outage import FAILURES, Episodes, Outage

__all__ = ["CHECK", "Firer"]

logger = logging.getLogger("arque.worker")

CHECK = 1.0
"""The longest the loop sleeps between two reads of the schedules."""


class Firer:
    """Fires the due schedules of one queue until cancelled."""

    def __init__(self, queue: Arque, episodes: Episodes) -> None:
        self._queue = queue
        self._outage = Outage(f"schedules of {queue.queue!r}", logger, episodes=episodes)
        self.fired = 0
        """Runs this loop enqueued."""

    async def run(self) -> None:
        """Fire due schedules until cancelled."""
        while True:
            try:
                fired, wait = await self._queue.fire_schedules()
            except FAILURES as exc:
                await asyncio.sleep(self._outage.failed(exc))
                continue
            except Exception:  # the loop must outlive surprises
                logger.exception("firing the schedules of %r failed", self._queue.queue)
                wait = CHECK
            else:
                self._outage.ok()
                self.fired += fired
            await asyncio.sleep(CHECK if wait is None else min(wait, CHECK))
