"""What every command shares: where Redis is, exit codes, and errors as one line.

A command reads its connection options (``--redis``, ``--prefix``,
``--queue``) from itself, else from the group, else from the defaults; it
runs its body with :func:`run`, which connects, checks that Redis answers and
closes the client. :class:`ArqueGroup` turns the errors a command may meet
into one line on stderr and an exit code a script can rely on.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import click
import redis.asyncio as aioredis
import redis.exceptions

from ..connect import client_from_url
from ..errors import REDIS_ERRORS, ArqueError, InvalidArgument, RedisUnavailable
from ..printable import printable, printable_json
from ..urls import redact

__all__ = [
    "DEFAULT_URL", "EXIT_CODES", "ArqueGroup", "CliError", "ExitCode", "Settings",
    "client_for", "connection_options", "echo_json", "fail", "group_options", "group_redis_url",
    "jsonable", "one_queue_options", "run",
]

T = TypeVar("T")

DEFAULT_URL = "redis://127.0.0.1:6379"
_PING_TIMEOUT = 5.0  # seconds for Redis to answer the first PING
_CONNECT_TIMEOUT = 5.0


class ExitCode(enum.IntEnum):
    """The exit status of ``arque``, the same for every command."""

    OK = 0
    REFUSED = 1  # not found, declined, or refused by Redis
    USAGE = 2  # click's usage errors, and arguments the API rejects
    UNREACHABLE = 3  # a bad Redis URL, or no answer from Redis
    BAD_HANDLER = 4  # worker: MODULE:HANDLER cannot be imported or is not a handler


EXIT_CODES = """\b
Exit codes:
  0  success
  1  not found, refused, or declined
  2  usage error (bad option or argument; --yes missing without a terminal)
  3  bad Redis URL, or Redis cannot be reached
  4  worker: MODULE:HANDLER cannot be imported or is not an async function"""


class CliError(click.ClickException):
    """An error a command reports as ``arque: error: ...`` and its exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.REFUSED) -> None:
        super().__init__(printable(" ".join(message.split())))  # one line, always
        self.exit_code = int(code)  # type: ignore[misc]  # click reads it per instance

    def show(self, file: Any = None) -> None:
        click.echo(f"arque: error: {self.format_message()}", err=True)


class ArqueGroup(click.Group):
    """A click group whose commands fail with one line and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # `arque stats --watch --json | head -1`
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise click.exceptions.Exit(int(ExitCode.REFUSED)) from None
        except InvalidArgument as exc:
            raise CliError(str(exc), ExitCode.USAGE) from exc
        except RedisUnavailable as exc:
            raise CliError(f"cannot reach Redis: {exc}", ExitCode.UNREACHABLE) from exc
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise CliError(f"cannot reach Redis: {exc}", ExitCode.UNREACHABLE) from exc
        except (ArqueError, *REDIS_ERRORS) as exc:
            raise CliError(f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise CliError(str(exc)) from exc


@dataclass(frozen=True)
class Settings:
    """Where a command works: the Redis URL, the key prefix and the queues."""

    redis_url: str
    prefix: str
    queues: tuple[str, ...]

    @property
    def queue(self) -> str:
        """The one queue of a command that works on one queue."""
        if len(self.queues) != 1:
            raise click.UsageError(f"this command works on one queue, not {len(self.queues)}: "
                                   "give --queue once")
        return self.queues[0]

    @property
    def where(self) -> str:
        """The Redis URL without its password, for messages."""
        return redact(self.redis_url)


@dataclass(frozen=True)
class _GroupOptions:
    redis_url: str | None
    prefix: str | None
    queues: tuple[str, ...]


def group_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The group's connection options, kept on the context for its commands."""

    def wrapper(ctx: click.Context, redis_url: str | None, prefix: str | None,
                queues: tuple[str, ...], **kwargs: Any) -> Any:
        ctx.obj = _GroupOptions(redis_url, prefix, queues)
        return f(**kwargs)

    functools.update_wrapper(wrapper, f)
    return _options(click.pass_context(wrapper))


def group_redis_url(ctx: click.Context) -> str | None:
    """The ``--redis`` given to the group, if any."""
    above = ctx.find_object(_GroupOptions)
    return None if above is None else above.redis_url


def connection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--redis``, ``--prefix`` and ``--queue`` to a command; it gets ``settings``."""
    return _connection(f, one_queue=False)


def one_queue_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``connection_options`` of a command that works on one queue.

    Several ``--queue`` are a usage error, found before anything connects.
    """
    return _connection(f, one_queue=True)


def _connection(command: Callable[..., Any], one_queue: bool) -> Callable[..., Any]:
    def wrapper(ctx: click.Context, redis_url: str | None, prefix: str | None,
                queues: tuple[str, ...], **kwargs: Any) -> Any:
        above = ctx.find_object(_GroupOptions) or _GroupOptions(None, None, ())
        settings = Settings(
            redis_url=redis_url or above.redis_url or os.environ.get("REDIS_URL") or DEFAULT_URL,
            prefix=prefix or above.prefix or "arque",
            queues=queues or above.queues or ("default",),
        )
        if one_queue:
            settings.queue  # noqa: B018 - raises the usage error
        return command(settings, **kwargs)

    functools.update_wrapper(wrapper, command)
    return _options(click.pass_context(wrapper), several=not one_queue)


def _options(f: Callable[..., Any], several: bool = True) -> Callable[..., Any]:
    queue_help = "Queue name (default: default)."
    if several:
        queue_help = ("Queue name (default: default); repeat it for several "
                      "(worker, stats, sweep).")
    f = click.option("--queue", "queues", metavar="NAME", multiple=True, help=queue_help)(f)
    f = click.option("--prefix", metavar="PREFIX", default=None,
                     help="Key prefix of the queues (default: arque).")(f)
    f = click.option("--redis", "redis_url", metavar="URL", default=None,
                     help=f"Redis URL (default: $REDIS_URL, else {DEFAULT_URL}); rediss:// for "
                          "TLS, redis+sentinel://host:port[,host:port]/SERVICE for Sentinel.")(f)
    return f


def client_for(settings: Settings) -> aioredis.Redis:
    """An asyncio client for ``settings.redis_url``; a URL redis-py cannot parse exits 3."""
    try:
        return client_from_url(settings.redis_url, socket_connect_timeout=_CONNECT_TIMEOUT)
    except ValueError as exc:
        raise CliError(f"bad Redis URL {settings.where!r}: {exc}", ExitCode.UNREACHABLE) from exc


async def _ping(client: aioredis.Redis, settings: Settings) -> None:
    try:
        await asyncio.wait_for(client.ping(), _PING_TIMEOUT)
    except asyncio.TimeoutError:
        raise CliError(f"Redis at {settings.where} did not answer within {_PING_TIMEOUT:g} s",
                       ExitCode.UNREACHABLE) from None
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        raise CliError(f"cannot reach Redis at {settings.where}: {exc}",
                       ExitCode.UNREACHABLE) from exc


def run(settings: Settings, body: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
    """Connect, check that Redis answers, run ``body(client)`` and close the client."""
    client = client_for(settings)

    async def main() -> T:
        try:
            await _ping(client, settings)
            return await body(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def jsonable(value: Any) -> Any:
    """What ``json.dumps`` cannot write as it is: bytes as text, the rest as repr."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return repr(value)


def echo_json(value: Any) -> None:
    """Write ``value`` as one line of JSON on stdout."""
    click.echo(printable_json(json.dumps(value, default=jsonable, ensure_ascii=False)))


def fail(message: str, code: ExitCode = ExitCode.REFUSED) -> NoReturn:
    """Stop the command with ``arque: error: message`` and ``code``."""
    raise CliError(message, code)
