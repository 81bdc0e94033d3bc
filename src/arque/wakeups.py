"""Waiting for work: one wake-up per event.

The consumers of one ``Arque`` wait behind a gate: at most one of them is
blocked in Redis (``BZPOPMIN`` on the queue's marker, pipelined with the next
dequeue); the others wait in this process for their turn. One raise of the
marker (one ``ZADD``) thus wakes one consumer, whichever process it is in,
and that consumer's dequeue passes the wake-up on when more is ready.

A due delayed task is timed by one consumer in all: ``dequeue.lua`` grants
the time-keeping to one caller at a time (the queue's ``timer`` key), and
only that caller's ``Arque`` arms a timer, which raises the marker at the due
time. A blocked consumer looks again by itself after the block cap (2 s), so
a time-keeper that dies, or a wake-up popped by a consumer that dies, costs
at most that.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .errors import REDIS_ERRORS, ArqueError
from .handouts import CancelSafe

__all__ = ["BLOCK_CAP", "Waiting", "block_cap"]

logger = logging.getLogger("arque")

BLOCK_CAP = 2.0
"""The longest one block in Redis lasts (seconds) before the consumer looks again."""
# A due time this close (microseconds) is waited for by a plain sleep: no timer, no block.
_SHORT_US = 2000
# asyncio's selector rounds a timeout up to the millisecond: a timer fires up to
# 1 ms after its time. Set this much before, it fires about on time; the reply it
# counts from came after the script read the clock, and the ZADD takes its way.
_WAKE_LEAD = 0.0008
# A dequeue's status: tasks handed out, but it ran out of its time with more ready.
_OUT_OF_TIME = 3
# Below this (seconds) a block is not sent: BZPOPMIN would round it to 0, "forever".
_MIN_BLOCK = 0.002


class Waiting:
    """How the consumers of one ``Arque`` wait: the gate and the time-keeper's timer."""

    def __init__(
        self, redis: Any, scripts: CancelSafe, marker: str, cap: float
    ) -> None:
        self._redis = redis
        self._scripts = scripts
        self._marker = marker
        self._cap = cap
        self._gate: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._timer: asyncio.TimerHandle | None = None
        # The last reply of this queue left at most one task ready (the one its
        # wake-up is passed on for): the next dequeue waits for the marker first
        # (no wait if it is up), in one round trip as a plain call.
        self._idle = False
        self._wakers: set[asyncio.Future[None]] = set()

    async def take(
        self, args: list[int], overloaded_waits: bool, deadline: float | None
    ) -> tuple[int, Any]:
        """Dequeue with ``args`` until tasks come, the deadline passes or (unless
        ``overloaded_waits``) working_limit is reached. Returns ``(status, reply)``;
        status -1 when the deadline passed."""
        loop = asyncio.get_running_loop()
        if self._idle:
            woken = await self._take_when_woken(args, deadline)
            if woken is None:
                return -1, None
            reply, answered = woken
        else:
            reply = await self._scripts.call("dequeue", args)
            answered = loop.time()
        while True:
            status, wait_us = self._heed(reply, answered)
            if status == _OUT_OF_TIME:
                return 1, await self._rest(args, reply)
            if status == 1 or (status == 2 and not overloaded_waits):
                return status, reply
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return -1, None
            # Due within a moment (a delayed task, or a rate window that admits the next
            # start): a timer that fired a little early must not leave everyone blocked.
            if status in (0, 2) and 0 <= wait_us <= _SHORT_US:
                await asyncio.sleep(wait_us / 1e6)
                reply = await self._scripts.call("dequeue", args)
                answered = loop.time()
                continue
            woken = await self._take_when_woken(args, deadline)
            if woken is None:
                return -1, None
            reply, answered = woken

    async def _take_when_woken(
        self, args: list[int], deadline: float | None
    ) -> tuple[Any, float] | None:
        """Wait for this ``Arque``'s turn, block in Redis until the marker is raised
        (at most the cap), then dequeue in the same round trip. None: deadline passed."""
        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate[0] is not loop:  # a lock serves one loop
            self._gate = (loop, asyncio.Lock())
        gate = self._gate[1]
        try:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            await asyncio.wait_for(gate.acquire(), remaining)
        except asyncio.TimeoutError:
            return None
        try:
            block = self._cap if deadline is None else min(self._cap, deadline - loop.time())
            if block < _MIN_BLOCK:  # no time to block: look once
                return await self._scripts.call("dequeue", args), loop.time()
            command = ("BZPOPMIN", self._marker, round(block, 3))
            reply = await self._scripts.call_after(command, "dequeue", args)
            return reply, loop.time()
        finally:
            gate.release()

    def _heed(self, reply: Any, answered: float) -> tuple[int, int]:
        """What a dequeue reply says of waiting and time-keeping: ``(status, wait_us)``."""
        status, wait_us = int(reply[0]), int(reply[1])
        # One task left ready is the wake-up's, passed on to a blocked consumer.
        self._idle = status == 0 or (status in (1, _OUT_OF_TIME) and int(reply[3]) <= 1)
        self._keep_time(wait_us, int(reply[2]) == 1, answered)
        return status, wait_us

    async def _rest(self, args: list[int], reply: Any) -> list[Any]:
        """The rest of a dequeue that ran out of its time (status 3) with more ready.

        More calls follow at once, each for what is still wanted, until one
        ends for another reason; their hand-outs come back as one reply.
        Cancelled meanwhile, the caller's hand-outs so far are given back; a
        follow-up that fails leaves the caller what it has.
        """
        loop = asyncio.get_running_loop()
        handed = list(reply[4:])
        try:
            while int(reply[0]) == _OUT_OF_TIME and len(handed) // 8 < args[0]:
                reply = await self._scripts.call("dequeue", [args[0] - len(handed) // 8, *args[1:]])
                if self._heed(reply, loop.time())[0] in (1, _OUT_OF_TIME):
                    handed += reply[4:]
        except asyncio.CancelledError:
            self._scripts.give_back([1, -1, 0, 0, *handed])
            raise
        except (ArqueError, *REDIS_ERRORS) as exc:  # the next call meets it, if it lasts
            logger.warning("a follow-up dequeue failed (%r); the %d tasks taken before it are "
                           "handed out", exc, len(handed) // 8)
        return [1, *reply[1:4], *handed]

    def _keep_time(self, wait_us: int, keeper: bool, answered: float) -> None:
        """Arm this instance's timer when the script made its caller the time-keeper.

        The timer belongs to the ``Arque``, not to the caller: it fires even if
        the caller took a task meanwhile, since no other consumer times this task.
        """
        if not keeper or wait_us <= 0:
            return
        if self._timer is not None:
            self._timer.cancel()  # a grant is for the earliest due time: it replaces ours
        loop = asyncio.get_running_loop()
        # Due wait_us after the script ran, which was before its reply came.
        self._timer = loop.call_at(answered + wait_us / 1e6 - _WAKE_LEAD, self._fire)

    async def stop(self) -> None:
        """Keep time no more: cancel the timer, and let a wake-up on the wire finish.

        For a process that stops consuming: a timer that fired after its event
        loop began to close would start a call that never ends. Another
        consumer's dequeue takes the time-keeping over once the grant expires
        (100 ms after the due time), or its block cap passes.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._wakers:
            await asyncio.wait(set(self._wakers))

    def _fire(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self._raise_marker())
        self._wakers.add(task)
        task.add_done_callback(self._wakers.discard)

    async def _raise_marker(self) -> None:
        try:
            await self._redis.zadd(self._marker, {"ready": 0})
        except REDIS_ERRORS as exc:  # the blocked consumers look again after the cap
            logger.debug("could not raise the marker: %r", exc)


def block_cap(client: Any) -> float:
    """How long one blocking wait may last: below the client's socket timeout."""
    # get_connection_kwargs: a cluster client keeps its settings off any connection pool.
    get = getattr(client, "get_connection_kwargs", None)
    kwargs = get() if callable(get) else None
    socket_timeout = kwargs.get("socket_timeout") if isinstance(kwargs, dict) else None
    if socket_timeout:
        return max(0.05, min(BLOCK_CAP, float(socket_timeout) - 0.5))
    return BLOCK_CAP
