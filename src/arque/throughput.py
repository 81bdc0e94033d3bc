"""Throughput rollups: tasks settled per minute and outcome, kept in Redis for hours.

Workers count their outcomes in memory (``Rollups``, a worker observer) and
add them to the queue's ``throughput`` hash every few seconds with one
``record_throughput`` call per queue; the script trims minutes older than
``keep`` minutes, so the hash stays bounded (at most ``keep`` x 7 fields).
``read_throughput`` gives the last minutes for a chart.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .errors import ArqueError
from .queue import Arque, TaskId
from .scripts import Scripts
from .worker.events import OUTCOMES, WorkerObserver

__all__ = ["KEEP_MINUTES", "Minute", "Rollups", "read_throughput"]

KEEP_MINUTES = 24 * 60
"""Minutes of rollups kept (a day)."""


@dataclass(frozen=True, slots=True)
class Minute:
    """Tasks settled in one minute, by outcome."""

    start: float
    """Epoch seconds (Redis clock) when the minute began."""
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Rollups(WorkerObserver):
    """Counts a worker's outcomes per queue; ``flush`` adds them to Redis.

    ``settled`` runs on the event loop and ``flush`` on the registry thread.
    """

    def __init__(self, keep_minutes: int = KEEP_MINUTES) -> None:
        self._keep = keep_minutes
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {}

    def settled(self, queue: str, task_id: TaskId, outcome: str) -> None:
        with self._lock:
            counts = self._counts.get(queue)
            if counts is None:
                counts = self._counts[queue] = Counter()
            counts[outcome] += 1

    def flush(self, queues: list[Arque]) -> None:
        """Add the counts so far to Redis (``queues`` on a synchronous client).

        Counts that Redis does not take are kept for the next flush.
        """
        by_name = {q.queue: q for q in queues}
        with self._lock:
            counts, self._counts = self._counts, {}
        for name, counter in counts.items():
            queue = by_name[name]
            args: list[Any] = [self._keep]
            for outcome, count in counter.items():
                args += [outcome, count]
            try:
                Scripts(queue.redis, queue.keys).call_sync("record_throughput", args)
            except ArqueError:
                with self._lock:
                    self._counts.setdefault(name, Counter()).update(counter)


async def read_throughput(queue: Arque, minutes: int = 180) -> list[Minute]:
    """The last ``minutes`` minutes of ``queue`` (the current one last), one read."""
    minutes = max(1, min(int(minutes), KEEP_MINUTES))
    reply = await Scripts(queue.redis, queue.keys).call("read_throughput", [minutes, *OUTCOMES])
    current = int(reply[0])
    out = []
    values = reply[1:]
    for index in range(minutes):
        row = values[index * len(OUTCOMES):(index + 1) * len(OUTCOMES)]
        counts = {o: int(v) for o, v in zip(OUTCOMES, row) if v is not None}
        out.append(Minute(start=(current - minutes + 1 + index) * 60.0, counts=counts))
    return out
