"""``arque schedules list|add|remove``: the schedules of one queue."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click
import redis.asyncio as aioredis

from ..queue import Arque
from ..schedules import Schedule
from ._base import (
    EXIT_CODES,
    ArqueGroup,
    CliError,
    ExitCode,
    Settings,
    echo_json,
    fail,
    jsonable,
    one_queue_options,
    run,
)

__all__ = ["schedules"]


@click.group(cls=ArqueGroup, epilog=EXIT_CODES)
def schedules() -> None:
    """Schedules: tasks enqueued on a cron expression or every N seconds, fired by workers."""


def _queue(settings: Settings, client: aioredis.Redis) -> Arque:
    return Arque(client, prefix=settings.prefix, queue=settings.queue)


def _record(schedule: Schedule, queue: str) -> dict[str, Any]:
    found = dataclasses.asdict(schedule)
    found["next_run"] = schedule.next_run.isoformat()
    return {"queue": queue, **found}


def _when(schedule: Schedule) -> str:
    if schedule.cron is not None:
        return f"cron {schedule.cron!r} ({schedule.timezone})"
    return f"every {schedule.every:g} s"


@schedules.command("list", epilog=EXIT_CODES)
@one_queue_options
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object: {"queue", "schedules": [...]}.')
def list_(settings: Settings, as_json: bool) -> None:
    """Every schedule of the queue with its next run (local time).

    \b
    Example:
      arque schedules list --queue reports
    """

    async def body(client: aioredis.Redis) -> list[Schedule]:
        return await _queue(settings, client).schedules()

    found = run(settings, body)
    if as_json:
        echo_json({"queue": settings.queue,
                   "schedules": [_record(s, settings.queue) for s in found]})
        return
    if not found:
        click.echo(f"no schedules in queue {settings.queue!r}")
    for schedule in found:
        next_run = schedule.next_run.astimezone().isoformat(timespec="seconds")
        data = json.dumps(schedule.data, default=jsonable, ensure_ascii=False)
        click.echo(f"{schedule.name}  next {next_run}  {_when(schedule)}  v{schedule.version}  "
                   f"data {data}")


@schedules.command(epilog=EXIT_CODES)
@click.argument("name")
@click.argument("payload", metavar="PAYLOAD_JSON")
@one_queue_options
@click.option("--cron", metavar="EXPR", default=None,
              help="A cron expression, e.g. '*/5 * * * *' (needs arque[cron]).")
@click.option("--every", type=click.FloatRange(min=0.001), default=None,
              help="Seconds between runs (runs fall on multiples of it since the epoch).")
@click.option("--timezone", "tz", metavar="TZ", default="UTC", show_default=True,
              help="The IANA time zone the cron expression is read in.")
@click.option("--task-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help=f"The lease of each run's task, in seconds (default: {Arque.stale_timeout}).")
@click.option("--json", "as_json", is_flag=True, help="The schedule as one JSON object.")
def add(
    settings: Settings, name: str, payload: str, cron: str | None, every: float | None,
    tz: str, task_timeout: float | None, as_json: bool,
) -> None:
    """Create or replace schedule NAME, whose tasks get PAYLOAD_JSON as their data.

    Give --cron or --every. The same definition again changes nothing.

    \b
    Examples:
      arque schedules add cleanup '{"days": 30}' --every 3600 --queue maintenance
      arque schedules add report '{}' --cron '0 9 * * 1-5' --timezone Europe/Paris
    """
    if (cron is None) == (every is None):
        raise click.UsageError("give either --cron or --every")
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise CliError(f"PAYLOAD_JSON is not JSON: {exc}", ExitCode.USAGE) from exc

    async def body(client: aioredis.Redis) -> Schedule:
        return await _queue(settings, client).schedule(
            name, data, cron=cron, every=every, timezone=tz, task_timeout=task_timeout)

    made = run(settings, body)
    if as_json:
        echo_json(_record(made, settings.queue))
        return
    next_run = made.next_run.astimezone().isoformat(timespec="seconds")
    click.echo(f"{made.name}: {_when(made)}, next run {next_run} (version {made.version})")


@schedules.command(epilog=EXIT_CODES)
@click.argument("name")
@one_queue_options
def remove(settings: Settings, name: str) -> None:
    """Delete schedule NAME (tasks it enqueued stay); exit 1 if there is none.

    \b
    Example:
      arque schedules remove cleanup --queue maintenance
    """

    async def body(client: aioredis.Redis) -> bool:
        return await _queue(settings, client).unschedule(name)

    if not run(settings, body):
        fail(f"no schedule {name!r} in queue {settings.queue!r}")
    click.echo(f"removed schedule {name!r}")
