"""What a handler learns about the task it runs: ``TaskContext``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..queue import TaskId
from .state import InFlight, Record

__all__ = ["TaskContext"]


class TaskContext:
    """The second argument of a handler: ``async def handler(data, ctx)``.

    Read-only: ``task_id`` (the ``TaskId`` of this hand-out), ``attempt`` (1
    for the first), ``queue`` (the queue's name), ``deadline`` (epoch seconds,
    Redis clock, when the lease last known ends; the heartbeat renews it) and
    ``time_left`` (seconds until the worker cancels the handler).
    """

    __slots__ = ("_clock_offset", "_in_flight", "_record")

    def __init__(self, record: Record, in_flight: InFlight, clock_offset: Callable[[], float]) -> None:
        self._record = record
        self._in_flight = in_flight
        self._clock_offset = clock_offset

    @property
    def task_id(self) -> TaskId:
        return self._record.task_id

    @property
    def attempt(self) -> int:
        return self._record.task_id.attempt

    @property
    def queue(self) -> str:
        return self._record.queue.queue

    @property
    def deadline(self) -> float:
        return self._record.deadline

    @property
    def time_left(self) -> float:
        return max(0.0, self._record.limit_at - time.monotonic())

    async def extend(self, seconds: float | None = None) -> bool:
        """Renew the lease for ``seconds`` from now (None: the task's own task_timeout).

        The worker's execution limit of this task moves to at least ``seconds``
        from now too. Returns False when the lease was lost (the task was
        recovered and may run elsewhere): the handler should stop. Raises
        ``RedisUnavailable`` when Redis cannot be reached.
        """
        record = self._record
        applied = await record.queue.extend(record.task_id, seconds)
        if not applied:
            self._in_flight.mark(record, lost=True)
            return False
        span = record.lease if seconds is None else float(seconds)
        self._in_flight.set_limit(record, time.monotonic() + span)
        record.deadline = time.time() + self._clock_offset() + span
        return True

    async def progress(self, value: Any) -> bool:
        """Report this task's progress: any JSON value up to 16 KiB (``0.5``, ``{"done": 3}``).

        ``get_task_stats(task_id)['progress']`` and ``arque task ID`` show it,
        as the same value. Fenced by this hand-out: False when the lease was
        lost. Raises ``InvalidArgument`` for a value that is not JSON or too
        large, ``RedisUnavailable`` when Redis cannot be reached.
        """
        record = self._record
        return await record.queue.progress(record.task_id, value)

    def __repr__(self) -> str:
        return f"TaskContext(task_id={str(self.task_id)!r}, attempt={self.attempt}, queue={self.queue!r})"
