"""``arque enqueue`` and ``arque sweep``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import click
import redis.asyncio as aioredis

from ..printable import printable
from ..queue import Arque
from ._base import (
    EXIT_CODES,
    CliError,
    ExitCode,
    Settings,
    connection_options,
    echo_json,
    one_queue_options,
    run,
)

__all__ = ["enqueue", "sweep"]

_CHUNK = 500  # payloads per enqueue_many round trip when reading stdin


@click.command(epilog=EXIT_CODES)
@click.argument("payload", metavar="PAYLOAD_JSON")
@one_queue_options
@click.option("--task-id", metavar="ID", default=None,
              help="The task's id (default: a random one), at most 1,024 bytes. A live id "
                   "is left as it is.")
@click.option("--delay", type=click.FloatRange(min=0), default=None,
              help="Seconds before the task is ready.")
@click.option("--task-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help=f"The lease of each hand-out, in seconds (default: {Arque.stale_timeout}).")
@click.option("--priority", type=click.IntRange(-1000, 1000), default=0, show_default=True,
              help="Higher runs first; equal priorities in enqueue order.")
@click.option("--group", metavar="NAME", default=None,
              help="The task's group (a tenant): groups take turns, group_limit caps each.")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object: {"queue", "task_ids": [...]}.')
def enqueue(
    settings: Settings, payload: str, task_id: str | None, delay: float | None,
    task_timeout: float | None, priority: int, group: str | None, as_json: bool,
) -> None:
    """Add a task whose data is PAYLOAD_JSON; prints its id.

    With `-` for PAYLOAD_JSON, reads one JSON payload per line from stdin
    and adds them in batches (blank lines are skipped); prints one id per line.

    \b
    Examples:
      arque enqueue '{"to": "ada@example.com"}' --queue emails --delay 60
      jq -c '.[]' batch.json | arque enqueue - --queue emails
      arque enqueue '{"repo": 42}' --group tenant-42 --priority 5
    """
    if payload == "-":
        if task_id is not None:
            raise click.UsageError("--task-id names one task: not with - (stdin)")
        stream = sys.stdin
    else:
        data = _parse(payload, "PAYLOAD_JSON")

    async def body(client: aioredis.Redis) -> list[str]:
        queue = Arque(client, prefix=settings.prefix, queue=settings.queue)
        if payload != "-":
            return [await queue.enqueue(data, task_id=task_id, task_timeout=task_timeout,
                                        delay=delay, priority=priority, group=group)]
        ids: list[str] = []
        for chunk in _chunks(stream):
            added = await queue.enqueue_many(chunk, task_timeout=task_timeout, delay=delay,
                                             priority=priority, group=group)
            if not as_json:
                click.echo("\n".join(added))  # ids made here: nothing to escape
            ids += added
        return ids

    ids = run(settings, body)
    if as_json:
        echo_json({"queue": settings.queue, "task_ids": ids})
    elif payload != "-":
        click.echo(printable(ids[0]))


def _parse(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliError(f"{where} is not JSON: {exc}", ExitCode.USAGE) from exc


def _chunks(stream: TextIO) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for number, line in enumerate(stream, 1):
        if line.strip():
            chunk.append(_parse(line, f"line {number} of stdin"))
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@click.command(epilog=EXIT_CODES)
@connection_options
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object: {"queues": {"NAME": count, ...}}.')
def sweep(settings: Settings, as_json: bool) -> None:
    """Sweep once: recover expired leases, promote due delayed tasks, expire old dead letters.

    Prints how many tasks went back to pending, per queue. Workers sweep on
    their own; this is for queues without one, or to see it happen.

    \b
    Example:
      arque sweep --queue emails --queue sms
    """

    async def body(client: aioredis.Redis) -> dict[str, int]:
        return {name: await Arque(client, prefix=settings.prefix, queue=name).sweep()
                for name in dict.fromkeys(settings.queues)}

    moved = run(settings, body)
    if as_json:
        echo_json({"queues": moved})
        return
    for name, count in moved.items():
        click.echo(f"{name}: {count} back to pending")
