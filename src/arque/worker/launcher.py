"""The launcher: ``Worker`` owns the pieces of a worker and their lifecycle.

Pieces: one fetch loop, one ack loop and one sweeper per queue
(``fetch.py``, ``ack.py``, ``sweep.py``), the handler runs
(``process.py``), the heartbeat thread (``heartbeat.py``) and the health
signals (``health.py``). The launcher starts them (the loops under a
``Supervisor`` that restarts a loop after a surprise, ``supervise.py``; Redis
episodes are shared by all pieces, ``outage.py``), goes quiet on ``stop()``
(no new work; in-flight handlers get ``grace_period`` seconds, then are
cancelled and their tasks handed back unused; acks are flushed), and stops
them; ``abort()`` stops at once and leaves the in-flight tasks to their
leases.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidArgument, WorkerFailed
from ..queue import Arque, TaskId
from ..registry import DEFAULT_TTL
from ..settings import check_integer, check_number
from .ack import Acker
from .events import WorkerObserver
from .fetch import BLOCK, Fetcher
from .health import HealthSignals
from .heartbeat import Heartbeat, sync_client_for
from .observing import LISTED_TASKS, Observing
from .options import Backoff, Health
from .outage import Episodes
from .process import Handler, Processor
from .schedule import Firer
from .state import Counters, InFlight, Record, Slots, WorkerStats
from .supervise import Supervisor
from .sweep import Sweeper

__all__ = ["Worker"]

logger = logging.getLogger("arque.worker")

# After the grace period, how long hand-backs and acks may still wait for Redis.
_FLUSH_MARGIN = 5.0
_MAX_BATCH = 100
DEFAULT_BACKOFF = Backoff()


def _client_of(queue: Arque) -> Any:
    """The asyncio client of ``queue``."""
    return queue.redis


class Worker:
    """Runs ``handler`` on the tasks of one or more queues.

    ``async def handler(data, ctx)`` gets the task's data and its
    ``TaskContext``. Returning releases the task; raising requeues it after
    ``backoff`` (``Retry(delay)`` after that delay; ``Fail(reason)``
    dead-letters it at once). At most ``concurrency`` handlers run at once;
    each runs at most ``task_timeout`` seconds (default: the task's lease),
    then it is cancelled and the attempt counts as failed. Leases of running
    tasks are renewed every ``heartbeat_interval`` seconds (default: a third
    of the shortest lease) from a thread, so a handler that blocks the event
    loop keeps its task. Each queue is swept every ``sweep_interval`` seconds
    (None: never). ``batch_size`` caps the tasks of one fetch and one release
    (default: ``concurrency``, at most 100). ``health`` chooses the liveness
    file and HTTP endpoint. ``heartbeat_client`` is a synchronous client for
    the heartbeat thread (default: one made like the queue's client,
    standalone, cluster or Sentinel). ``registry_ttl``: how long the live
    workers list keeps this worker without a refresh; ``metrics=True``:
    Prometheus on the health port's ``/metrics``; ``observers``:
    ``WorkerObserver``s of its events. See ``docs/workers.md`` and
    ``docs/observability.md``. With ``schedules`` (the default) it fires the
    due schedules of its queues (docs/schedules.md). A task cancelled while it
    runs (``Arque.cancel``) has its handler cancelled within a heartbeat
    interval. What a handler returns is kept when the queue keeps results
    (``result_ttl``).
    """

    def __init__(
        self, queue: Arque | Sequence[Arque], handler: Handler, *, concurrency: int = 10,
        task_timeout: float | None = None, backoff: Backoff = DEFAULT_BACKOFF,
        grace_period: float = 25.0, heartbeat_interval: float | None = None,
        sweep_interval: float | None = 5.0, batch_size: int | None = None,
        health: Health | None = None, name: str | None = None, heartbeat_client: Any = None,
        registry_ttl: float = DEFAULT_TTL, metrics: bool = False,
        observers: Sequence[WorkerObserver] = (), schedules: bool = True,
    ) -> None:
        self._queues = [queue] if isinstance(queue, Arque) else list(queue)
        if not self._queues or not all(isinstance(q, Arque) for q in self._queues):
            raise InvalidArgument("queue must be an Arque or a non-empty sequence of them")
        if not callable(handler):
            raise InvalidArgument(f"handler must be an async callable, got {handler!r}")
        if not isinstance(backoff, Backoff) or not isinstance(health, (Health, type(None))):
            raise InvalidArgument("backoff must be a Backoff and health a Health")
        check_integer("concurrency", concurrency)
        check_number("grace_period", grace_period, zero=True)
        for key, value in (("task_timeout", task_timeout), ("sweep_interval", sweep_interval),
                           ("heartbeat_interval", heartbeat_interval)):
            if value is not None:
                check_number(key, value)
        if batch_size is not None:
            check_integer("batch_size", batch_size)
        self._handler = handler
        self._concurrency = concurrency
        self._task_timeout = None if task_timeout is None else float(task_timeout)
        self._backoff = backoff
        self._grace_period = float(grace_period)
        self._heartbeat_interval = heartbeat_interval
        self._sweep_interval = sweep_interval
        self._batch = batch_size or min(concurrency, _MAX_BATCH)
        self._health_options = health or Health()
        self._name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._heartbeat_client = heartbeat_client
        self._observing = Observing(metrics=metrics, observers=observers,
                                    registry_ttl=check_number("registry_ttl", registry_ttl))
        self._events = self._observing.events
        self._schedules = bool(schedules)
        self._counters = Counters()
        self._in_flight = InFlight()
        self._state = "created"
        self._clock_offset = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[Any] | None = None
        self._stop_requested = False
        self._stop_event: asyncio.Event | None = None
        self._aborted = False
        self._runs: set[asyncio.Task[None]] = set()
        self._episodes = Episodes(logger, f"worker {self._name}")
        self._supervisor = Supervisor(self._name, self._counters, self._give_up)
        self._failure: str | None = None
        self._firers: list[asyncio.Task[None]] = []
        self._fetchers: list[tuple[Fetcher, asyncio.Task[None]]] = []
        self._ackers: list[Acker] = []
        self._processor: Processor | None = None
        self._heartbeat: Heartbeat | None = None
        self._sync_clients: list[Any] = []
        self._health = HealthSignals(
            self._health_options, lambda: self._counters.last_turn,
            lambda: self._counters.last_ok,
            lambda: self._state == "running" and not self._episodes.down,
            self._observing.render)

    @property
    def name(self) -> str:
        """This worker's name in logs (default ``host:pid``)."""
        return self._name

    @property
    def health_port(self) -> int | None:
        """The port the health endpoint listens on (once running), or None."""
        return self._health.port

    def stats(self) -> WorkerStats:
        """What this worker has done so far, and what it holds now."""
        c = self._counters
        running = self._processor.running if self._processor else 0
        return WorkerStats(
            name=self._name, state=self._state, processed=c.processed, failed=c.failed,
            timed_out=c.timed_out, retried=c.retried, dead_lettered=c.dead_lettered,
            released=c.released, refused=c.refused, handed_back=c.handed_back,
            in_flight=running, finishing=max(0, len(self._in_flight) - running),
            sweeps=c.sweeps, recovered=c.recovered, started_at=c.started_at,
            last_fetch_at=c.last_fetch_at, redis_ok=not self._episodes.down,
            abandoned=c.abandoned, restarts=c.restarts,
        )

    # -- lifecycle -------------------------------------------------------------

    def stop(self) -> None:
        """Shut down gracefully: take no more work, let in-flight handlers finish.

        Safe to call from any thread, and before ``run``.
        """
        loop = self._loop
        if loop is None or not loop.is_running():
            self._stop_requested = True
            return
        try:
            same = asyncio.get_running_loop() is loop
        except RuntimeError:
            same = False
        if same:
            self._request_stop()
        else:
            loop.call_soon_threadsafe(self._request_stop)

    def _request_stop(self) -> None:
        self._stop_requested = True
        if self._stop_event is not None:
            self._stop_event.set()

    def abort(self) -> None:
        """Stop at once (call on the worker's loop): in-flight tasks come back when
        their leases expire."""
        self._aborted = True
        if self._main is not None:
            self._main.cancel()

    async def run(self) -> None:
        """Run until ``stop()`` and the graceful shutdown that follows; a worker runs once.

        Raises ``WorkerFailed`` (after the same graceful shutdown) when one of
        its loops kept failing and could not be restarted.
        """
        if self._state != "created":
            raise RuntimeError("a Worker runs only once; make a new one")
        self._loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        self._stop_event = asyncio.Event()
        if self._stop_requested:
            self._stop_event.set()
        try:
            await self._start()
            await self._stop_event.wait()
            await self._drain()
        finally:
            await self._teardown()
        if self._failure is not None:
            raise WorkerFailed(f"worker {self._name} stopped: {self._failure}")

    def _give_up(self, reason: str) -> None:
        """A piece cannot go on: shut down gracefully, then ``run`` raises."""
        if self._failure is None:
            self._failure = reason
        self._request_stop()

    def run_forever(self) -> int:
        """Run in a new event loop until SIGTERM/SIGINT; returns the exit status.

        The first signal shuts down gracefully (status 0); a second one exits
        at once (status 1), leaving in-flight tasks to their leases. A worker
        whose loop kept failing shuts down gracefully with status 1.
        """
        return asyncio.run(self.serve())

    async def serve(self) -> int:
        """``run`` with the signal handling of ``run_forever``, in the running loop.

        For programs that own their loop (and e.g. close their clients after).
        """
        loop = asyncio.get_running_loop()
        received: list[int] = []

        def on_signal(signum: int) -> None:
            received.append(signum)
            if len(received) == 1:
                logger.warning("worker %s: %s, finishing in-flight tasks (up to %g s); "
                               "signal again to exit at once", self._name,
                               signal.Signals(signum).name, self._grace_period)
                self.stop()
            else:
                logger.warning("worker %s: second signal, exiting at once", self._name)
                self.abort()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            await self.run()
        except asyncio.CancelledError:
            if not self._aborted:
                raise
            return 1
        except WorkerFailed as exc:
            logger.critical("%s; exiting with status 1", exc)
            return 1
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        return 0

    # -- start -----------------------------------------------------------------

    async def _start(self) -> None:
        self._counters.started_at = time.time()
        self._events = self._observing.begin()
        await self._measure_clock()
        slots = Slots(self._concurrency)
        episodes, supervisor = self._episodes, self._supervisor
        self._ackers = [Acker(q, self._batch, self._acked, episodes, self._observing.on_error(q))
                        for q in self._queues]
        self._processor = Processor(self._handler, self._backoff, slots, self._in_flight,
                                    self._counters, self._ackers, lambda: self._clock_offset,
                                    episodes, self._events)
        sync_queues = self._sync_queues()
        processor, loop = self._processor, asyncio.get_running_loop()
        self._heartbeat = Heartbeat(self._in_flight, sync_queues, self._beat_interval,
                                    self._name, episodes,
                                    lambda r: self._events.refused(r.queue.queue),
                                    on_cancel=lambda record: loop.call_soon_threadsafe(
                                        processor.cancel, record))
        self._heartbeat.start()
        supervisor.spawn("the time-limit watchdog", self._processor.watchdog)
        heartbeat = self._heartbeat
        supervisor.spawn("the heartbeat watch", lambda: supervisor.watch(
            "the heartbeat thread", lambda: heartbeat.alive or self._state != "running"))
        await self._health.start()
        for index, queue in enumerate(self._queues):
            fetcher = Fetcher(queue, slots, self._batch, self._acceptor(index), self._alive,
                              _client_of(queue), episodes, self._observing.on_error(queue))
            name = repr(queue.queue)
            self._fetchers.append((fetcher, supervisor.spawn(f"fetch from {name}", fetcher.run)))
            supervisor.spawn(f"release on {name}", self._ackers[index].run)
            if self._sweep_interval is not None:
                sweeper = Sweeper(queue, self._sweep_interval, self._counters, episodes)
                supervisor.spawn(f"sweep of {name}", sweeper.run)
            if self._schedules:
                self._firers.append(
                    supervisor.spawn(f"schedules of {name}", Firer(queue, episodes).run))
        self._state = "running"
        self._observing.start(self._name, sync_queues, self._describe)
        logger.info("worker %s consuming %s with concurrency %d", self._name,
                    ", ".join(repr(q.queue) for q in self._queues), self._concurrency)

    def _describe(self) -> dict[str, Any]:
        """This worker's entry in the live workers list (called from the registry thread)."""
        from .. import __version__  # the package is initialised by the time a worker runs

        return {"queues": [q.queue for q in self._queues], "concurrency": self._concurrency,
                "in_flight": self._processor.running if self._processor else 0,
                "started": self._counters.started_at, "version": __version__,
                "health_port": self._health.port, "state": self._state,
                "working_limits": {q.queue: q.working_limit for q in self._queues},
                "tasks": [str(r.task_id) for r in self._in_flight.snapshot()[:LISTED_TASKS]]}

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        return task

    async def _measure_clock(self) -> None:
        """The offset of the Redis clock from ours: for the lease end shown to handlers
        (``ctx.deadline``) only; time limits come from the lease's length."""
        try:
            before = time.time()
            reply = await _client_of(self._queues[0]).time()
            after = time.time()
        except Exception as exc:  # noqa: BLE001 - without it, assume synchronised clocks
            logger.debug("cannot read the Redis clock: %r", exc)
            return
        if isinstance(reply, dict):  # a cluster client answers per node
            reply = next(iter(reply.values()))
        seconds, micros = reply
        self._clock_offset = int(seconds) + int(micros) / 1e6 - (before + after) / 2

    def _sync_queues(self) -> list[Arque]:
        """Each queue again on a synchronous client (one client per async client)."""
        by_client: dict[int, Any] = {}
        queues = []
        for queue in self._queues:
            client = _client_of(queue)
            if id(client) not in by_client:
                sync = self._heartbeat_client or sync_client_for(client)
                by_client[id(client)] = sync
                if self._heartbeat_client is None:
                    self._sync_clients.append(sync)
            queues.append(Arque(by_client[id(client)], queue.prefix, queue=queue.queue))
        return queues

    def _beat_interval(self) -> float:
        """Seconds between heartbeats (called from the heartbeat thread)."""
        if self._heartbeat_interval is not None:
            return float(self._heartbeat_interval)
        now = time.monotonic()
        leases = [r.lease for r in self._in_flight.snapshot() if r.renewable(now)]
        return max(0.05, min(leases) / 3) if leases else 1.0

    # -- the flow of one task --------------------------------------------------

    def _acceptor(self, index: int) -> Any:
        def accept(task_id: TaskId, data: Any) -> None:
            self._accept(index, task_id, data)
        return accept

    def _accept(self, index: int, task_id: TaskId, data: Any) -> None:
        """A fetched task (its slot already reserved): run it, or hand it back when quiet."""
        assert self._processor is not None
        now = time.monotonic()
        # The lease's length as Redis counted it: this host's clock plays no part.
        lease = max(0.001, task_id.lease)
        limit = lease if self._task_timeout is None else self._task_timeout
        record = Record(queue_index=index, queue=self._queues[index], task_id=task_id,
                        data=data, lease=lease, limit_at=now + limit, received_at=now,
                        deadline=task_id.deadline)
        self._in_flight.add(record)
        if self._state == "running":
            run = self._spawn(self._processor.run(record))
        else:
            run = self._spawn(self._processor.hand_back(record))
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)
        run.add_done_callback(self._supervisor.report)  # a bug: never silent

    def _acked(self, record: Record, applied: bool | None) -> None:
        self._in_flight.remove(record)
        if applied is None:  # let go, not settled: its lease hands it back
            self._counters.abandoned += 1
            return
        if applied:
            self._counters.released += 1
        else:
            self._counters.refused += 1
        self._events.settled(record.queue.queue, record.task_id,
                             "released" if applied else "lease_lost")

    def _alive(self, ok: bool) -> None:
        if ok:
            self._counters.fetched()
        else:
            self._counters.turned()
        self._health.alive()

    # -- stop ------------------------------------------------------------------

    async def _drain(self) -> None:
        """Quiet, grace period, hand back what is left, flush acks."""
        assert self._processor is not None
        loop = asyncio.get_running_loop()
        self._state = "draining"
        deadline = loop.time() + self._grace_period
        give_up = deadline + _FLUSH_MARGIN
        self._processor.give_up_at = give_up
        for fetcher, _ in self._fetchers:
            fetcher.quiet()
        for firer in self._firers:  # a worker that takes no more work fires no more runs
            firer.cancel()
        logger.info("worker %s draining: %d tasks in flight", self._name, self._processor.running)
        if self._runs:
            await asyncio.wait(set(self._runs), timeout=self._grace_period)
        left = [r for r in self._in_flight.snapshot() if r.handler and not r.handler.done()]
        if left:
            logger.warning("worker %s: grace period over, handing back %d tasks", self._name,
                           len(left))
        for record in left:
            record.handed_back = True
            assert record.handler is not None
            record.handler.cancel()
        for fetcher, _ in self._fetchers:
            fetcher.close()
        fetches = {task for _, task in self._fetchers}
        await asyncio.wait(fetches, timeout=BLOCK + 3.0)  # a fetch on the wire completes
        while self._runs and loop.time() < give_up:
            await asyncio.wait(set(self._runs), timeout=give_up - loop.time())
        if self._runs:  # their outcomes are still retried: teardown cancels them, say so
            logger.error("worker %s: Redis unavailable at shutdown; %d tasks are left to their "
                         "leases, which will bring them back", self._name, len(self._runs))
        for acker in self._ackers:
            if not await acker.drain(give_up):
                logger.error("worker %s: %d releases not applied (Redis unavailable); those "
                             "tasks will run again", self._name, len(acker))

    async def _teardown(self) -> None:
        """Stop every piece (at once after ``abort``); always runs."""
        tasks: list[asyncio.Future[Any]] = [*self._supervisor.tasks, *self._runs]
        tasks += [r.handler for r in self._in_flight.snapshot()
                  if r.handler is not None and not r.handler.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        if self._heartbeat is not None:
            self._heartbeat.stop()
            if not await self._heartbeat.stopped():
                logger.warning("worker %s: the heartbeat thread is still in a call", self._name)
        # Withdraws from the workers list, flushes the rollups: blocking calls, off the loop.
        await asyncio.to_thread(self._observing.stop)
        for client in self._sync_clients:
            client.close()
        for queue in self._queues:  # a timer that fired after the loop began to close would hang
            await queue.stop_timers()
        await self._health.stop()
        self._state = "stopped"
        stats = self.stats()
        logger.info("worker %s stopped: %d processed, %d failed, %d handed back", self._name,
                    stats.processed, stats.failed, stats.handed_back)
