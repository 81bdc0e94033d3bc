"""``arque task ID`` (a task and its progress), ``arque cancel ID``, ``arque result ID``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click
import redis.asyncio as aioredis

from ..errors import ResultNotFound, ResultTimeout, TaskFailed
from ..queue import Arque
from ._base import EXIT_CODES, Settings, echo_json, fail, jsonable, one_queue_options, run

__all__ = ["cancel", "result", "task"]

_TIMES = ("enqueue_time", "last_dequeue_time", "last_requeue_time", "last_delayed_pop_time")


def _queue(settings: Settings, client: aioredis.Redis) -> Arque:
    return Arque(client, prefix=settings.prefix, queue=settings.queue)


@click.command(epilog=EXIT_CODES)
@click.argument("task_id")
@one_queue_options
@click.option("--json", "as_json", is_flag=True, help="The task's statistics as one JSON object.")
def task(settings: Settings, task_id: str, as_json: bool) -> None:
    """One task: its state, attempts, last error and progress (exit 1 if not found).

    \b
    Example:
      arque task 3f2a9c... --queue emails
    """

    async def body(client: aioredis.Redis) -> dict[str, Any] | None:
        return await _queue(settings, client).get_task_stats(task_id)

    stats = run(settings, body)
    if stats is None:
        fail(f"no task {task_id!r} in queue {settings.queue!r} (unknown, or released)")
    if as_json:
        echo_json({"queue": settings.queue, "task_id": task_id, **stats})
        return
    click.echo(f"{'task_id':<22} {task_id}")
    for name, value in stats.items():
        if name in _TIMES and value is not None:
            value = datetime.fromtimestamp(value).astimezone().isoformat(timespec="seconds")
        elif name == "progress":
            value = json.dumps(value, default=jsonable, ensure_ascii=False)
        elif name == "error" and value:
            value = value.splitlines()[0]
        click.echo(f"{name:<22} {value}")


@click.command(epilog=EXIT_CODES)
@click.argument("task_id")
@one_queue_options
def cancel(settings: Settings, task_id: str) -> None:
    """Cancel a task: pending or delayed, it is a dead letter 'cancelled' at once;
    working, its worker stops it within a heartbeat interval. Exit 1 when the task is
    unknown, finished, or a dead letter already.

    \b
    Example:
      arque cancel 3f2a9c... --queue emails
    """

    async def body(client: aioredis.Redis) -> bool:
        return await _queue(settings, client).cancel(task_id)

    if not run(settings, body):
        fail(f"task {task_id!r} of queue {settings.queue!r} is not live: nothing to cancel")
    click.echo(f"cancelled {task_id}")


@click.command(epilog=EXIT_CODES)
@click.argument("task_id")
@one_queue_options
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds to wait for a live task to finish (default: wait as long as it takes).")
def result(settings: Settings, task_id: str, timeout: float | None) -> None:
    """Print what the task's handler returned (JSON), waiting for it to finish.

    Exit 1 when the task failed (dead letter), has no result (unknown, results
    off, or expired) or did not finish within --timeout.

    \b
    Example:
      arque result 3f2a9c... --queue reports --timeout 60
    """

    async def body(client: aioredis.Redis) -> Any:
        return await _queue(settings, client).result(task_id, timeout)

    try:
        value = run(settings, body)
    except (TaskFailed, ResultNotFound, ResultTimeout) as exc:
        fail(str(exc))
    echo_json(value)
