"""A task's life, measured: result wake-up, cancel of a running task, schedule lateness.

    .venv/bin/python benchmarks/life.py [--tasks 300] [--seconds 10]

Starts a private redis-server (arque.testing) and prints a Markdown table:

- **result wake-up**: a waiter blocked in ``queue.result(id)`` before the task
  runs; the time from ``release(id, result=...)`` to the waiter's return
  (p50/p99 over ``--tasks`` tasks, one at a time);
- **release with a result**: mean time of ``release`` with ``result_ttl`` on
  and off, one task at a time (the cost of keeping a result);
- **cancel of a running task**: a Worker running a handler that sleeps, with
  a lease of 3 s (heartbeat every 1 s); the time from ``cancel(id)`` to the
  task being a dead letter (p50/max over 10 tasks);
- **schedule lateness**: three ``Worker``s fire an ``every=0.5`` schedule for
  ``--seconds``; the time from each run's due time to its handler starting
  (p50/p99), and how many runs ran twice or were missed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import platform
import statistics
import time
from typing import Any

import redis.asyncio as aioredis

from arque import Arque, Worker
from arque.testing import RedisServer
from arque.worker import TaskContext


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def result_wakeup(client: aioredis.Redis, tasks: int) -> list[float]:
    queue = Arque(client, queue="results", result_ttl=60)
    waits: list[float] = []
    for n in range(tasks):
        await queue.enqueue(n, task_id=f"t{n}")
        waiter = asyncio.ensure_future(queue.result(f"t{n}"))
        await asyncio.sleep(0.002)  # the waiter is blocked in XREAD
        task_id, _ = await queue.dequeue()
        started = time.perf_counter()
        await queue.release(task_id, result=n)
        await waiter
        waits.append((time.perf_counter() - started) * 1000)
    return waits


async def release_cost(client: aioredis.Redis, tasks: int, ttl: float | None) -> float:
    queue = Arque(client, queue=f"release-{ttl}", result_ttl=ttl)
    await queue.enqueue_many(list(range(tasks)))
    spent = 0.0
    for _ in range(tasks):
        task_id, _ = await queue.dequeue()
        started = time.perf_counter()
        await queue.release(task_id, result={"rows": 1234, "ok": True})
        spent += time.perf_counter() - started
    return spent / tasks * 1e6


async def cancel_running(client: aioredis.Redis) -> list[float]:
    queue = Arque(client, queue="cancel")

    async def handler(data: Any, ctx: TaskContext) -> None:
        await asyncio.sleep(60)

    worker = Worker(queue, handler, sweep_interval=None, schedules=False, grace_period=0)
    run = asyncio.ensure_future(worker.run())
    took: list[float] = []
    try:
        for n in range(10):
            await queue.enqueue(n, task_id=f"c{n}", task_timeout=3)
            while (await queue.stats()).working == 0:
                await asyncio.sleep(0.005)
            started = time.perf_counter()
            await queue.cancel(f"c{n}")
            while await queue.get_failed(f"c{n}") is None:
                await asyncio.sleep(0.005)
            took.append(time.perf_counter() - started)
    finally:
        worker.stop()
        await run
    return took


async def schedule_lateness(client: aioredis.Redis, seconds: float) -> tuple[list[float], int, int]:
    queue = Arque(client, queue="schedules")
    await queue.schedule("tick", None, every=0.5)
    ran: dict[str, int] = {}
    late: list[float] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        task_id = str(ctx.task_id)
        ran[task_id] = ran.get(task_id, 0) + 1
        seconds_now, micros = await client.time()
        due_ms = int(task_id.rsplit(":", 1)[1])
        late.append((seconds_now * 1000 + micros / 1000) - due_ms)

    workers = [Worker(Arque(client, queue="schedules"), handler, sweep_interval=None)
               for _ in range(3)]
    runs = [asyncio.ensure_future(w.run()) for w in workers]
    await asyncio.sleep(seconds)
    for w in workers:
        w.stop()
    await asyncio.gather(*runs)
    ticks = sorted(int(t.rsplit(":", 1)[1]) for t in ran)
    missed = sum((b - a) // 500 - 1 for a, b in itertools.pairwise(ticks))
    twice = sum(1 for count in ran.values() if count > 1)
    return late, twice, missed


async def main(tasks: int, seconds: float) -> None:
    with RedisServer() as server:
        async with aioredis.Redis.from_url(server.url) as client:
            wake = await result_wakeup(client, tasks)
            off = await release_cost(client, tasks, None)
            on = await release_cost(client, tasks, 60)
            cancel = await cancel_running(client)
            late, twice, missed = await schedule_lateness(client, seconds)
            version = ".".join(map(str, server.version))
    print(f"Redis {version}, Python {platform.python_version()}, {platform.machine()}\n")
    print("| measure | figure |\n|---|---|")
    print(f"| result wake-up after release (ms) | p50 {statistics.median(wake):.2f}, "
          f"p99 {_pct(wake, 0.99):.2f} ({tasks} tasks) |")
    print(f"| release, results off / on (µs per call) | {off:.0f} / {on:.0f} |")
    print(f"| cancel of a running task, lease 3 s (s) | p50 {statistics.median(cancel):.2f}, "
          f"max {max(cancel):.2f} (10 tasks; heartbeat every 1 s) |")
    print(f"| schedule every=0.5 s, 3 workers, {seconds:g} s: run start after due (ms) | "
          f"p50 {statistics.median(late):.1f}, p99 {_pct(late, 0.99):.1f}; "
          f"{len(late)} runs, {twice} ran twice, {missed} missed |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.tasks, args.seconds))
