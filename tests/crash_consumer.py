"""A consumer process for the crash tests: it may be SIGKILLed at any line.

    python tests/crash_consumer.py REDIS_URL QUEUE LOG_PATH SEED [--bytes]

Loop: dequeue, log ``started <id> <attempt>``, work a few random
milliseconds, log ``done <id> <attempt> <index>`` (flushed and fsynced, so
it survives the kill that may follow at once), release, log ``released <id>
<attempt> <applied>``. SIGTERM stops it between two tasks.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from typing import IO

import redis.asyncio as aioredis

from arque import Arque, RedisUnavailable

REQUEUE_LIMIT = 10
TASK_TIMEOUT = 1.0


def _log(out: IO[str], line: str, *, sync: bool = False) -> None:
    out.write(line + "\n")
    out.flush()
    if sync:
        os.fsync(out.fileno())


async def consume(url: str, queue_name: str, out: IO[str], seed: int, decode: bool) -> None:
    rng = random.Random(seed)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    client = aioredis.Redis.from_url(url, decode_responses=decode)
    queue = Arque(client, queue=queue_name, requeue_limit=REQUEUE_LIMIT, task_timeout=TASK_TIMEOUT)
    try:
        _log(out, f"pid {os.getpid()}")
        while not stop.is_set():
            try:
                task_id, task = await queue.dequeue(timeout=0.3)
            except RedisUnavailable:
                await asyncio.sleep(0.05)
                continue
            if task_id is None:
                continue
            attempt = getattr(task_id, "attempt", 0)
            _log(out, f"started {task_id} {attempt}")
            await asyncio.sleep(rng.uniform(0.005, 0.03))
            _log(out, f"done {task_id} {attempt} {task['index']}", sync=True)
            applied = await queue.release(task_id)
            _log(out, f"released {task_id} {attempt} {int(applied)}")
    finally:
        await client.aclose()


def main() -> None:
    url, queue_name, log_path, seed = sys.argv[1:5]
    with open(log_path, "a", encoding="utf-8") as out:
        asyncio.run(consume(url, queue_name, out, int(seed), "--bytes" not in sys.argv[5:]))


if __name__ == "__main__":
    main()
