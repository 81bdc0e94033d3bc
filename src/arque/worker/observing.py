"""What a worker shows of itself: its events' observers, its registration, its metrics page.

One ``Observing`` per worker: it assembles the observers (the throughput
rollups always; Prometheus with ``metrics=True``; tracing when a tracer
provider is set by the time the worker starts, unless the caller gave its
own ``TracingObserver``; the caller's own), and runs the registry thread
that keeps the worker in the live workers list and flushes the rollups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import tracing
from ..errors import InvalidArgument
from ..queue import Arque
from ..registry import Registrar
from ..throughput import Rollups
from .events import Events, WorkerObserver
from .tracing import TracingObserver

__all__ = ["LISTED_TASKS", "Observing"]

LISTED_TASKS = 200
"""In-flight task ids a worker lists in its registration (the dashboard's lease holders)."""


class Observing:
    """The observers and registration of one worker."""

    def __init__(self, *, metrics: bool, observers: Sequence[WorkerObserver],
                 registry_ttl: float) -> None:
        if not all(isinstance(o, WorkerObserver) for o in observers):
            raise InvalidArgument("observers must be WorkerObserver instances")
        self.registry_ttl = registry_ttl
        self.rollups = Rollups()
        watchers: list[WorkerObserver] = [self.rollups]
        self.metrics: Any = None
        if metrics:
            from ..metrics import WorkerMetrics  # an optional extra: imported when asked for

            self.metrics = WorkerMetrics()
            watchers.append(self.metrics)
        self._watchers = [*watchers, *observers]
        self._traced = any(isinstance(o, TracingObserver) for o in observers)
        self.events = Events(self._watchers)
        self._registrar: Registrar | None = None

    def begin(self) -> Events:
        """The events of a worker that starts now: tracing joins if a provider is set."""
        if not self._traced and tracing.active():
            self._traced = True
            self.events = Events([*self._watchers, TracingObserver()])
        return self.events

    @property
    def render(self) -> Callable[[], tuple[bytes, str]] | None:
        """The ``/metrics`` page, when metrics are on."""
        return None if self.metrics is None else self.metrics.render

    def on_error(self, queue: Arque) -> Callable[[], None]:
        """What a loop of ``queue`` calls when a Redis call fails."""
        return lambda: self.events.redis_error(queue.queue)

    def start(self, name: str, sync_queues: list[Arque],
              describe: Callable[[], dict[str, Any]]) -> None:
        """Register the worker (``sync_queues``: its queues on a sync client) and keep it so."""
        self._registrar = Registrar(name, sync_queues, describe, self.registry_ttl,
                                    lambda: self.rollups.flush(sync_queues))
        self._registrar.start()

    def stop(self) -> None:
        """Withdraw from the workers list and flush the rollups (before the sync clients close)."""
        if self._registrar is not None:
            self._registrar.stop()
            self._registrar = None
