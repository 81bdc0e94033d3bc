"""Signals a handler raises to choose what happens to its task.

They are not errors of arque (not ``ArqueError``): user code raises them on
purpose, and the worker turns them into a requeue or a dead letter::

    WorkerSignal (Exception)
     ├── Retry   requeue, after the given delay (the attempt counts)
     └── Fail    dead-letter at once, reason ``rejected``
"""

from __future__ import annotations

__all__ = ["Fail", "Retry", "WorkerSignal"]


class WorkerSignal(Exception):
    """Base class of the control-flow signals a handler may raise."""


class Retry(WorkerSignal):
    """Requeue the task: pending again after ``delay`` seconds (None: the backoff).

    The attempt counts: after the task's last allowed attempt it goes to dead
    letters, as for any failure.
    """

    def __init__(self, delay: float | None = None, reason: str = "") -> None:
        if delay is not None and (isinstance(delay, bool) or not delay >= 0):
            raise ValueError(f"Retry delay must be a number >= 0, got {delay!r}")
        super().__init__(reason or (f"retry in {delay:g} s" if delay is not None else "retry"))
        self.delay = None if delay is None else float(delay)
        self.reason = reason


class Fail(WorkerSignal):
    """Dead-letter the task at once (reason ``rejected``), whatever attempts it has left."""

    def __init__(self, reason: str = "rejected by the handler") -> None:
        super().__init__(reason)
        self.reason = reason
