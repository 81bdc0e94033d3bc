"""Where arque's time goes: the server's cost per task, then the client's profile.

    .venv/bin/python benchmarks/where_time_goes.py [--tasks 20000] [--top 20]

Starts a private redis-server (arque.testing), then:

1. server time per task of each script in batches of 100 and one at a time,
   from ``INFO commandstats`` (usec per EVALSHA, divided by the batch);
2. the round-trip floor of redis.asyncio on this machine (PING);
3. a drain of N no-op tasks through ``Worker(concurrency=100)`` under
   cProfile, with the functions that cost the most.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from typing import Any

import redis.asyncio as aioredis

from arque import Arque, Worker
from arque.testing import RedisServer


async def script_usec(client: aioredis.Redis) -> float:
    stats = await client.info("commandstats")
    return float(stats["cmdstat_evalsha"]["usec_per_call"])


async def server_costs(client: aioredis.Redis) -> None:
    queue = Arque(client, queue="profile-server", working_limit=0)
    await queue.enqueue("warm-up")
    await queue.release((await queue.dequeue())[0])
    rows = []
    for label, batch in (("batches of 100", 100), ("one at a time", 1)):
        await client.config_resetstat()
        for _ in range(2000 // batch):
            await queue.enqueue_many(range(batch))
        enqueue = await script_usec(client) / batch
        await client.config_resetstat()
        taken = [await queue.dequeue_many(batch, timeout=1) for _ in range(2000 // batch)]
        dequeue = await script_usec(client) / batch
        await client.config_resetstat()
        for got in taken:
            await queue.release_many([task_id for task_id, _ in got])
        release = await script_usec(client) / batch
        rows.append((label, enqueue, dequeue, release))
    print("server time per task (us): enqueue / dequeue / release")
    for label, enqueue, dequeue, release in rows:
        print(f"  {label:15} {enqueue:6.1f} / {dequeue:6.1f} / {release:6.1f}")
    started = time.perf_counter()
    for _ in range(2000):
        await client.ping()
    print(f"redis.asyncio round trip (PING): {(time.perf_counter() - started) / 2000 * 1e6:.0f} us")


async def drain(client: aioredis.Redis, tasks: int, top: int) -> None:
    queue = Arque(client, queue="profile-drain", working_limit=0)
    for start in range(0, tasks, 1000):
        await queue.enqueue_many(range(start, min(tasks, start + 1000)))
    done = 0
    finished = asyncio.Event()

    async def handler(data: Any, ctx: Any) -> None:
        nonlocal done
        done += 1
        if done == tasks:
            finished.set()

    worker = Worker(queue, handler, concurrency=100)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    running = asyncio.ensure_future(worker.run())
    await finished.wait()
    profiler.disable()
    elapsed = time.perf_counter() - started
    worker.stop()
    await running
    print(f"\ndrain under cProfile: {tasks / elapsed:,.0f} tasks/s (slower than unprofiled)")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--top", type=int, default=20)
    options = parser.parse_args()
    with RedisServer() as server:
        client = aioredis.Redis.from_url(server.url, max_connections=300)
        try:
            await server_costs(client)
            await drain(client, options.tasks, options.top)
        finally:
            await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
