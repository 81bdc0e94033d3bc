"""A worker process for the schedule tests: it counts the runs of each task in Redis.

    python tests/schedule_worker.py REDIS_URL QUEUE RAN_KEY

Each task it runs adds 1 to field ``<task id>`` of the hash ``RAN_KEY``. It
prints ``ready`` once running; SIGTERM stops it gracefully.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import redis.asyncio as aioredis

from arque import Arque
from arque.worker import TaskContext, Worker


async def serve(url: str, queue_name: str, ran_key: str) -> int:
    async with aioredis.Redis.from_url(url) as client:
        queue = Arque(client, queue=queue_name)

        async def handler(data: Any, ctx: TaskContext) -> None:
            await client.hincrby(ran_key, str(ctx.task_id), 1)

        async def announce(worker: Worker) -> None:
            while worker.stats().state != "running":
                await asyncio.sleep(0.01)
            print("ready", flush=True)

        worker = Worker(queue, handler, concurrency=4, sweep_interval=1.0, grace_period=2)
        note = asyncio.ensure_future(announce(worker))
        try:
            return await worker.serve()
        finally:
            note.cancel()


if __name__ == "__main__":
    sys.exit(asyncio.run(serve(*sys.argv[1:4])))
