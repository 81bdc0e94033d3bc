"""Worker CPU per task: drain N no-op tasks through one Worker (concurrency 100).

    .venv/bin/python benchmarks/worker_cpu_per_task.py [N] [--metrics]
    PYTHONPATH=/path/to/other/checkout/src .venv/bin/python benchmarks/worker_cpu_per_task.py

Prints tasks per second (noisy on a shared machine) and the worker process's
CPU time per task (steadier: the figure to compare between two checkouts,
e.g. to see what the worker's observers cost). Uses a private redis-server.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import redis.asyncio as aioredis

from arque import Arque, Worker
from arque.testing import RedisServer


async def main(n: int, metrics: bool) -> None:
    with RedisServer() as server:
        client = aioredis.Redis.from_url(server.url)
        queue = Arque(client, queue="bench")
        for start in range(0, n, 1000):
            await queue.enqueue_many([{"i": i} for i in range(start, min(start + 1000, n))])

        async def handler(data: Any, ctx: Any) -> None:
            pass

        options = {"metrics": True} if metrics else {}  # a checkout without metrics= works too
        worker = Worker(queue, handler, concurrency=100, **options)
        began, cpu = time.perf_counter(), time.process_time()
        run = asyncio.ensure_future(worker.run())
        while worker.stats().released < n:
            await asyncio.sleep(0.01)
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
        worker.stop()
        await run
        await client.aclose()
        print(f"{n / elapsed:,.0f} tasks/s, {cpu / n * 1e6:.1f} us of worker CPU per task")


if __name__ == "__main__":
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    asyncio.run(main(int(numbers[0]) if numbers else 30_000, "--metrics" in sys.argv))
