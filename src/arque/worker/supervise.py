"""Supervision: no loop of a worker dies quietly.

Every background loop (fetch, release, sweep, the time-limit watchdog) runs
under a ``Supervisor``. Redis failures never reach it: each loop rides them
out itself (``outage.py``). What does reach it is a surprise, a bug: the loop
raised. The supervisor logs it with its traceback and starts the loop again
after a short, jittered pause. A loop that keeps failing (more than
``MAX_RESTARTS`` times within ``WINDOW`` seconds) cannot be restarted: the
supervisor calls ``fatal(reason)`` and the worker shuts down and exits
non-zero, so that an orchestrator starts a fresh one, never leaving a process
that is alive and idle.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from .state import Counters

__all__ = ["MAX_RESTARTS", "WINDOW", "Supervisor"]

logger = logging.getLogger("arque.worker")

MAX_RESTARTS = 5
"""Restarts of one loop within ``WINDOW`` seconds before the worker gives up."""
WINDOW = 60.0
_PAUSE = 0.5
_WATCH_EVERY = 1.0


class Supervisor:
    """Runs loops, restarting each after an unexpected exception (see the module)."""

    def __init__(self, name: str, counters: Counters, fatal: Callable[[str], None]) -> None:
        self._name = name
        self._counters = counters
        self._fatal = fatal
        self._rng = random.Random()
        self.tasks: list[asyncio.Task[None]] = []

    def spawn(self, what: str, loop: Callable[[], Awaitable[Any]]) -> asyncio.Task[None]:
        """Run ``loop()`` (again after each crash) in a task until it returns or is cancelled."""
        task = asyncio.ensure_future(self._keep(what, loop))
        self.tasks.append(task)
        return task

    async def _keep(self, what: str, loop: Callable[[], Awaitable[Any]]) -> None:
        crashes: deque[float] = deque()
        while True:
            try:
                await loop()
                return
            except Exception:
                now = time.monotonic()
                crashes.append(now)
                while crashes and crashes[0] < now - WINDOW:
                    crashes.popleft()
                if len(crashes) > MAX_RESTARTS:
                    logger.critical("worker %s: %s failed %d times within %g s; giving up",
                                    self._name, what, len(crashes), WINDOW, exc_info=True)
                    self._fatal(f"{what} keeps failing")
                    return
                logger.exception("worker %s: %s failed unexpectedly; restarting it", self._name,
                                 what)
                self._counters.restarts += 1
            await asyncio.sleep(_PAUSE * self._rng.uniform(0.5, 1.5))

    def report(self, run: asyncio.Task[Any]) -> None:
        """Done-callback of a one-off task (a task's run): log its unexpected exception."""
        if not run.cancelled() and run.exception() is not None:
            logger.error("worker %s: a task run failed unexpectedly; its lease will bring the "
                         "task back", self._name, exc_info=run.exception())

    async def watch(self, what: str, alive: Callable[[], bool]) -> None:
        """Give up when ``alive()`` turns false: for a piece that cannot be restarted (a thread)."""
        while alive():
            await asyncio.sleep(_WATCH_EVERY)
        self._fatal(f"{what} died")
