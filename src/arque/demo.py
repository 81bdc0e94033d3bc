"""The demo behind ``python -m arque demo``: the seed's loops, live.

Producers enqueue tasks, a quarter of them delayed. Consumers take them under
a global ``working_limit`` and back off when told ``__overloaded__``. Some
tasks fail at random and are requeued with an exponential backoff; poison
tasks fail every time and reach dead letters after their last attempt; now
and then a consumer drops a task as if it had crashed, and the sweeper
recovers it when its lease expires. One line of stats is printed a second.

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
import itertools
import os
import random
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import MARKED_AS_FAILED, NOT_FOUND, OVERLOADED, Arque, ArqueError, QueueStats, TaskId
from .testing import RedisNotFoundError, RedisServer, RedisServerError

__all__ = ["LOCAL_URL", "NO_LOCAL_ENV", "DemoOptions", "run"]

LOCAL_URL = "redis://127.0.0.1:6379"
"""The server the demo uses when it answers and none is configured."""
NO_LOCAL_ENV = "ARQUE_DEMO_NO_LOCAL"
"""Set to 1 to skip the probe of :data:`LOCAL_URL` (tests must not touch it)."""

_PROBE_TIMEOUT = 0.3
_PRODUCE_PAUSE = (0.03, 0.12)  # seconds between two tasks of one producer
_DELAYED_SHARE, _DELAY = 0.25, (0.5, 3.0)
_POISON_SHARE = 0.03  # fail on every attempt: dead letters
_FAIL_SHARE = 0.10  # fail once in a while: requeued with a backoff
_DROP_SHARE = 0.02  # neither released nor requeued: the sweeper recovers it
_WORK = (0.03, 0.2)  # seconds of work per task
_BACKOFF = 0.25  # seconds before the 2nd attempt, doubled for each next one
_TASK_TIMEOUT = 2.0  # the lease: how soon a dropped task is recovered
_SWEEP_INTERVAL = 1.0
_OVERLOADED_PAUSE = 0.05
_STOP_GRACE = 0.5  # Ctrl-C reaches an embedded server too; its exit may beat our handler


@dataclass(frozen=True)
class DemoOptions:
    """What ``python -m arque demo`` was asked for."""

    seconds: float | None = None
    """Run this long; None: until SIGINT or SIGTERM."""
    producers: int = 2
    consumers: int = 8
    working_limit: int = 5
    redis_url: str | None = None
    """None: ``$REDIS_URL``, else the local server, else an embedded one."""


@dataclass
class _Counters:
    produced: int = 0
    processed: int = 0
    retried: int = 0
    dropped: int = 0


def run(options: DemoOptions, out: Callable[[str], None] | None = None) -> int:
    """Run the demo; returns the exit status (0 after a clean stop)."""
    say = out or functools.partial(print, flush=True)
    with contextlib.ExitStack() as stack:
        try:
            url, embedded = _choose_redis(options, stack, say)
        except (RedisNotFoundError, RedisServerError) as exc:
            print(f"arque demo: no Redis to use: {exc}", file=sys.stderr)
            return 1
        return asyncio.run(_demo(url, embedded, options, say))
    raise AssertionError("unreachable")  # for mypy: ExitStack may swallow exceptions


def _choose_redis(
    options: DemoOptions, stack: contextlib.ExitStack, say: Callable[[str], None]
) -> tuple[str, RedisServer | None]:
    if options.redis_url:
        say(f"Redis: {options.redis_url} (from --redis)")
        return options.redis_url, None
    if os.environ.get("REDIS_URL"):
        say(f"Redis: {os.environ['REDIS_URL']} (from $REDIS_URL)")
        return os.environ["REDIS_URL"], None
    if os.environ.get(NO_LOCAL_ENV) != "1" and _answers(LOCAL_URL):
        say(f"Redis: {LOCAL_URL} (the local server)")
        return LOCAL_URL, None
    server = RedisServer()
    stack.callback(_stop_embedded, server, say)
    server.start()
    version = ".".join(map(str, server.version))
    say(f"Redis: {server.url} (embedded redis-server {version} from {server.binary}, "
        f"dir {server.dir}; stopped on exit)")
    return server.url, server


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
        sweep_interval=_SWEEP_INTERVAL, task_timeout=_TASK_TIMEOUT,
    )
    counters = _Counters()
    say(f"Queue {queue.queue!r}: {options.producers} producers, {options.consumers} consumers, "
        f"working_limit {options.working_limit}; "
        + (f"{options.seconds:g} s" if options.seconds else "Ctrl-C to stop") + ".")
    try:
        status = await _run_loops(queue, options, counters, say)
        with contextlib.suppress(ArqueError):  # an embedded server may be gone with Ctrl-C
            say(f"{_stats_line('final', await queue.stats())}  processed {counters.processed}")
        if embedded is None:  # an embedded server's data goes with it
            await client.delete(*queue.keys.names().values())
            say(f"Deleted the keys of queue {queue.queue!r}.")
    finally:
        await client.aclose()
    say(f"Produced {counters.produced}, processed {counters.processed}, "
        f"retried {counters.retried}, dropped {counters.dropped} (left to the sweeper).")
    return status


async def _run_loops(
    queue: Arque, options: DemoOptions, counters: _Counters, say: Callable[[str], None]
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(signum, stop.set)
    loops = [asyncio.create_task(_produce(queue, counters)) for _ in range(options.producers)]
    loops += [asyncio.create_task(_consume(queue, counters)) for _ in range(options.consumers)]
    loops += [asyncio.create_task(_report(queue, counters, say)),
              asyncio.create_task(queue.schedule_sweep())]
    stopped = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait(
            [stopped, *loops], timeout=options.seconds, return_when=asyncio.FIRST_COMPLETED
        )
        failed = [task for task in done if task is not stopped]
        if failed and not stop.is_set():
            await asyncio.sleep(_STOP_GRACE)
        if failed and not stop.is_set():
            say(f"Stopped: {failed[0].exception()!r}")
            return 1
        say("Stopping..." if stop.is_set() else f"{options.seconds:g} s are up: stopping...")
        return 0
    finally:
        await queue.unschedule_sweep()
        await _cancel([stopped, *loops])
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signum)


async def _cancel(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait for them, cancelling again those that go on; ignore their errors.

    On Python < 3.12, ``asyncio.wait_for`` (redis-py sends every command in
    one) returns normally when cancelled just as its write completes, so one
    cancel() can be lost (CPython gh-86296).
    """
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    for task in tasks:  # retrieved, so asyncio does not log them: they end the demo anyway
        if not task.cancelled():
            task.exception()


async def _produce(queue: Arque, counters: _Counters) -> None:
    while True:
        value = random.randint(0, 99)
        task: dict[str, Any] = {"value": value, "poison": random.random() < _POISON_SHARE}
        delay = random.uniform(*_DELAY) if random.random() < _DELAYED_SHARE else None
        await queue.enqueue(task, task_id=f"custom_{value}_{time.time()}", delay=delay)
        counters.produced += 1
        await asyncio.sleep(random.uniform(*_PRODUCE_PAUSE))


async def _consume(queue: Arque, counters: _Counters) -> None:
    while True:
        task_id, task_data = await queue.dequeue()
        if task_id is None or task_id in (NOT_FOUND, MARKED_AS_FAILED):
            continue
        if task_id == OVERLOADED:
            await asyncio.sleep(_OVERLOADED_PAUSE)
            continue
        try:
            await _process(task_data)
        except Exception as exc:  # noqa: BLE001 - a failed task is retried, not fatal
            attempt = task_id.attempt if isinstance(task_id, TaskId) else 1
            await queue.requeue(task_id, delay=_BACKOFF * 2 ** (attempt - 1), error=repr(exc))
            counters.retried += 1
            continue
        if random.random() < _DROP_SHARE:
            counters.dropped += 1  # as if this consumer had crashed: its lease will expire
            continue
        if await queue.release(task_id):
            counters.processed += 1


async def _process(task_data: Any) -> None:
    await asyncio.sleep(random.uniform(*_WORK))
    if task_data.get("poison"):
        raise RuntimeError(f"poison task {task_data['value']}")
    if random.random() < _FAIL_SHARE:
        raise RuntimeError(f"task {task_data['value']} failed at random")


async def _report(queue: Arque, counters: _Counters, say: Callable[[str], None]) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    processed = 0
    for tick in itertools.count(1):
        await asyncio.sleep(max(0.0, started + tick - loop.time()))
        stats = await queue.stats()
        per_second = counters.processed - processed
        say(f"{_stats_line(f'{tick:5d}s', stats)}  processed/s {per_second:5d}")
        processed = counters.processed


def _stats_line(when: str, stats: QueueStats) -> str:
    return (f"{when:>6}  pending {stats.pending:5d}  delayed {stats.delayed:5d}  "
            f"working {stats.working:5d}  failed {stats.failed:5d}")
