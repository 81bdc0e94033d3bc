"""What a worker tells its observers: hand-outs, handler runs, outcomes, errors.

The worker calls one ``Events`` object at a few points of a task's flow
instead of spreading metrics, rollups or tracing through its loops. An
observer subclasses ``WorkerObserver`` and overrides what it needs; its
failures are logged and never reach the worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Final

from ..queue import TaskId

__all__ = ["OUTCOMES", "Events", "WorkerObserver"]

logger = logging.getLogger("arque.worker")

OUTCOMES: Final = ("released", "retried", "dead_lettered", "timed_out", "cancelled", "lease_lost")
"""How an attempt ended, as applied in Redis (the bounded ``outcome`` label):
released (done), retried (requeued after a failure), dead_lettered (its last
attempt failed, or ``Fail``), timed_out (cancelled at its time limit; requeued
or dead-lettered), cancelled (handed back unused at shutdown), lease_lost
(Redis refused the outcome: the task had been recovered and runs elsewhere)."""


class WorkerObserver:
    """The events of a worker; every method does nothing here.

    Methods run on the worker's event loop, except ``refused`` which may run
    on the heartbeat thread; they must be quick and must not block.
    """

    def started(self, queue: str, task_id: TaskId) -> None:
        """A handler starts on ``task_id`` (``task_id.waited``: seconds since it was ready)."""

    def ran(self, queue: str, task_id: TaskId, seconds: float,
            error: BaseException | None = None) -> None:
        """A handler ended after ``seconds``; ``error``: what it raised, if it raised."""

    def settled(self, queue: str, task_id: TaskId, outcome: str) -> None:
        """Redis applied an attempt's outcome, one of ``OUTCOMES``."""

    def refused(self, queue: str) -> None:
        """Redis refused a stale delivery token (a release, requeue, fail or renewal)."""

    def redis_error(self, queue: str) -> None:
        """A call to Redis for ``queue`` failed (the worker retries it)."""


_EVENTS = ("started", "ran", "settled", "refused", "redis_error")


class Events(WorkerObserver):
    """Passes each event to every observer; an observer's error is logged, not raised.

    Called for every task: each event goes only to the observers that
    override it (their bound methods are listed once).
    """

    def __init__(self, observers: Sequence[WorkerObserver] = ()) -> None:
        self._observers = list(observers)
        self._calls: dict[str, list[Callable[..., None]]] = {
            name: [getattr(o, name) for o in self._observers
                   if getattr(type(o), name) is not getattr(WorkerObserver, name)]
            for name in _EVENTS
        }

    def __bool__(self) -> bool:
        return bool(self._observers)

    def _each(self, method: str, *args: object) -> None:
        for call in self._calls[method]:
            try:
                call(*args)
            except Exception:  # an observer must never break the worker
                logger.exception("worker observer %r failed on %s", call, method)

    def started(self, queue: str, task_id: TaskId) -> None:
        self._each("started", queue, task_id)

    def ran(self, queue: str, task_id: TaskId, seconds: float,
            error: BaseException | None = None) -> None:
        self._each("ran", queue, task_id, seconds, error)

    def settled(self, queue: str, task_id: TaskId, outcome: str) -> None:
        self._each("settled", queue, task_id, outcome)
        if outcome == "lease_lost":
            self._each("refused", queue)

    def refused(self, queue: str) -> None:
        self._each("refused", queue)

    def redis_error(self, queue: str) -> None:
        self._each("redis_error", queue)
