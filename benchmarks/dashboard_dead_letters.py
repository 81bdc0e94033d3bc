"""Server time of the dashboard's pages with 200,000 dead letters.

    .venv/bin/python benchmarks/dashboard_dead_letters.py [--dead 200000] [--runs 20]

Starts a private redis-server (never the one on 6379), writes the dead letters
straight into the queue's keys (the same metadata JSON the scripts write, with
a few kinds of errors, and the per-reason indexes), then times each page through the ASGI app in process
(httpx's ASGITransport: the app's time plus its Redis round trips, no network
or browser). Prints the median and the slowest run of each page in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx
import redis.asyncio as aioredis

from arque import Arque
from arque.testing import RedisServer
from arque.web import create_app

ERRORS = [
    "ConnectionError: smtp.example.com:25 refused\n  File \"mail.py\", line 41, in send",
    "ValueError: no such customer\n  File \"orders.py\", line 12, in load",
    "TimeoutError: payment gateway\n  File \"pay.py\", line 88, in charge",
    "KeyError: 'sku'\n  File \"stock.py\", line 7, in reserve",
]


async def fill(queue: Arque, count: int) -> None:
    client = queue.redis
    now = int(time.time() * 1000)
    chunk = 5000
    for start in range(0, count, chunk):
        pipe = client.pipeline(transaction=False)
        records, scores = {}, {}
        by_reason: dict[str, dict[str, int]] = {"retries_exhausted": {}, "rejected": {}}
        for i in range(start, min(start + chunk, count)):
            task_id = f"task-{i:07d}"
            reason = "retries_exhausted" if i % 3 else "rejected"
            # A task's record: its metadata JSON, a newline, its payload (includes/record.lua).
            meta = json.dumps({"t": 60000, "a": 3, "q": 3, "e": now - 10**6,
                               "err": ERRORS[i % len(ERRORS)], "why": reason, "f": now - count + i})
            records[task_id] = meta + "\n" + json.dumps({"order": i, "lines": list(range(8))})
            scores[task_id] = by_reason[reason][task_id] = now - count + i
        pipe.hset(queue.keys.tasks, mapping=records)
        pipe.zadd(queue.keys.failed, scores)
        for reason, members in by_reason.items():  # the per-reason indexes the scripts keep
            pipe.zadd(queue.keys.failed_of(reason), members)
        await pipe.execute()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dead", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with RedisServer() as server:
        client = aioredis.Redis.from_url(server.url)
        queue = Arque(client, queue="bench")
        await fill(queue, args.dead)
        assert (await queue.stats()).failed == args.dead
        app = create_app(client, queues=["bench"])
        pages = {
            "overview": "/",
            "dead letters, first page": "/queues/bench/failed",
            "dead letters, search by id": "/queues/bench/failed?id=task-0123456",
            "dead letters, search by reason": "/queues/bench/failed?reason=rejected",
            "dead letters, search by error text (no match)": "/queues/bench/failed?q=nomatch",
            "dead letters, grouped by error": "/queues/bench/failed?view=groups",
            "dead letters, page at cursor 150,000": "/queues/bench/failed?cursor=150000",
            "task page": "/queues/bench/tasks/task-0000042",
        }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as web:
            print(f"{args.dead:,} dead letters; redis-server {'.'.join(map(str, server.version))};"
                  f" {args.runs} runs per page\n")
            print("| page | median ms | slowest ms |\n|---|---:|---:|")
            for name, path in pages.items():
                await web.get(path)  # warm: scripts loaded, templates compiled
                times = []
                for _ in range(args.runs):
                    began = time.perf_counter()
                    answer = await web.get(path)
                    times.append((time.perf_counter() - began) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
                print(f"| {name} | {statistics.median(times):.1f} | {max(times):.1f} |")
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
