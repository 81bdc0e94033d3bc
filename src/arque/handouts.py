"""Dequeue calls whose hand-outs survive a cancelled caller.

A dequeue script moves tasks to working the moment it runs. If the coroutine
that sent it is cancelled before the reply is read (a timeout around
``dequeue``, a worker shutting down), the reply is dropped and the tasks wait
for their leases to expire, an attempt counted for nothing. :class:`CancelSafe`
runs each call in a task of its own, shielded: the caller gets its
``CancelledError`` at once, and the reply, when it lands, goes to
``on_lost`` (which hands the tasks back, unused).
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
        running = asyncio.ensure_future(call)
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            running.add_done_callback(self._landed)
            raise

    def _landed(self, running: asyncio.Future[Any]) -> None:
        if running.cancelled() or running.exception() is not None:
            return  # no reply: nothing was taken, or it went with the connection (leases, then)
        self._on_lost(running.result())
