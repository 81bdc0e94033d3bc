"""Concurrent calls share round trips.

While one call of a kind (say, an enqueue) is on the wire, the calls of the
same kind that arrive wait, and go together in the next one: one script call
for all of them, still atomic per call of the script. A lone caller is sent at
once and pays nothing; fifty concurrent producers pay about one round trip
per batch instead of one each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from .errors import ServerError

__all__ = ["Coalescer", "Paced"]

Item = TypeVar("Item")
Result = TypeVar("Result")


class Paced:
    """Sends batches through script calls that may stop before the end of what they got.

    A script that works through a batch stops when its time is up
    (scripts/includes/budget.lua) and answers for the first items only; the
    rest go in the next calls. What the last calls had time for is kept, so
    that a call is sent about as many items as it will take (a little more,
    to fill it): items sent again are parsed again by Redis. Each call
    answers for at least one.
    """

    def __init__(self) -> None:
        self._size = 0  # items to send in one call; 0: not known, all of them

    async def send(
        self, send: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]], items: Sequence[Item]
    ) -> list[Result]:
        """A result for each of ``items``, from as many calls of ``send`` as it takes."""
        results: list[Result] = []
        while len(results) < len(items):
            rest = len(items) - len(results)
            size = min(rest, self._size or rest)
            answered = await send(items[len(results) : len(results) + size])
            if not answered:
                raise ServerError(f"a script answered for none of {size} items")
            if len(answered) < size:  # out of its time: about this many fit in a call
                self._size = len(answered) + len(answered) // 4 + 1
            elif size == self._size:  # all answered at the pace kept: it may be faster now
                self._size = 2 * size
            results += answered
        return results


class Coalescer(Generic[Item, Result]):
    """Sends items through ``send`` (a batch in, a result per item out), one batch at a time."""

    def __init__(
        self, send: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]], max_batch: int = 1000
    ) -> None:
        self._send = send
        self._max_batch = max_batch
        self._busy = False
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Send ``item`` now, or with the next batch if a call is on the wire."""
        if self._busy:
            future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
            self._waiting.append((item, future))
            return await future
        self._busy = True
        try:
            return (await self._send([item]))[0]
        finally:
            self._busy = False
            if self._waiting:
                self._flusher = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        self._busy = True
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                try:
                    results = await self._send([item for item, _ in batch])
                except BaseException as exc:  # each waiter gets the failure of its batch
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), result in zip(batch, results):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._busy = False
