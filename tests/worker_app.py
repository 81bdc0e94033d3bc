"""A worker process for the signal tests: it logs each task it starts and finishes.

    python tests/worker_app.py REDIS_URL QUEUE LOG_PATH GRACE_PERIOD CONCURRENCY [WORKING_LIMIT]

Each task's data is ``{"sleep": seconds}``. The log gets ``ready`` once the
worker runs, ``start <id> <attempt>`` and ``done <id> <attempt>`` (flushed
and fsynced), and ``exit <status>``; the process exits with the status of
``Worker.serve``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import IO, Any

import redis.asyncio as aioredis

from arque import Arque
from arque.worker import TaskContext, Worker


def _log(out: IO[str], line: str) -> None:
    out.write(line + "\n")
    out.flush()
    os.fsync(out.fileno())


async def serve(url: str, queue_name: str, out: IO[str], grace: float, concurrency: int,
                working_limit: int | None = None) -> int:
    async def handler(data: Any, ctx: TaskContext) -> None:
        _log(out, f"start {ctx.task_id} {ctx.attempt}")
        await asyncio.sleep(data["sleep"])
        _log(out, f"done {ctx.task_id} {ctx.attempt}")

    async def announce(worker: Worker) -> None:
        while worker.stats().state != "running":
            await asyncio.sleep(0.01)
        _log(out, "ready")

    async with aioredis.Redis.from_url(url) as client:
        queue = Arque(client, queue=queue_name, working_limit=working_limit)
        worker = Worker(queue, handler, concurrency=concurrency, grace_period=grace,
                        task_timeout=300, sweep_interval=None)
        note = asyncio.ensure_future(announce(worker))
        try:
            return await worker.serve()
        finally:
            note.cancel()


def main() -> int:
    url, queue_name, log_path, grace, concurrency = sys.argv[1:6]
    limit = int(sys.argv[6]) if len(sys.argv) > 6 else None
    with open(log_path, "a", encoding="utf-8") as out:
        status = asyncio.run(serve(url, queue_name, out, float(grace), int(concurrency), limit))
        _log(out, f"exit {status}")
    return status


if __name__ == "__main__":
    sys.exit(main())
