"""The demo behind ``python -m arque demo``: producers, a worker, a live view.

Producers enqueue tasks, a quarter of them delayed. A ``Worker`` runs them
under a global ``working_limit``. Some tasks fail at random and are retried
after an exponential backoff; poison tasks fail every time and reach dead
letters after their last attempt; invalid ones are dead-lettered at once
(``Fail``); now and then one overruns its time limit and is cancelled and
retried. The view shows the tasks per state and the throughput: redrawn in
place on a terminal, else one line a second.

Only the public API is used. The demo has a queue of its own
(``demo-<hex>``) and deletes its keys on exit. Redis is ``--redis`` or
``$REDIS_URL``; else a server on 127.0.0.1:6379 if it answers at once; else
an embedded ``redis-server`` (:class:`arque.testing.RedisServer`), stopped on
exit. ``ARQUE_DEMO_NO_LOCAL=1`` skips the probe of 6379 (for tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import signal
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import Arque, ArqueError
from ._demo_view import Counts, LineView, LiveView, View
from .urls import redact
from .worker import Backoff, Fail, TaskContext, Worker

if TYPE_CHECKING:  # the runtime imports it only to start an embedded server
    from .testing import RedisServer

__all__ = ["LOCAL_URL", "NO_LOCAL_ENV", "DemoOptions", "run"]

LOCAL_URL = "redis://127.0.0.1:6379"
"""The server the demo uses when it answers and none is configured."""
NO_LOCAL_ENV = "ARQUE_DEMO_NO_LOCAL"
"""Set to 1 to skip the probe of :data:`LOCAL_URL` (tests must not touch it)."""

_PROBE_TIMEOUT = 0.3
_PRODUCE_PAUSE = (0.03, 0.12)  # seconds between two tasks of one producer
_DELAYED_SHARE, _DELAY = 0.25, (0.5, 3.0)
_POISON_SHARE = 0.03  # raise on every attempt: dead letters after the last one
_INVALID_SHARE = 0.02  # Fail at once: dead letters, reason rejected
_FAIL_SHARE = 0.10  # raise once in a while: retried after a backoff
_SLOW_SHARE = 0.01  # overrun the time limit: cancelled, retried
_WORK = (0.03, 0.2)  # seconds of work per task
_BACKOFF = Backoff(base=0.25, factor=2.0, max=2.0)
_TASK_TIMEOUT = 2.0  # the lease of a hand-out
_TIME_LIMIT = 1.0  # the worker cancels a handler after this long
_SWEEP_INTERVAL = 1.0
_GRACE_PERIOD = 1.0  # on stop, what in-flight handlers get to finish
_STOP_TIMEOUT = 2.0  # then the worker is aborted: a dead Redis cannot take hand-backs
_STOP_GRACE = 0.5  # Ctrl-C reaches an embedded server too; its exit may beat our handler


@dataclass(frozen=True)
class DemoOptions:
    """What ``python -m arque demo`` was asked for."""

    seconds: float | None = None
    """Run this long; None: until SIGINT or SIGTERM."""
    producers: int = 2
    concurrency: int = 8
    """Handlers the worker runs at once."""
    working_limit: int = 5
    redis_url: str | None = None
    """None: ``$REDIS_URL``, else the local server, else an embedded one."""
    live: bool | None = None
    """Redraw the view in place; None: when stdout is a terminal."""


def run(options: DemoOptions, out: Callable[[str], None] | None = None) -> int:
    """Run the demo; returns the exit status (0 after a clean stop)."""
    say = out or functools.partial(print, flush=True)
    with contextlib.ExitStack() as stack:
        try:
            url, embedded = _choose_redis(options, stack, say)
        except _NoRedis as exc:
            print(f"arque demo: no Redis to use: {exc}", file=sys.stderr)
            return 1
        return asyncio.run(_demo(url, embedded, options, say))
    raise AssertionError("unreachable")  # for mypy: ExitStack may swallow exceptions


def _choose_redis(
    options: DemoOptions, stack: contextlib.ExitStack, say: Callable[[str], None]
) -> tuple[str, RedisServer | None]:
    if options.redis_url:
        say(f"Redis: {redact(options.redis_url)} (from --redis)")
        return options.redis_url, None
    if os.environ.get("REDIS_URL"):
        say(f"Redis: {redact(os.environ['REDIS_URL'])} (from $REDIS_URL)")
        return os.environ["REDIS_URL"], None
    if os.environ.get(NO_LOCAL_ENV) != "1" and _answers(LOCAL_URL):
        say(f"Redis: {LOCAL_URL} (the local server)")
        return LOCAL_URL, None
    server = _start_embedded(stack, say)
    version = ".".join(map(str, server.version))
    say(f"Redis: {server.url} (embedded redis-server {version} from {server.binary}, "
        f"dir {server.dir}; stopped on exit)")
    return server.url, server


class _NoRedis(Exception):
    """No Redis was given or answers, and none could be started."""


def _start_embedded(stack: contextlib.ExitStack, say: Callable[[str], None]) -> RedisServer:
    # Imported only now: it starts servers, and the runtime does not need it otherwise.
    from .testing import RedisNotFoundError, RedisServer, RedisServerError

    try:
        server = RedisServer()
        stack.callback(_stop_embedded, server, say)
        server.start()
    except (RedisNotFoundError, RedisServerError) as exc:
        raise _NoRedis(str(exc)) from exc
    return server


def _answers(url: str) -> bool:
    client = redis.Redis.from_url(
        url, socket_connect_timeout=_PROBE_TIMEOUT, socket_timeout=_PROBE_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _stop_embedded(server: RedisServer, say: Callable[[str], None]) -> None:
    server.cleanup()
    say("Embedded redis-server stopped.")


async def _demo(
    url: str, embedded: RedisServer | None, options: DemoOptions, say: Callable[[str], None]
) -> int:
    client = aioredis.Redis.from_url(url)
    queue = Arque(
        client, queue=f"demo-{uuid.uuid4().hex[:12]}", working_limit=options.working_limit,
        task_timeout=_TASK_TIMEOUT,
    )
    worker = Worker(queue, _handle, concurrency=options.concurrency, task_timeout=_TIME_LIMIT,
                    backoff=_BACKOFF, grace_period=_GRACE_PERIOD, sweep_interval=_SWEEP_INTERVAL)
    counts = Counts()
    say(f"Queue {queue.queue!r}: {options.producers} producers, a worker with concurrency "
        f"{options.concurrency}, working_limit {options.working_limit}; "
        + (f"{options.seconds:g} s" if options.seconds else "Ctrl-C to stop") + ".")
    live = options.live if options.live is not None else sys.stdout.isatty()
    view: View = LiveView(queue.queue, options.working_limit) if live else LineView(say)
    try:
        status = await _run_loops(queue, worker, options, counts, view, say)
        with contextlib.suppress(ArqueError):  # an embedded server may be gone with Ctrl-C
            processed = worker.stats().processed
            say(f"{LineView.line(' final', await queue.stats())}  processed {processed}")
        if embedded is None:  # an embedded server's data goes with it
            await client.delete(*queue.keys.names().values())
            say(f"Deleted the keys of queue {queue.queue!r}.")
    finally:
        await client.aclose()
    done = worker.stats()
    say(f"Produced {counts.produced}, processed {done.processed}, retried {done.retried}, "
        f"dead-lettered {done.dead_lettered}, timed out {done.timed_out}, "
        f"handed back {done.handed_back}.")
    return status


async def _run_loops(
    queue: Arque, worker: Worker, options: DemoOptions, counts: Counts, view: View,
    say: Callable[[str], None],
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(signum, stop.set)
    running = asyncio.create_task(worker.run())
    loops = [asyncio.create_task(_produce(queue, counts)) for _ in range(options.producers)]
    loops.append(asyncio.create_task(_report(queue, worker, counts, view)))
    stopped = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait(
            [stopped, running, *loops], timeout=options.seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
        failed = [task for task in done if task is not stopped]
        if failed and not stop.is_set():
            await asyncio.sleep(_STOP_GRACE)
        view.close()
        if failed and not stop.is_set():
            say(f"Stopped: {failed[0].exception()!r}")
            return 1
        say("Stopping..." if stop.is_set() else f"{options.seconds:g} s are up: stopping...")
        return 0
    finally:
        await _cancel([stopped, *loops])
        await _stop(worker, running)
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signum)


async def _stop(worker: Worker, running: asyncio.Task[None]) -> None:
    """Stop the worker gracefully; abort it if Redis is too slow or gone to take hand-backs.

    A cooperative stop, not a cancel: on Python < 3.12 a cancel can be lost
    in redis-py's send path (CPython gh-86296), see :func:`_cancel`.
    """
    worker.stop()
    await asyncio.wait({running}, timeout=_STOP_TIMEOUT)
    if not running.done():
        worker.abort()  # in-flight tasks come back when their leases expire
        await asyncio.wait({running}, timeout=_STOP_TIMEOUT)
    await _cancel([running])


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait for them, cancelling again those that go on; ignore their errors.

    On Python < 3.12, ``asyncio.wait_for`` (redis-py sends every command in
    one) returns normally when cancelled just as its write completes, so one
    cancel() can be lost (CPython gh-86296).
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    for task in tasks:  # retrieved, so asyncio does not log them: they end the demo anyway
        if not task.cancelled():
            task.exception()


async def _produce(queue: Arque, counts: Counts) -> None:
    while True:
        roll = random.random()
        task: dict[str, Any] = {
            "value": random.randint(0, 99),
            "poison": roll < _POISON_SHARE,
            "invalid": _POISON_SHARE <= roll < _POISON_SHARE + _INVALID_SHARE,
        }
        delay = random.uniform(*_DELAY) if random.random() < _DELAYED_SHARE else None
        await queue.enqueue(task, delay=delay)
        counts.produced += 1
        await asyncio.sleep(random.uniform(*_PRODUCE_PAUSE))


async def _handle(data: Any, ctx: TaskContext) -> None:
    """The demo's work: returns (released), raises (retried), or ``Fail`` (dead letter)."""
    if data["invalid"]:
        raise Fail(f"task {data['value']} is invalid")
    slow = random.random() < _SLOW_SHARE
    await asyncio.sleep(_TIME_LIMIT * 2 if slow else random.uniform(*_WORK))
    if data["poison"]:
        raise RuntimeError(f"poison task {data['value']} (attempt {ctx.attempt})")
    if random.random() < _FAIL_SHARE:
        raise RuntimeError(f"task {data['value']} failed at random")


async def _report(queue: Arque, worker: Worker, counts: Counts, view: View) -> None:
    """Show the states and the throughput once a second."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    tick = 0
    while True:
        tick += 1
        await asyncio.sleep(max(0.0, started + tick - loop.time()))
        counts.take(worker.stats())
        view.show(tick, await queue.stats(), counts)
