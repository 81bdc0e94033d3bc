"""``arque workers``: the live workers of each queue, as they registered themselves."""

from __future__ import annotations

import time

import click
import redis.asyncio as aioredis

from ..printable import printable
from ..queue import Arque
from ..registry import WorkerInfo, list_workers
from ._base import EXIT_CODES, Settings, connection_options, echo_json, run

__all__ = ["workers"]

_COLUMNS = ("queue", "name", "host", "pid", "in flight", "concurrency", "up", "last seen",
            "version")


@click.command(epilog=EXIT_CODES)
@connection_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def workers(settings: Settings, as_json: bool) -> None:
    """Live workers of each queue: host, pid, in flight, concurrency, last seen.

    A worker refreshes its entry every few seconds and drops out of the list
    on its own when it dies.

    \b
    Examples:
      arque workers --queue emails --queue sms
      arque workers --json      # {"time": ..., "queues": {"emails": [{"name": ...}, ...]}}
    """

    async def body(client: aioredis.Redis) -> dict[str, list[WorkerInfo]]:
        return {name: await list_workers(Arque(client, prefix=settings.prefix, queue=name))
                for name in dict.fromkeys(settings.queues)}

    found = run(settings, body)
    if as_json:
        echo_json({"time": round(time.time(), 3),
                   "queues": {name: [w.to_json() for w in ws] for name, ws in found.items()}})
        return
    click.echo(table(found, time.time()))


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def table(found: dict[str, list[WorkerInfo]], now: float) -> str:
    """An aligned table: one row per worker and queue ("no live workers" when none)."""
    rows: list[tuple[str, ...]] = [_COLUMNS]
    for queue, live in found.items():
        for w in live:
            # What a worker registered is text from Redis: escaped like task ids.
            rows.append((printable(queue), printable(w.name), printable(w.host), str(w.pid),
                         str(w.in_flight), str(w.concurrency), _ago(now - w.started_at),
                         _ago(now - w.last_seen) + " ago", printable(w.version)))
    if len(rows) == 1:
        return "no live workers on " + ", ".join(repr(q) for q in found)
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in rows)
