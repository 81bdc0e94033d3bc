"""``arque failed list|show|replay|purge``: the dead letters of one queue."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

import click
import redis.asyncio as aioredis

from ..dead_letters import CHUNK, FailedPage
from ..printable import printable
from ..queue import Arque
from ..records import DeadLetter, DeadReason
from ._base import (
    EXIT_CODES,
    ArqueGroup,
    ExitCode,
    Settings,
    echo_json,
    fail,
    jsonable,
    one_queue_options,
    run,
)

__all__ = ["failed"]

_ERROR_WIDTH = 60
_REASONS = ", ".join(reason.value for reason in DeadReason)
_REASON_CHOICE = click.Choice([reason.value for reason in DeadReason])


@click.group(cls=ArqueGroup, epilog=EXIT_CODES)
def failed() -> None:
    """Dead letters: list, show, replay or purge them."""


def _queue(settings: Settings, client: aioredis.Redis) -> Arque:
    return Arque(client, prefix=settings.prefix, queue=settings.queue)


def record(letter: DeadLetter, queue: str) -> dict[str, Any]:
    """A dead letter as a JSON object."""
    return {"queue": queue, **dataclasses.asdict(letter)}


@failed.command("list", epilog=EXIT_CODES)
@one_queue_options
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--cursor", metavar="C", default=None,
              help="Start after the page that printed this cursor (the next page).")
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True,
              help="Skip this many (of those of --reason, if given); pages shift as dead "
                   "letters come and go: prefer --cursor.")
@click.option("--reason", metavar="R", type=_REASON_CHOICE, default=None,
              help=f"Only those of a reason: {_REASONS}.")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object: {"queue", "total", "tasks": [...], "next_cursor"}.')
def list_(settings: Settings, limit: int, cursor: str | None, offset: int, reason: str | None,
          as_json: bool) -> None:
    """Dead letters of the queue, newest first, a page at a time.

    A page that has more after it ends with its cursor: pass it to --cursor
    for the next page.

    \b
    Examples:
      arque failed list --queue emails --limit 50
      arque failed list --queue emails --cursor MTc2NzI1Nzk5ODAwMDo0YWYwYjEuLi4
      arque failed list --reason retries_exhausted --json
    """
    if cursor is not None and offset:
        raise click.UsageError("give --cursor or --offset, not both")

    async def body(client: aioredis.Redis) -> FailedPage:
        queue = _queue(settings, client)
        return await queue.list_failed(limit=limit, offset=offset, reason=reason, cursor=cursor)

    page = run(settings, body)
    if as_json:
        echo_json({"queue": settings.queue, "total": page.total,
                   "tasks": [record(letter, settings.queue) for letter in page],
                   "next_cursor": page.next_cursor})
        return
    if not page:
        click.echo(f"No dead letters{_of(reason)} in queue {settings.queue!r}"
                   + (" after that cursor." if cursor else
                      f" from offset {offset}." if offset else "."))
        return
    click.echo(_table(page))
    where = "" if cursor else f"{offset + 1}-{offset + len(page)} of "
    click.echo(f"\n{where}{page.total} dead letters{_of(reason)} in queue {settings.queue!r}.")
    if page.next_cursor is not None:
        click.echo(f"Next page: --cursor {page.next_cursor}")


def _of(reason: str | None) -> str:
    return "" if reason is None else f" of reason {reason!r}"


def _table(letters: list[DeadLetter]) -> str:
    rows = [("task_id", "reason", "attempts", "failed_at", "error")]
    for letter in letters:
        error = (letter.error or "").strip().splitlines()
        first = printable(error[0]) if error else ""
        if len(first) > _ERROR_WIDTH:
            first = first[: _ERROR_WIDTH - 3] + "..."
        rows.append((printable(letter.task_id), printable(letter.reason), str(letter.attempts),
                     _when(letter.failed_at), first))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]])
                     .rstrip() for row in rows)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


@failed.command(epilog=EXIT_CODES)
@click.argument("task_id")
@one_queue_options
@click.option("--json", "as_json", is_flag=True, help="The dead letter as one JSON object.")
def show(settings: Settings, task_id: str, as_json: bool) -> None:
    """One dead letter: its data, attempts, reason and last error (exit 1 if not found).

    \b
    Example:
      arque failed show 3f2a9c... --json
    """

    async def body(client: aioredis.Redis) -> DeadLetter | None:
        return await _queue(settings, client).get_failed(task_id)

    letter = run(settings, body)
    if letter is None:
        fail(f"task {task_id!r} is not in the dead letters of queue {settings.queue!r}")
    if as_json:
        echo_json(record(letter, settings.queue))
        return
    fields = [("task_id", printable(letter.task_id)), ("queue", settings.queue),
              ("reason", printable(letter.reason)), ("attempts", str(letter.attempts)),
              ("requeues", str(letter.requeues)), ("recoveries", str(letter.recoveries)),
              ("enqueued_at", _when(letter.enqueued_at)), ("failed_at", _when(letter.failed_at)),
              ("data", printable(json.dumps(letter.data, default=jsonable, ensure_ascii=False)))]
    for name, value in fields:
        click.echo(f"{name:<12} {value}")
    click.echo("error:")
    for line in (letter.error or "(none)").splitlines():
        click.echo(f"  {printable(line)}")


def _bulk_command(verb: str, doing: str, done: str, method: str, help_text: str) -> click.Command:
    """``replay`` or ``purge`` (the script ``verb`` names): one by id, or many with --all / --reason."""

    @click.command(verb, epilog=EXIT_CODES, help=help_text)
    @click.argument("task_id", required=False)
    @one_queue_options
    @click.option("--all", "all_", is_flag=True, help="Every dead letter of the queue.")
    @click.option("--reason", metavar="R", type=_REASON_CHOICE, default=None,
                  help=f"Every dead letter of a reason: {_REASONS}.")
    @click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
    def command(settings: Settings, task_id: str | None, all_: bool, reason: str | None,
                yes: bool) -> None:
        if task_id is not None and (all_ or reason is not None):
            raise click.UsageError("give a TASK_ID, or --all / --reason, not both")
        if task_id is None and not all_ and reason is None:
            raise click.UsageError("give a TASK_ID, --all or --reason R")

        async def body(client: aioredis.Redis) -> int:
            queue = _queue(settings, client)
            if task_id is not None:
                act: Callable[[str], Awaitable[int]] = getattr(queue, method)
                return await act(task_id)
            count = (await queue.list_failed(limit=1, reason=reason)).total
            if count == 0:
                return 0
            _confirm(f"{verb.capitalize()} {count} dead letters{_of(reason)} of queue "
                     f"{settings.queue!r}?", yes)
            return await _each(queue, verb, reason, count, doing.capitalize())

        count = run(settings, body)
        if task_id is not None and count == 0:
            fail(f"task {task_id!r} is not in the dead letters of queue {settings.queue!r}")
        click.echo(f"{done.capitalize()} {count} dead letter{'' if count == 1 else 's'}"
                   f"{_of(reason)} of queue {settings.queue!r}.")

    return command


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{question[:-1]}: that needs --yes when stdin is not a terminal", ExitCode.USAGE)
    if not click.confirm(question, default=False, err=True):
        fail("declined: nothing changed")


async def _each(queue: Arque, script: str, reason: str | None, count: int, label: str) -> int:
    """Replay or purge the chosen dead letters a chunk (one script call) at a time."""
    done = 0
    with _progress(count, label) as bar:
        async for chunk in queue.dead_letters.chunks(script, reason, at_most=count):
            done += chunk
            bar.update(chunk)
    return done


@contextlib.contextmanager
def _progress(count: int, label: str) -> Iterator[Any]:
    """A progress bar on stderr when it is a terminal and there is more than a page."""
    if count <= CHUNK // 10 or not sys.stderr.isatty():
        yield _NoBar()
        return
    with click.progressbar(length=count, label=label, file=sys.stderr) as bar:
        yield bar


class _NoBar:
    def update(self, steps: int) -> None:
        """Nothing to show."""


failed.add_command(_bulk_command(
    "replay", "replaying", "replayed", "replay_failed",
    """Put dead letters back to pending with fresh attempts.

    One by TASK_ID (exit 1 if not found), or many: --all, or --reason R.
    Many need --yes, or a confirmation when stdin is a terminal.

    \b
    Examples:
      arque failed replay 3f2a9c...
      arque failed replay --reason lease_expired --yes
    """))
failed.add_command(_bulk_command(
    "purge", "purging", "purged", "purge_failed",
    """Delete dead letters for good.

    One by TASK_ID (exit 1 if not found), or many: --all, or --reason R.
    Many need --yes, or a confirmation when stdin is a terminal.

    \b
    Examples:
      arque failed purge 3f2a9c...
      arque failed purge --all --yes
    """))
