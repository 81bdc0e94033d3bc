"""Dequeue calls whose hand-outs survive a cancelled caller.

A dequeue script moves tasks to working the moment it runs. If the coroutine
that sent it is cancelled before the reply is read (a timeout around
``dequeue``, a worker shutting down), the reply is dropped and the tasks wait
for their leases to expire, an attempt counted for nothing. :class:`CancelSafe`
runs each call in a task of its own, out of the cancel's reach: the caller gets its
``CancelledError`` at once, and the reply, when it lands, goes to
``on_lost`` (which hands the tasks back, unused). A reply that lands first
but finds its caller cancelled before it resumed goes there too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .scripts import Arg, Scripts

__all__ = ["CancelSafe"]


class CancelSafe:
    """The ``call``/``call_after`` of :class:`Scripts`, with replies never dropped by a cancel."""

    def __init__(self, scripts: Scripts, on_lost: Callable[[Any], None]) -> None:
        self._scripts = scripts
        self._on_lost = on_lost
        # Calls whose caller was cancelled, kept until their replies land.
        self._running: set[asyncio.Future[None]] = set()

    async def call(self, name: str, args: Sequence[Arg]) -> Any:
        """``Scripts.call``; cancelled, its reply goes to ``on_lost`` when it lands."""
        return await self._guard(self._scripts.call(name, args))

    async def call_after(self, first: Sequence[Arg], name: str, args: Sequence[Arg]) -> Any:
        """``Scripts.call_after``; cancelled, its reply goes to ``on_lost`` when it lands.

        The blocking command goes on until it ends (at most its own timeout),
        so a cancelled idle wait keeps its connection that long.
        """
        return await self._guard(self._scripts.call_after(first, name, args))

    def give_back(self, reply: Any) -> None:
        """Hand a reply's tasks to ``on_lost``: its caller will not take them after all."""
        self._on_lost(reply)

    async def _guard(self, call: Awaitable[Any]) -> Any:
        # The call runs in a task of its own, which a cancel of the caller does not
        # reach; it hands its reply to the caller's waiter directly, so the reply
        # costs one turn of the event loop to reach the caller (a shield costs two).
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        running = asyncio.ensure_future(self._deliver(call, waiter))
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.cancelled():  # still on the wire: _deliver hands its reply on
                self._running.add(running)
                running.add_done_callback(self._running.discard)
            elif waiter.exception() is None:  # landed, but the caller was cancelled first
                self._on_lost(waiter.result())
            raise

    async def _deliver(self, call: Awaitable[Any], waiter: asyncio.Future[Any]) -> None:
        try:
            reply = await call
        except asyncio.CancelledError:
            waiter.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - the caller gets it; no reply, nothing taken
            if not waiter.done():
                waiter.set_exception(exc)
            return
        if waiter.done():  # its caller was cancelled: nobody takes these tasks
            self._on_lost(reply)
        else:
            waiter.set_result(reply)
