"""``arque config show|set|reset``: the settings a queue stores, which every client applies."""

from __future__ import annotations

import dataclasses
from typing import Any

import click
import redis.asyncio as aioredis

from ..queue import Arque
from ..settings import QueueSettings
from ._base import (
    EXIT_CODES,
    ArqueGroup,
    ExitCode,
    Settings,
    echo_json,
    fail,
    one_queue_options,
    run,
)

__all__ = ["config"]

_NAMES = ", ".join(QueueSettings.names())


@click.group(cls=ArqueGroup, epilog=EXIT_CODES)
def config() -> None:
    """The queue's stored settings: show, set or reset them.

    Every client of the queue (workers, producers, `arque sweep`) applies
    the stored settings; one not stored takes each client's own value (the
    built-in default unless the client sets it). See docs/state-machine.md.
    """


def _queue(settings: Settings, client: aioredis.Redis) -> Arque:
    return Arque(client, prefix=settings.prefix, queue=settings.queue)


@config.command(epilog=EXIT_CODES)
@one_queue_options
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object: {"queue", "settings": {...}, "stored": [names]}.')
def show(settings: Settings, as_json: bool) -> None:
    """The effective settings of the queue, and which of them it stores.

    \b
    Example:
      arque config show --queue emails
    """

    async def body(client: aioredis.Redis) -> tuple[QueueSettings, dict[str, float]]:
        queue = _queue(settings, client)
        stored = await queue.stored_settings()
        return await queue.settings(), stored

    effective, stored = run(settings, body)
    values = dataclasses.asdict(effective)
    if as_json:
        echo_json({"queue": settings.queue, "settings": values, "stored": sorted(stored)})
        return
    width = max(len(name) for name in values)
    shown = {name: f"{value:g}" if isinstance(value, float) else str(value)
             for name, value in values.items()}
    value_width = max(len(text) for text in shown.values())
    for name, text in shown.items():
        click.echo(f"{name:<{width}}  {text:>{value_width}}  "
                   f"{'stored' if name in stored else 'default'}")


def _pairs(assignments: tuple[str, ...]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        if not sep or not text:
            fail(f"{item!r} is not NAME=VALUE (names: {_NAMES})", ExitCode.USAGE)
        try:
            changes[name] = int(text)
        except ValueError:
            try:
                changes[name] = float(text)
            except ValueError:
                fail(f"{item!r}: {text!r} is not a number", ExitCode.USAGE)
    return changes


@config.command("set", epilog=EXIT_CODES)
@click.argument("assignments", metavar="NAME=VALUE...", nargs=-1, required=True)
@one_queue_options
def set_(settings: Settings, assignments: tuple[str, ...]) -> None:
    """Store settings with the queue: every client applies them from its next call.

    NAME is one of working_limit, requeue_limit, recovery_limit, max_failed,
    failed_ttl (seconds; 0 keeps dead letters for ever), result_ttl (seconds a
    handler's result is kept; 0: off), max_results (0: unbounded), group_limit,
    rate_limit and rate_window (seconds), group_rate_limit and
    group_rate_window (seconds). See docs/scheduling.md.

    \b
    Example:
      arque config set requeue_limit=6 failed_ttl=0 --queue emails
      arque config set rate_limit=1000 rate_window=1 group_limit=5
    """
    changes = _pairs(assignments)

    async def body(client: aioredis.Redis) -> QueueSettings:
        return await _queue(settings, client).configure(**changes)

    run(settings, body)
    click.echo(f"Stored {', '.join(f'{k}={v}' for k, v in changes.items())} "
               f"for queue {settings.queue!r}.")


@config.command(epilog=EXIT_CODES)
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@one_queue_options
def reset(settings: Settings, names: tuple[str, ...]) -> None:
    """Remove stored settings: each client's own value (or the default) applies again.

    \b
    Example:
      arque config reset requeue_limit --queue emails
    """

    async def body(client: aioredis.Redis) -> QueueSettings:
        return await _queue(settings, client).configure(**dict.fromkeys(names))

    run(settings, body)
    click.echo(f"Removed {', '.join(names)} from the settings of queue {settings.queue!r}.")
