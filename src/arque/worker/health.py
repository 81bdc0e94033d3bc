"""Health signals for an orchestrator: a touched file and a tiny HTTP endpoint.

Liveness says "this process is not stuck": the file's mtime is refreshed (at
most once a second) after each turn of the fetch loop, which makes one at
least every few seconds, idle or busy, and also while Redis fails (a turn is
then a failed call and a backoff): a probe checks that it is younger than,
say, 30 s. The HTTP endpoint answers ``GET /healthz`` 200 while the last turn
is younger than ``unhealthy_after`` (else 503) and ``GET /readyz`` 200 while
the worker is also making progress: running (not starting or shutting down),
no Redis episode under way, and a successful round trip of the fetch loop in
the last ``PROGRESS_WITHIN`` seconds. So an orchestrator restarts a stuck
worker, and only stops routing to (or counting on) one that waits for Redis.
With metrics on, ``GET /metrics`` answers the worker's Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from .options import Health

__all__ = ["HealthSignals", "file_is_fresh"]

logger = logging.getLogger("arque.worker")

_TOUCH_EVERY = 1.0
# The fetch loop completes a round trip at least every 2 s while Redis serves
# it; none for this long (e.g. a call held by a server busy with a script)
# means the worker makes no progress: not ready.
PROGRESS_WITHIN = 5.0
_REQUEST_TIMEOUT = 5.0
_MAX_HEADER_LINES = 100


def file_is_fresh(path: Path | str, max_age: float) -> bool:
    """Whether the health file exists and was touched less than ``max_age`` seconds ago."""
    try:
        return time.time() - os.stat(path).st_mtime < max_age
    except OSError:
        return False


class HealthSignals:
    """The health file and HTTP endpoint of one worker.

    ``last_turn()`` and ``last_ok()`` give the ``time.monotonic()`` of the
    last turn of the fetch loop and of its last successful round trip (None:
    none yet); ``ready()`` whether the worker takes work and Redis answers.
    """

    def __init__(self, options: Health, last_turn: Callable[[], float | None],
                 last_ok: Callable[[], float | None], ready: Callable[[], bool],
                 metrics: Callable[[], tuple[bytes, str]] | None = None) -> None:
        self._options = options
        self._file = None if options.file is None else Path(options.file)
        self._last_turn = last_turn
        self._last_ok = last_ok
        self._ready = ready
        self._metrics = metrics
        self._touched = 0.0
        self._server: asyncio.AbstractServer | None = None
        self.port: int | None = None

    def alive(self) -> None:
        """The fetch loop turned: refresh the file (at most once a second)."""
        now = time.monotonic()
        if self._file is None or now - self._touched < _TOUCH_EVERY:
            return
        self._touched = now
        try:
            self._file.touch()
        except OSError as exc:
            logger.warning("cannot touch the health file %s: %s", self._file, exc)

    def _fresh(self, last: float | None) -> bool:
        return last is not None and time.monotonic() - last < self._options.unhealthy_after

    def healthy(self) -> bool:
        """Liveness: the worker is not stuck (Redis may be failing)."""
        return self._fresh(self._last_turn())

    def ready(self) -> bool:
        """Readiness: alive, taking work, and Redis answers."""
        last = self._last_ok()
        within = min(PROGRESS_WITHIN, self._options.unhealthy_after)
        progress = last is not None and time.monotonic() - last < within
        return self.healthy() and progress and self._ready()

    async def start(self) -> None:
        if self._options.port is None:
            return
        self._server = await asyncio.start_server(
            self._serve, self._options.host, self._options.port
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        logger.info("health endpoint on %s:%d", self._options.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _answer(self, path: str) -> tuple[int, str | bytes, str]:
        if path == "/metrics" and self._metrics is not None:
            body, content_type = self._metrics()
            return 200, body, content_type
        if path == "/healthz":
            ok = self.healthy()
        elif path == "/readyz":
            ok = self.ready()
        else:
            return 404, "not found\n", "text/plain"
        return (200, "ok\n", "text/plain") if ok else (503, "unavailable\n", "text/plain")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), _REQUEST_TIMEOUT)
            for _ in range(_MAX_HEADER_LINES):  # read the headers, ignore them
                line = await asyncio.wait_for(reader.readline(), _REQUEST_TIMEOUT)
                if line in (b"\r\n", b"\n", b""):
                    break
            parts = request.decode("latin-1").split()
            body: str | bytes
            if len(parts) < 2 or parts[0] not in ("GET", "HEAD"):
                status, body, content_type = 405, "method not allowed\n", "text/plain"
            else:
                status, body, content_type = self._answer(parts[1].split("?", 1)[0])
            raw = body.encode() if isinstance(body, str) else body
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(
                status, "Service Unavailable")
            payload = raw if parts and parts[0] != "HEAD" else b""
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(raw)}\r\nConnection: close\r\n\r\n".encode() + payload
            )
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, UnicodeError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
