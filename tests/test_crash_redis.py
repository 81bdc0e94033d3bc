"""The Redis server SIGKILLed mid-run and restarted from its AOF: nothing is lost.

Producers and consumers run in the test process on a private server with
``appendfsync always``. Twice while they run, the server is killed with
SIGKILL and restarted on the same port and directory. The user's loops retry
on ``arque.RedisUnavailable``: an enqueue that raised may or may not have been
applied, so its id is retried with the same task_id (enqueue is idempotent).
At the end every id was processed at least once, nothing is in dead letters,
and the queue keeps no key.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis

from arque import Arque, RedisUnavailable, TaskId
from arque.testing import RedisServer
from helpers import EMPTY, queue_keys_left, seeded

TASKS = 1000
PRODUCERS = 2
CONSUMERS = 3
TASK_TIMEOUT = 1.0
REQUEUE_LIMIT = 10
# Two kills: at these fractions of the enqueues, down for so long (the second one
# outlasts the leases of the tasks in hand: they expire and are swept back).
KILLS = ((0.3, 0.5), (0.65, 1.5))
DRAIN_BOUND = 45.0

T = TypeVar("T")


class Run:
    """What producers and consumers saw, and how often Redis was away."""

    def __init__(self) -> None:
        self.enqueued: set[str] = set()  # enqueue returned
        self.maybe: set[str] = set()  # an enqueue of it raised: maybe applied, retried
        self.done: list[tuple[str, int]] = []
        self.released: Counter[str] = Counter()  # release returned True
        self.unavailable = 0
        self.producing = True


async def _retry(run: Run, call: Callable[[], Awaitable[T]]) -> T:
    """Call until Redis answers: the user's loop around an outage."""
    while True:
        try:
            return await call()
        except RedisUnavailable:
            run.unavailable += 1
            await asyncio.sleep(0.05)


async def _produce(queue: Arque, run: Run, ids: list[str], rng: random.Random) -> None:
    for task_id in ids:
        index = int(task_id.split("-")[1])
        while True:
            try:
                await queue.enqueue({"index": index}, task_id=task_id)
                break
            except RedisUnavailable:  # maybe applied: the same id again, after a pause
                run.unavailable += 1
                run.maybe.add(task_id)
                await asyncio.sleep(0.05)
        run.enqueued.add(task_id)
        await asyncio.sleep(rng.uniform(0.002, 0.008))


async def _consume(queue: Arque, run: Run, rng: random.Random) -> None:
    while True:
        try:
            task_id, task = await queue.dequeue(timeout=0.3)
        except RedisUnavailable:
            run.unavailable += 1
            await asyncio.sleep(0.05)
            continue
        if task_id is None:
            continue
        assert isinstance(task_id, TaskId) and task_id == f"task-{task['index']}"
        await asyncio.sleep(rng.uniform(0.005, 0.02))
        run.done.append((str(task_id), task_id.attempt))
        # A release whose reply was lost may have been applied: asked again, it says False.
        if await _retry(run, functools.partial(queue.release, task_id)):
            run.released[str(task_id)] += 1


async def _sweep(queue: Arque, run: Run) -> None:
    while True:
        await asyncio.sleep(0.2)
        try:
            await queue.sweep()
        except RedisUnavailable:
            run.unavailable += 1


@pytest.mark.slow
async def test_redis_sigkilled_and_restarted_loses_nothing(own_redis_server: RedisServer) -> None:
    server = own_redis_server
    began = time.monotonic()
    rng, seed = seeded("crash redis")
    name = f"crash-redis-{seed}"
    run = Run()
    clients = [aioredis.Redis.from_url(server.url, decode_responses=bool(i % 2))
               for i in range(PRODUCERS + CONSUMERS + 1)]
    queues = [Arque(c, queue=name, requeue_limit=REQUEUE_LIMIT, task_timeout=TASK_TIMEOUT)
              for c in clients]
    admin = queues[-1]
    ids = [f"task-{i}" for i in range(TASKS)]
    workers: list[asyncio.Task[Any]] = []
    kills = 0
    live_at_kill: list[int] = []
    try:
        producers = [asyncio.create_task(_produce(queues[p], run, ids[p::PRODUCERS], rng))
                     for p in range(PRODUCERS)]
        workers = [asyncio.create_task(_consume(queues[PRODUCERS + c], run, rng))
                   for c in range(CONSUMERS)]
        workers.append(asyncio.create_task(_sweep(admin, run)))

        for fraction, down_for in KILLS:
            while len(run.enqueued) < fraction * TASKS:
                assert not all(p.done() for p in producers)
                await asyncio.sleep(0.005)
            live_at_kill.append((await admin.get_stats())["tasks"])
            server.kill()  # no await in between: the figure is what the crash hit
            kills += 1
            await asyncio.sleep(down_for)
            await asyncio.to_thread(server.start)  # same port and dir: the AOF is loaded

        await asyncio.gather(*producers)
        deadline = time.monotonic() + DRAIN_BOUND
        while (stats := await _retry(run, admin.get_stats))["tasks"] > 0:
            assert time.monotonic() < deadline, stats
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # idle consumers look once more
    finally:
        for worker in workers:
            worker.cancel()
        results = await asyncio.gather(*workers, return_exceptions=True)
        stats = await admin.get_stats()
        dead = await admin.list_failed(limit=TASKS)
        leftover = await queue_keys_left(clients[0], admin)
        for client in clients:
            await client.aclose()
    runtime = time.monotonic() - began

    crashed = [r for r in results if not isinstance(r, asyncio.CancelledError)]
    done = Counter(task_id for task_id, _ in run.done)
    lost = sorted(set(ids) - set(done))
    duplicates = sorted(t for t, n in done.items() if n > 1)
    figures = {
        "redis": ".".join(map(str, server.version)), "seed": seed, "tasks": TASKS,
        "server_kills": kills, "live_tasks_at_kills": live_at_kill, "maybe_enqueued": len(run.maybe), "lost": len(lost),
        "duplicates": len(duplicates), "hand_outs": len(run.done),
        "unavailable_errors": run.unavailable, "runtime_s": round(runtime, 2),
    }
    print(f"\ncrash redis: {json.dumps(figures)}")

    assert crashed == []
    assert kills == len(KILLS) and run.unavailable > 0
    assert run.enqueued == set(ids)
    assert all(n > 0 for n in live_at_kill)
    assert lost == []
    assert dead == [], [(d.task_id, d.reason, d.attempts, d.error) for d in dead]
    # An id enqueued once and for sure is released once; a "maybe" id may live twice
    # (processed before its retried enqueue, then again).
    clean = run.enqueued - run.maybe
    assert all(run.released[t] <= 1 for t in clean), {t: run.released[t] for t in clean if run.released[t] > 1}
    assert stats == EMPTY
    # Only the owner's settings (requeue_limit) stay: configuration, not task data.
    assert leftover == [admin.keys.config]
