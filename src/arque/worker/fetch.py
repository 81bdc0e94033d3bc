"""Fetching: one loop per queue takes tasks in batches while slots are free.

When this worker's slots are all taken (or it is draining) the loop pings
Redis every couple of seconds instead, so its signals keep telling "this
event loop turns" (every turn) and "Redis answers" (every successful one).
Any failure of a call (a lost connection, any error reply) is an episode:
the loop backs off and tries again until Redis answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..printable import printable
from ..queue import Arque, TaskId
from .outage import FAILURES, Episodes, Outage
from .state import Slots

__all__ = ["Fetcher"]

logger = logging.getLogger("arque.worker")

# The longest a fetch blocks in Redis when idle, and the longest the loop goes
# without a round trip while busy: the liveness signal is this fresh.
BLOCK = 2.0


class Fetcher:
    """The fetch loop of one queue.

    ``accept(task_id, data)`` takes each task it fetched (a slot already
    reserved for it); ``alive(ok)`` is called after every turn, ``ok``
    telling whether its call reached Redis. After ``quiet()`` it takes no
    more work but keeps the round trips going until ``close()``.
    """

    def __init__(
        self, queue: Arque, slots: Slots, batch: int,
        accept: Callable[[TaskId, Any], None], alive: Callable[[bool], None],
        client: Any, episodes: Episodes, on_error: Callable[[], None] | None = None,
    ) -> None:
        self._queue = queue
        self._slots = slots
        self._batch = batch
        self._accept = accept
        self._alive = alive
        self._client = client
        self._on_error = on_error or (lambda: None)
        self._outage = Outage(f"fetch from {queue.queue!r}", logger, episodes=episodes)
        self._quiet = False
        self._closed = asyncio.Event()
        self._hand_backs: set[asyncio.Future[None]] = set()
        self.busy = False
        """True while a dequeue is on the wire (it may hand out tasks)."""

    def quiet(self) -> None:
        """Stop taking work; the current fetch, if any, completes."""
        self._quiet = True

    def close(self) -> None:
        """End the loop (after ``quiet``)."""
        self._quiet = True
        self._closed.set()

    async def run(self) -> None:
        """Fetch until closed."""
        probe = True  # after an empty fetch, block on one slot only
        while not self._closed.is_set():
            wanted = 0 if self._quiet else (1 if probe else self._batch)
            reserved = self._slots.reserve(wanted)
            if reserved == 0:
                await self._idle()
                continue
            try:
                got = await self._fetch(reserved)
            except FAILURES as exc:
                await self._failed(exc)
                continue
            probe = not got
            for task_id, data in got:
                self._start(task_id, data)
            if got:  # let the handlers start before the next fetch is built and sent
                await asyncio.sleep(0)

    def _start(self, task_id: TaskId, data: Any) -> None:
        """Give one fetched task to the worker; if that fails, the rest of the batch still goes."""
        try:
            self._accept(task_id, data)
        except Exception:  # a bug costs this task its start, not the batch its leases
            logger.exception("could not start task %s; handing it back", printable(task_id))
            self._slots.give_back(1)
            hand_back = asyncio.ensure_future(self._hand_back(task_id))
            self._hand_backs.add(hand_back)
            hand_back.add_done_callback(self._hand_backs.discard)

    async def _hand_back(self, task_id: TaskId) -> None:
        try:
            await self._queue.requeue(task_id, count_attempt=False)
        except Exception as exc:  # noqa: BLE001 - then its lease brings it back
            logger.warning("task %s not handed back (%r); its lease will bring it back",
                           printable(task_id), exc)

    async def _fetch(self, reserved: int) -> list[tuple[TaskId, Any]]:
        self.busy = True
        try:
            got = await self._queue.dequeue_many(reserved, timeout=BLOCK)
        except BaseException:
            self._slots.give_back(reserved)
            raise
        finally:
            self.busy = False
        self._slots.give_back(reserved - len(got))  # the others now hold a task each
        self._outage.ok()
        self._alive(True)
        return got

    async def _idle(self) -> None:
        """No slot to fill: wait for one, and reach Redis every BLOCK seconds meanwhile."""
        if not self._quiet and await self._slots.wait(BLOCK):
            return
        if self._quiet:
            await self._sleep(BLOCK)
            if self._closed.is_set():
                return
        try:
            await self._client.ping()
        except FAILURES as exc:
            await self._failed(exc)
            return
        self._outage.ok()
        self._alive(True)

    async def _failed(self, exc: BaseException) -> None:
        """A call failed: the loop still turns; wait before the next one."""
        self._on_error()
        delay = self._outage.failed(exc)
        self._alive(False)
        await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when closed."""
        try:
            await asyncio.wait_for(self._closed.wait(), seconds)
        except asyncio.TimeoutError:
            pass
