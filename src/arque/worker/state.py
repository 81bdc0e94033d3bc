"""The state the pieces of a worker share: in-flight tasks, free slots, counters.

The in-flight map is read by the heartbeat thread, so every access to it goes
through one ``threading.Lock``; everything else lives on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..queue import Arque, TaskId

__all__ = ["Counters", "InFlight", "Record", "Slots", "WorkerStats"]

# Leases shorter than this (three idle ticks of the heartbeat) wake it at once.
_WAKE_BELOW = 3.0

FINISHED_HOLD = 120.0
"""Seconds a worker keeps (and renews) a finished task whose outcome Redis keeps
refusing; then it lets go and the lease hands the task back."""


@dataclass(eq=False)
class Record:
    """One task this worker holds, from hand-out until its outcome is applied."""

    queue_index: int
    queue: Arque
    task_id: TaskId
    data: Any
    lease: float
    """Seconds of the lease at hand-out (the task's own task_timeout)."""
    limit_at: float
    """``time.monotonic()`` after which the handler is cancelled and no longer renewed."""
    received_at: float
    finished: bool = False
    """The handler is done: renew until the outcome is applied (or ``FINISHED_HOLD`` passed)."""
    finished_at: float = 0.0
    """``time.monotonic()`` when the handler ended."""
    lost: bool = False
    """A renewal was refused: the lease is gone (another holder or the sweeper)."""
    handed_back: bool = False
    """Cancelled by shutdown: give the task back unused."""
    timed_out: bool = False
    """Cancelled at its time limit: a failed attempt."""
    cancelled: bool = False
    """Cancelled on request (``Arque.cancel``): the task goes to dead letters."""
    result: Any = None
    """What the handler returned, released with the task (kept when results are on)."""
    deadline: float = 0.0
    """The lease end last known, epoch seconds (Redis clock)."""
    handler: asyncio.Future[Any] | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[int, str]:
        return self.queue_index, str(self.task_id)

    def renewable(self, now: float) -> bool:
        """Whether the heartbeat should still renew this lease."""
        if self.lost:
            return False
        return self.held(now) if self.finished else now < self.limit_at

    def held(self, now: float) -> bool:
        """Whether a finished task is still kept for its outcome (not yet given up)."""
        return now < self.finished_at + FINISHED_HOLD


class InFlight:
    """The tasks this worker holds, shared with the heartbeat thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[tuple[int, str], Record] = {}
        self._shortest = float("inf")
        self.changed = threading.Event()
        """Set when the heartbeat should look again: work arrived, or a shorter lease."""

    def add(self, record: Record) -> None:
        with self._lock:
            # The heartbeat looks every second anyway; only a lease it could miss
            # wakes it (waking the thread on each arrival costs the loop the GIL).
            wake = record.lease < min(self._shortest, _WAKE_BELOW)
            self._shortest = min(self._shortest, record.lease)
            self._records[record.key] = record
        if wake:
            self.changed.set()

    def remove(self, record: Record) -> None:
        with self._lock:
            if self._records.get(record.key) is record:
                del self._records[record.key]
                if not self._records:
                    self._shortest = float("inf")

    def snapshot(self) -> list[Record]:
        with self._lock:
            return list(self._records.values())

    def set_limit(self, record: Record, limit_at: float) -> None:
        with self._lock:
            record.limit_at = max(record.limit_at, limit_at)

    def mark(self, record: Record, *, finished: bool = False, lost: bool = False) -> None:
        with self._lock:
            if finished and not record.finished:
                record.finished_at = time.monotonic()
            record.finished = record.finished or finished
            record.lost = record.lost or lost

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)


class Slots:
    """The handler slots of a worker (``concurrency``), reserved before a fetch."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._free = total
        self._freed = asyncio.Event()
        self._freed.set()

    @property
    def free(self) -> int:
        return self._free

    def reserve(self, wanted: int) -> int:
        """Take up to ``wanted`` free slots; returns how many were taken (maybe 0)."""
        taken = min(wanted, self._free)
        self._free -= taken
        if self._free == 0:
            self._freed.clear()
        return taken

    def give_back(self, count: int = 1) -> None:
        if count > 0:
            self._free += count
            self._freed.set()

    async def wait(self, timeout: float) -> bool:
        """Wait until a slot is free (True) or ``timeout`` seconds passed (False)."""
        try:
            await asyncio.wait_for(self._freed.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """What a worker has done since it started (``Worker.stats()``)."""

    name: str
    state: str
    """``created``, ``running``, ``draining``, ``stopped``."""
    processed: int
    """Handlers that returned normally."""
    failed: int
    """Handlers that raised (``Retry`` and ``Fail`` included) or timed out."""
    timed_out: int
    retried: int
    """Tasks requeued for another attempt (a requeue after the last attempt dead-letters)."""
    dead_lettered: int
    """Tasks dead-lettered by ``Fail``."""
    released: int
    """Successful tasks whose release Redis applied."""
    refused: int
    """Releases or requeues Redis refused: the lease had been lost (the task runs elsewhere)."""
    handed_back: int
    """Tasks given back unused at shutdown."""
    in_flight: int
    """Handlers running now."""
    finishing: int
    """Tasks whose handler is done and whose outcome is not yet applied in Redis."""
    sweeps: int
    recovered: int
    """Tasks that this worker's sweeps sent back to pending."""
    started_at: float | None
    last_fetch_at: float | None
    """Epoch seconds of the last completed fetch round trip."""
    redis_ok: bool
    """Whether Redis answered the last call of every loop (no episode under way)."""
    abandoned: int = 0
    """Finished tasks given up after Redis refused their outcome for ``FINISHED_HOLD``
    seconds: their leases hand them back."""
    restarts: int = 0
    """Loops restarted after an unexpected exception."""


@dataclass
class Counters:
    """The mutable counts behind ``WorkerStats`` (event-loop side only)."""

    processed: int = 0
    failed: int = 0
    abandoned: int = 0
    restarts: int = 0
    timed_out: int = 0
    retried: int = 0
    dead_lettered: int = 0
    released: int = 0
    refused: int = 0
    handed_back: int = 0
    sweeps: int = 0
    recovered: int = 0
    started_at: float | None = None
    last_fetch_at: float | None = None
    last_ok: float | None = None
    """``time.monotonic()`` of the last successful round trip of the fetch loop."""
    last_turn: float | None = None
    """``time.monotonic()`` of the last turn of the fetch loop, failed or not: it is not stuck."""

    def fetched(self) -> None:
        self.last_fetch_at = time.time()
        self.last_ok = self.last_turn = time.monotonic()

    def turned(self) -> None:
        self.last_turn = time.monotonic()
