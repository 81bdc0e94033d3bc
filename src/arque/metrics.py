"""Prometheus metrics: queue gauges read by one script per scrape, worker counters and histograms.

Needs ``pip install 'arque[metrics]'`` (prometheus-client), imported only here.

Queue gauges (``QueueCollector``, served by ``arque metrics --port N``), one
``queue_metrics`` script per queue and scrape:
``arque_tasks{queue,state}``, ``arque_oldest_ready_age_seconds{queue}``,
``arque_oldest_lease_age_seconds{queue}``, ``arque_working_limit{queue}``,
``arque_workers{queue}``.

Worker metrics (``WorkerMetrics``, a worker observer served on the health
port's ``/metrics``): ``arque_tasks_processed_total{queue,outcome}``,
``arque_task_duration_seconds{queue}``, ``arque_task_wait_seconds{queue}``,
``arque_fencing_refusals_total{queue}``, ``arque_redis_errors_total{queue}``.
The metric objects are shared by every worker of the process. With
``PROMETHEUS_MULTIPROC_DIR`` set (prometheus-client's multiprocess mode),
each process writes its values there and every worker's ``/metrics`` serves
the sum over the host's processes; without it, each process serves its own
values and needs its own health port.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .queue import Arque, TaskId
from .scripts import Scripts
from .worker.events import WorkerObserver

__all__ = ["QueueCollector", "QueueGauges", "WorkerMetrics", "queue_gauges", "queue_gauges_sync",
           "serve_queue_metrics"]

STATES = ("pending", "delayed", "working", "failed")
# Working tasks looked at for the oldest lease (soonest deadlines first).
_LEASE_SCAN = 1000
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)


@dataclass(frozen=True, slots=True)
class QueueGauges:
    """What a scrape reads of one queue (ages in seconds, None: no such task)."""

    queue: str
    pending: int
    delayed: int
    working: int
    failed: int
    oldest_ready_age: float | None
    oldest_lease_age: float | None
    workers: int
    working_limit: int


def _gauges(queue: Arque, reply: Sequence[Any]) -> QueueGauges:
    pending, delayed, working, failed, ready_ms, lease_ms, workers, limit = (
        int(v) for v in reply)
    return QueueGauges(
        queue=queue.queue, pending=pending, delayed=delayed, working=working, failed=failed,
        oldest_ready_age=None if ready_ms < 0 else ready_ms / 1000,
        oldest_lease_age=None if lease_ms < 0 else lease_ms / 1000,
        workers=workers, working_limit=limit,
    )


async def queue_gauges(queue: Arque) -> QueueGauges:
    """The gauges of ``queue`` (one atomic, read-only script).

    ``working_limit`` is the one the queue stores (its config), else ``queue``'s own.
    """
    args = [_LEASE_SCAN, queue.working_limit]
    return _gauges(queue, await Scripts(queue.redis, queue.keys).call("queue_metrics", args))


def queue_gauges_sync(queue: Arque) -> QueueGauges:
    """``queue_gauges`` on a queue built on a synchronous client."""
    args = [_LEASE_SCAN, queue.working_limit]
    return _gauges(queue, Scripts(queue.redis, queue.keys).call_sync("queue_metrics", args))


class QueueCollector:
    """A prometheus-client collector of the queue gauges of ``queues`` (sync clients).

    ``arque_working_limit`` is the limit the queue stores (its config hash,
    which every worker applies), else the library's default.
    """

    def __init__(self, queues: Sequence[Arque]) -> None:
        self._queues = list(queues)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        tasks = GaugeMetricFamily("arque_tasks", "Tasks in each state.", labels=["queue", "state"])
        ready = GaugeMetricFamily(
            "arque_oldest_ready_age_seconds",
            "How long the task waiting longest has been ready (0: none ready).", labels=["queue"])
        lease = GaugeMetricFamily(
            "arque_oldest_lease_age_seconds",
            "How long ago the longest-held working task was handed out (0: none).",
            labels=["queue"])
        limit = GaugeMetricFamily("arque_working_limit",
                                  "The global limit of working tasks (0: none).", labels=["queue"])
        workers = GaugeMetricFamily("arque_workers", "Live registered workers.", labels=["queue"])
        for queue in self._queues:
            g = queue_gauges_sync(queue)
            for state in STATES:
                tasks.add_metric([g.queue, state], getattr(g, state))
            ready.add_metric([g.queue], g.oldest_ready_age or 0.0)
            lease.add_metric([g.queue], g.oldest_lease_age or 0.0)
            limit.add_metric([g.queue], g.working_limit)
            workers.add_metric([g.queue], g.workers)
        yield from (tasks, ready, lease, limit, workers)

    def describe(self) -> list[Any]:
        return []  # no collect() at registration time: Redis may not be up yet


def serve_queue_metrics(queues: Sequence[Arque], port: int, addr: str = "0.0.0.0") -> Any:
    """Serve the queue gauges of ``queues`` (sync clients) on ``http://addr:port/metrics``.

    Returns prometheus-client's server (``shutdown()`` then ``server_close()`` stop it).
    """
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(queues))
    server, _thread = start_http_server(port, addr, registry=registry)
    return server


class _Shared:
    """The worker metric objects of this process, made once (their names are global)."""

    _lock = threading.Lock()
    _made: _Shared | None = None

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        multi = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # Multiprocess mode keeps values in files; the registry is made per scrape.
        self.registry = None if multi else CollectorRegistry()
        self.multiprocess = multi
        kw: dict[str, Any] = {"registry": self.registry}
        self.processed = Counter("arque_tasks_processed", "Attempts settled, by outcome.",
                                 ["queue", "outcome"], **kw)
        self.duration = Histogram("arque_task_duration_seconds", "Handler run time.",
                                  ["queue"], buckets=_DURATION_BUCKETS, **kw)
        self.wait = Histogram("arque_task_wait_seconds", "From ready to started.",
                              ["queue"], buckets=_WAIT_BUCKETS, **kw)
        self.refusals = Counter("arque_fencing_refusals", "Stale delivery tokens refused.",
                                ["queue"], **kw)
        self.errors = Counter("arque_redis_errors", "Failed calls to Redis (retried).",
                              ["queue"], **kw)

    @classmethod
    def get(cls) -> _Shared:
        with cls._lock:
            if cls._made is None:
                cls._made = cls()
            return cls._made


class WorkerMetrics(WorkerObserver):
    """The Prometheus metrics of workers, as an observer; ``render()`` is the /metrics page."""

    def __init__(self) -> None:
        self._m = _Shared.get()
        # Labelled children, looked up once per queue (and outcome): called for every task.
        self._waits: dict[str, Any] = {}
        self._durations: dict[str, Any] = {}
        self._outcomes: dict[tuple[str, str], Any] = {}

    def started(self, queue: str, task_id: TaskId) -> None:
        child = self._waits.get(queue)
        if child is None:
            child = self._waits[queue] = self._m.wait.labels(queue)
        child.observe(getattr(task_id, "waited", 0.0))

    def ran(self, queue: str, task_id: TaskId, seconds: float,
            error: BaseException | None = None) -> None:
        child = self._durations.get(queue)
        if child is None:
            child = self._durations[queue] = self._m.duration.labels(queue)
        child.observe(seconds)

    def settled(self, queue: str, task_id: TaskId, outcome: str) -> None:
        child = self._outcomes.get((queue, outcome))
        if child is None:
            child = self._outcomes[(queue, outcome)] = self._m.processed.labels(queue, outcome)
        child.inc()

    def refused(self, queue: str) -> None:
        self._m.refusals.labels(queue).inc()

    def redis_error(self, queue: str) -> None:
        self._m.errors.labels(queue).inc()

    def render(self) -> tuple[bytes, str]:
        """The metrics in the Prometheus text format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry = self._m.registry
        if registry is None:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
