"""``arque metrics``: a Prometheus exporter of the queue gauges (``arque[metrics]``)."""

from __future__ import annotations

import signal
import threading

import click
import redis

from ..errors import ArqueError
from ..queue import Arque
from ._base import EXIT_CODES, ExitCode, Settings, connection_options, fail

__all__ = ["metrics"]


@click.command(epilog=EXIT_CODES)
@connection_options
@click.option("--port", type=click.IntRange(0, 65535), default=9808, show_default=True,
              help="Serve GET /metrics on this port.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
def metrics(settings: Settings, port: int, host: str) -> None:
    """Export the queue gauges to Prometheus until Ctrl-C or SIGTERM.

    One read-only script per queue and scrape gives arque_tasks{queue,state},
    arque_oldest_ready_age_seconds, arque_oldest_lease_age_seconds,
    arque_working_limit and arque_workers. Worker counters and histograms
    are served by each worker on its --health-port (/metrics).

    \b
    Example:
      arque metrics --queue emails --queue sms --port 9808
    """
    try:
        from ..metrics import queue_gauges_sync, serve_queue_metrics
    except ImportError:  # pragma: no cover - depends on the installed extras
        fail("arque metrics needs prometheus-client: pip install 'arque[metrics]'")
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5,
                                      socket_timeout=10)
    except ValueError as exc:
        fail(f"bad Redis URL {settings.where!r}: {exc}", ExitCode.UNREACHABLE)
    # No settings given: a reader never writes the queue's config.
    queues = [Arque(client, prefix=settings.prefix, queue=name)
              for name in dict.fromkeys(settings.queues)]
    try:
        queue_gauges_sync(queues[0])
    except ArqueError as exc:
        fail(f"cannot read from Redis at {settings.where}: {exc}", ExitCode.UNREACHABLE)
    server = serve_queue_metrics(queues, port, host)
    click.echo(f"serving the gauges of {', '.join(repr(q.queue) for q in queues)} on "
               f"http://{host}:{server.server_port}/metrics", err=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    server.server_close()
    client.close()
