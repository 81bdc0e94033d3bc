"""``arque stats``: the tasks of each queue per state, once or live."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Sequence

import click
import redis.asyncio as aioredis

from ..queue import Arque
from ..records import QueueStats
from ..scheduling import GroupStats
from ._base import EXIT_CODES, Settings, connection_options, echo_json, run

__all__ = ["group_table", "stats", "table"]

COLUMNS = ("pending", "delayed", "working", "failed", "tasks")
GROUPS_SHOWN = 20  # groups with work listed per queue


@click.command(epilog=EXIT_CODES)
@connection_options
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object (one per line with --watch).")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=None,
              help="Seconds between two refreshes with --watch (default: 1).")
def stats(settings: Settings, as_json: bool, watch: bool, interval: float | None) -> None:
    """Tasks per state of each queue: pending, delayed, working, failed, and live tasks.

    Then the groups with work (up to 20 per queue): their pending and working
    tasks, and until when a full group_rate_limit window holds one back.

    \b
    Examples:
      arque stats --queue emails --queue sms
      arque stats --json        # {"time": ..., "queues": {"default": {"pending": 3, ...}},
                                #  "groups": {"default": [{"group": "t-42", "pending": 2, ...}]}}
      arque stats --watch --interval 0.5
    """
    if interval is not None and not watch:
        raise click.UsageError("--interval needs --watch")

    async def body(client: aioredis.Redis) -> None:
        queues = [Arque(client, prefix=settings.prefix, queue=name)
                  for name in dict.fromkeys(settings.queues)]
        if not watch:
            _show(settings, await _read(queues), as_json, None)
            return
        await _watch(settings, queues, as_json, interval or 1.0)

    run(settings, body)


Found = tuple[dict[str, QueueStats], dict[str, list[GroupStats]]]


async def _read(queues: Sequence[Arque]) -> Found:
    stats = {queue.queue: await queue.stats() for queue in queues}
    groups = {queue.queue: await queue.group_stats(GROUPS_SHOWN) for queue in queues}
    return stats, groups


async def _watch(settings: Settings, queues: Sequence[Arque], as_json: bool,
                 interval: float) -> None:
    """Show the stats every ``interval`` seconds until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(signum, stop.set)
    try:
        while not stop.is_set():
            _show(settings, await _read(queues), as_json, interval)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signum)


def _show(settings: Settings, read: Found, as_json: bool, interval: float | None) -> None:
    found, groups = read
    if as_json:
        echo_json({"time": round(time.time(), 3),
                   "queues": {name: s.as_dict() for name, s in found.items()},
                   "groups": {name: [_group_dict(g) for g in listed]
                              for name, listed in groups.items()}})
        return
    if interval is not None:
        click.clear()  # does nothing when stdout is not a terminal
        click.echo(f"{settings.where}  prefix {settings.prefix!r}  every {interval:g} s  "
                   f"{time.strftime('%H:%M:%S')}  (Ctrl-C to stop)\n")
    click.echo(table(found))
    if any(groups.values()):
        click.echo("\n" + group_table(groups))


def _group_dict(group: GroupStats) -> dict[str, object]:
    return {"group": group.group, "pending": group.pending, "working": group.working,
            "held_until": group.held_until}


def group_table(groups: dict[str, list[GroupStats]]) -> str:
    """An aligned table of the groups with work: one row per group."""
    rows: list[tuple[str, ...]] = [("queue", "group", "pending", "working", "held")]
    for name, listed in groups.items():
        for g in listed:
            held = "" if g.held_until is None else f"{max(0.0, g.held_until - time.time()):.2f}s"
            rows.append((name, g.group, str(g.pending), str(g.working), held))
    return _align(rows, 2)


def table(found: dict[str, QueueStats]) -> str:
    """An aligned table: one row per queue, one column per state."""
    rows: list[tuple[str, ...]] = [("queue", *COLUMNS)]
    rows += [(name, *(str(s.as_dict()[column]) for column in COLUMNS))
             for name, s in found.items()]
    return _align(rows, 1)


def _align(rows: list[tuple[str, ...]], text_columns: int) -> str:
    """Rows as aligned columns: the first ``text_columns`` to the left, numbers to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i < text_columns else cell.rjust(w)
                  for i, (cell, w) in enumerate(zip(row, widths)))
        for row in rows
    )
