"""The live workers list: each worker registers itself in Redis, and expires on its own.

A running ``Worker`` writes, for each queue it consumes, its description
(host, pid, queues, concurrency, in flight, started, version, health port)
to ``workers:info`` and its registration expiry to the ``workers`` ZSET
(``register_worker.lua``, Redis clock). It refreshes both every third of
``ttl`` from a thread of its own with a synchronous client, so a handler
that blocks the event loop does not make the worker look dead. On a
graceful stop it withdraws; a worker that dies stops refreshing and drops
out of the list when its registration expires (the next registration of
any worker on the queue deletes it; readers skip it at once).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import ArqueError, InvalidArgument
from .queue import Arque
from .records import text
from .scripts import Scripts

__all__ = ["DEFAULT_TTL", "Registrar", "WorkerInfo", "list_workers", "list_workers_sync"]

logger = logging.getLogger("arque.worker")

DEFAULT_TTL = 15.0
"""Seconds a registration lives without a refresh (refreshed every third of it)."""
_LIST_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One live worker of a queue, as it registered itself."""

    name: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    in_flight: int
    """Handlers running at its last refresh."""
    started_at: float
    """Epoch seconds."""
    last_seen: float
    """Epoch seconds (Redis clock) of its last refresh."""
    expires_at: float
    """Epoch seconds (Redis clock) when it drops out unless refreshed."""
    version: str
    health_port: int | None
    tasks: tuple[str, ...] = ()
    """Ids of the tasks it held at its last refresh (at most 200)."""
    working_limits: dict[str, int] = field(default_factory=dict)
    """The ``working_limit`` in force on each of its queues when it last refreshed."""

    def to_json(self) -> dict[str, Any]:
        """The worker as a JSON-ready dict."""
        out = asdict(self)
        out["queues"] = list(self.queues)
        out["tasks"] = list(self.tasks)
        out["working_limits"] = dict(self.working_limits)
        return out


def _parse(reply: Sequence[Any]) -> list[WorkerInfo]:
    out = []
    for i in range(1, len(reply), 3):
        name, expires_ms, raw = text(reply[i]), float(reply[i + 1]), reply[i + 2]
        try:
            info = json.loads(text(raw)) if raw is not None else {}
        except ValueError:
            info = {}
        ttl = float(info.get("ttl", 0.0))
        out.append(WorkerInfo(
            name=name, host=str(info.get("host", "?")), pid=int(info.get("pid", 0)),
            queues=tuple(info.get("queues", ())), concurrency=int(info.get("concurrency", 0)),
            in_flight=int(info.get("in_flight", 0)), started_at=float(info.get("started", 0)),
            last_seen=expires_ms / 1000 - ttl, expires_at=expires_ms / 1000,
            version=str(info.get("version", "?")), health_port=info.get("health_port"),
            tasks=tuple(str(t) for t in info.get("tasks", ())),
            working_limits={str(k): int(v) for k, v in info.get("working_limits", {}).items()},
        ))
    return sorted(out, key=lambda w: w.name)


async def list_workers(queue: Arque) -> list[WorkerInfo]:
    """The live workers of ``queue``, by name (one atomic read)."""
    reply = await Scripts(queue.redis, queue.keys).call("list_workers", [_LIST_LIMIT])
    return _parse(reply)


def list_workers_sync(queue: Arque) -> list[WorkerInfo]:
    """``list_workers`` on a queue built on a synchronous client."""
    return _parse(Scripts(queue.redis, queue.keys).call_sync("list_workers", [_LIST_LIMIT]))


class Registrar:
    """The thread that keeps one worker registered on each of its queues.

    ``queues`` are the worker's queues on a synchronous client; ``describe()``
    gives the fields that change (``in_flight``); ``also`` runs on every
    refresh after registering (the throughput rollups' flush).
    """

    def __init__(
        self, name: str, queues: Sequence[Arque], describe: Callable[[], dict[str, Any]],
        ttl: float = DEFAULT_TTL, also: Callable[[], None] | None = None,
    ) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
            raise InvalidArgument(f"registry_ttl must be a positive number, got {ttl!r}")
        self._name = name
        self._queues = list(queues)
        self._describe = describe
        self._ttl = float(ttl)
        self._also = also
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"arque-registry-{name}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 6.0) -> None:
        """Stop refreshing and withdraw the registration (best effort)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._refresh(withdraw=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._refresh()
            self._stop.wait(self._ttl / 3)

    def _refresh(self, withdraw: bool = False) -> None:
        info = {"host": socket.gethostname(), "pid": os.getpid(), "ttl": self._ttl,
                **self._describe()}
        body = json.dumps(info, separators=(",", ":"))
        ttl_ms = 0 if withdraw else max(1, int(self._ttl * 1000))
        for queue in self._queues:
            try:
                Scripts(queue.redis, queue.keys).call_sync(
                    "register_worker", [self._name, ttl_ms, body])
            except ArqueError as exc:  # Redis away: the next refresh tries again
                logger.debug("cannot register worker %s on %r: %r", self._name, queue.queue, exc)
        if self._also is not None:
            try:
                self._also()
            except Exception:  # the thread must outlive any surprise
                logger.exception("worker %s: recording throughput failed", self._name)
