"""Results: what a handler returned, kept for ``result_ttl``, and awaited without polling.

The release script keeps the result in the same fenced step that ends the
task, so a stale holder can never write one. ``Results.wait`` reads where the
task stands in one script call that also registers the caller as a waiter;
every script that ends an awaited task (release, dead letter, cancel) puts
its id on the queue's ``finished`` stream, which waiters block on with
``XREAD``. A waiter sees every entry (a stream is not consumed), so any
number of waiters on any tasks share one key. See docs/results.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from . import records
from .errors import (
    REDIS_ERRORS,
    PayloadTooLarge,
    ResultNotFound,
    ResultTimeout,
    TaskFailed,
    translate,
)
from .keys import QueueKeys
from .records import DeadLetter
from .scripts import Scripts
from .serializers import Codec

__all__ = ["Results"]

# Results dropped per expire_results call; the sweep calls again while there is more.
EXPIRE_CHUNK = 250
# Entries read from the finished stream per XREAD.
_READ_COUNT = 100


class Results:
    """The results of one queue.

    ``dead_letter(task_id, meta, payload)`` builds the ``DeadLetter`` that
    ``TaskFailed`` carries; ``block_cap`` is the longest one blocking read
    may last (below the client's socket timeout).
    """

    def __init__(
        self, client: Any, keys: QueueKeys, scripts: Scripts, codec: Codec,
        dead_letter: Callable[[str, dict[str, Any], Any], DeadLetter],
        block_cap: float, max_size: int,
    ) -> None:
        self._client = client
        self._stream = keys.finished
        self._scripts = scripts
        self._codec = codec
        self._dead_letter = dead_letter
        self._block_cap = block_cap
        self._max_size = max_size

    def encode(self, task_id: str, value: Any) -> str | bytes:
        """``value`` as the serializer encodes it; refused like a payload."""
        encoded = self._codec.dumps(value, f"the result of task {task_id!r}")
        size = len(encoded) if isinstance(encoded, bytes) else len(encoded.encode())
        if size > self._max_size:
            raise PayloadTooLarge(f"the result of task {task_id!r} is {size} bytes encoded, "
                                  f"over max_payload_size={self._max_size}")
        return encoded

    async def expire(self, max_results: int) -> int:
        """Drop the results whose time is up, and the oldest beyond ``max_results``
        (where the queue stores none), a chunk per script call; returns how many."""
        dropped = 0
        while True:
            count = int(await self._scripts.call("expire_results", [EXPIRE_CHUNK, max_results]))
            dropped += count
            if count < EXPIRE_CHUNK:
                return dropped

    async def wait(self, task_id: str, timeout: float | None) -> Any:
        """The result of ``task_id``, waiting until it finishes (see ``Arque.result``)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            reply = await self._scripts.call("result", [task_id, 1])
            status = records.text(reply[0])
            if status == "done":
                return self._codec.loads(reply[1])
            if status == "failed":
                meta = records.parse_meta(reply[1])
                raise TaskFailed(self._dead_letter(task_id, meta, reply[2]))
            if status == "unknown":
                raise ResultNotFound(f"no result for task {task_id!r}: unknown, released "
                                     "without a result (result_ttl off), or expired")
            await self._until_finished(task_id, records.text(reply[1]), deadline)

    async def _until_finished(self, task_id: str, last: str, deadline: float | None) -> None:
        """Block on the finished stream until ``task_id`` is on it, or a block ends.

        A block lasts at most ``block_cap``; the caller then reads the task
        again, which also covers an entry trimmed off the stream.
        """
        loop = asyncio.get_running_loop()
        block = self._block_cap
        if deadline is not None:
            left = deadline - loop.time()
            if left <= 0:
                raise ResultTimeout(f"task {task_id!r} did not finish in time")
            block = min(block, left)
        end = loop.time() + block
        while (wait_ms := round((end - loop.time()) * 1000)) > 0:
            try:
                reply = await self._client.xread({self._stream: last}, count=_READ_COUNT,
                                                 block=wait_ms)
            except REDIS_ERRORS as exc:
                raise translate(exc) from exc
            entries = _entries(reply)
            if not entries:
                return
            for entry_id, fields in entries:
                last = records.text(entry_id)
                if any(records.text(v) == task_id for v in fields.values()):
                    return


def _entries(reply: Any) -> list[tuple[Any, dict[Any, Any]]]:
    """The entries of the one stream in an XREAD reply (RESP2: a list; RESP3: a dict)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        (entries,) = reply.values()
        # RESP3 nests the entries one level deeper in some redis-py versions.
        if entries and isinstance(entries[0], list):
            entries = entries[0]
        return list(entries)
    return list(reply[0][1])
