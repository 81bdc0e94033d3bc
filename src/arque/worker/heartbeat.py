"""The heartbeat: a thread that renews the leases of in-flight tasks.

It runs in its own thread with its own synchronous Redis client, so leases
are renewed even while a handler blocks the event loop with CPU work (no
false "stalled" recovery of a live task). Every beat renews all renewable
leases of one queue with ONE ``extend`` call. A task is renewable while its
handler runs within its time limit, and after the handler ended until the
outcome is applied: a handler that hangs past its limit, even one that
blocks the loop so that it cannot be cancelled, is no longer renewed, its
lease expires and the sweeper hands the task to another worker; so is a
finished task whose outcome Redis refused for ``FINISHED_HOLD`` seconds.
A beat that fails (a lost connection, any error reply) is tried again after
a backoff; nothing ends the thread but ``stop()``.

The sync client is built from the async client's connection settings
(host, port, db, credentials, TLS, unix socket; for a cluster client, its
nodes; for a Sentinel master client, its sentinels and service, so the
heartbeat follows a failover too). ``heartbeat_client=`` overrides it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import redis
import redis.cluster
import redis.sentinel

from ..connect import SentinelMasterSync
from ..printable import printable
from ..queue import Arque
from .outage import FAILURES, Episodes, Outage
from .state import InFlight, Record

__all__ = ["Heartbeat", "sync_client_for"]

logger = logging.getLogger("arque.worker")

_IDLE_TICK = 1.0
_SOCKET_TIMEOUT = 5.0
_COPIED = {
    "host", "port", "db", "username", "password", "credential_provider", "path",
    "socket_timeout", "socket_connect_timeout", "socket_keepalive", "client_name",
    "encoding", "encoding_errors",
}


def _settings(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in kwargs.items() if k in _COPIED or k.startswith("ssl_")}
    out["socket_timeout"] = out.get("socket_timeout") or _SOCKET_TIMEOUT
    out["socket_connect_timeout"] = out.get("socket_connect_timeout") or _SOCKET_TIMEOUT
    return out


def _is_ssl(connection_class: Any) -> bool:
    return "SSL" in getattr(connection_class, "__name__", "")


def sync_client_for(client: Any) -> Any:
    """A synchronous client on the same server as the asyncio ``client``."""
    nodes = getattr(client, "get_nodes", None)
    if nodes is not None and hasattr(client, "nodes_manager"):  # an asyncio RedisCluster
        kwargs = dict(client.get_connection_kwargs())
        settings = _settings(kwargs)
        settings.pop("path", None)
        ssl = _is_ssl(kwargs.get("connection_class"))
        if not ssl:
            settings = {k: v for k, v in settings.items() if not k.startswith("ssl_")}
        # Before its first command the client knows only its startup nodes.
        known = nodes() or list(client.nodes_manager.startup_nodes.values())
        startup = [redis.cluster.ClusterNode(n.host, n.port) for n in known]  # type: ignore[no-untyped-call]
        return redis.cluster.RedisCluster(startup_nodes=startup, ssl=ssl, **settings)
    pool = client.connection_pool
    if hasattr(pool, "sentinel_manager"):  # a redis.asyncio.sentinel master client
        return _sync_sentinel_client(pool)
    settings = _settings(dict(pool.connection_kwargs))
    kind = pool.connection_class.__name__
    if kind == "UnixDomainSocketConnection":
        connection_class: type[redis.Connection] | Any = redis.UnixDomainSocketConnection
        settings.pop("host", None)
        settings.pop("port", None)
    else:
        connection_class = redis.SSLConnection if kind == "SSLConnection" else redis.Connection
        settings = {k: v for k, v in settings.items() if k != "path"}
    if kind != "SSLConnection":
        settings = {k: v for k, v in settings.items() if not k.startswith("ssl_")}
    pool = redis.ConnectionPool(connection_class=connection_class, **settings)
    return redis.Redis.from_pool(pool)  # the client owns the pool: close() disconnects it


def _sync_sentinel_client(pool: Any) -> Any:
    """A sync master client asking the same sentinels about the same service."""
    manager = pool.sentinel_manager
    addresses = [(s.connection_pool.connection_kwargs["host"],
                  s.connection_pool.connection_kwargs["port"]) for s in manager.sentinels]
    settings = _settings(dict(pool.connection_kwargs))
    settings.pop("path", None)
    ssl = _is_ssl(pool.connection_class)
    if not ssl:
        settings = {k: v for k, v in settings.items() if not k.startswith("ssl_")}
    sentinel_kwargs = _settings(dict(manager.sentinel_kwargs))
    sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        addresses, sentinel_kwargs=sentinel_kwargs
    )
    return sentinel.master_for(  # type: ignore[no-untyped-call]
        pool.service_name, redis_class=SentinelMasterSync, ssl=ssl, **settings
    )


class Heartbeat:
    """The lease-renewing thread of a worker.

    ``queues[i]`` is queue ``i`` on a synchronous client;
    ``interval()`` gives the seconds between beats (re-read each beat);
    ``on_cancel(record)`` is called (from this thread) for a task whose
    renewal says it is being cancelled.
    """

    def __init__(
        self, in_flight: InFlight, queues: list[Arque], interval: Callable[[], float],
        name: str, episodes: Episodes, on_lost: Callable[[Record], None] | None = None,
        on_cancel: Callable[[Record], object] | None = None,
    ) -> None:
        self._in_flight = in_flight
        self._on_lost = on_lost or (lambda record: None)
        self._on_cancel = on_cancel
        self._queues = queues
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"arque-heartbeat-{name}",
                                        daemon=True)
        self._outage = Outage("heartbeat", logger, episodes=episodes)
        self._surprised = False
        self.beats = 0

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the thread runs."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop renewing; returns at once (a beat in progress ends first: ``await stopped()``)."""
        self._stop.set()
        self._in_flight.changed.set()

    async def stopped(self, timeout: float = _SOCKET_TIMEOUT + 1) -> bool:
        """After ``stop()``: wait (without blocking the event loop) for the thread to end."""
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                last = self._turn(last)
            except Exception:
                logger.exception("heartbeat: unexpected error; going on")
                self._stop.wait(_IDLE_TICK)

    def _turn(self, last: float) -> float:
        """Wait for the next beat, or beat; returns the time of the last beat."""
        wait = last + self._interval() - time.monotonic()
        if wait > 0:
            self._in_flight.changed.wait(min(wait, _IDLE_TICK))
            self._in_flight.changed.clear()
            return last
        last = time.monotonic()
        try:
            self.beat()
        except FAILURES as exc:
            return last - self._interval() + self._outage.failed(exc)  # try again soon
        except Exception:
            if not self._surprised:
                self._surprised = True
                logger.exception("heartbeat failed; trying again next beat")
            return last
        self._surprised = False
        self._outage.ok()
        return last

    def beat(self) -> None:
        """Renew every renewable lease, one ``extend`` call per queue."""
        now = time.monotonic()
        by_queue: dict[int, list[Record]] = defaultdict(list)
        for record in self._in_flight.snapshot():
            if record.renewable(now):
                by_queue[record.queue_index].append(record)
        for index, records in by_queue.items():
            deadlines = self._queues[index].extend_many_sync([r.task_id for r in records])
            for record, deadline in zip(records, deadlines):
                if deadline < 0:  # being cancelled: not renewed, the handler must stop
                    if self._on_cancel is not None and not record.cancelled:
                        self._on_cancel(record)
                elif deadline:
                    record.deadline = deadline
                elif not record.lost:
                    self._in_flight.mark(record, lost=True)
                    self._on_lost(record)
                    logger.warning("lease of task %s lost (recovered by a sweep?); its outcome "
                                   "will be refused", printable(record.task_id))
        self.beats += 1
