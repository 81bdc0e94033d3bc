"""Per-minute throughput rollups: recorded by workers, bounded, read for the dashboard chart."""

from __future__ import annotations

import asyncio
from typing import Any

import redis as redis_py
import redis.asyncio as aioredis

from arque import Arque, Worker
from arque.scripts import Scripts
from arque.throughput import Rollups, read_throughput
from arque.worker import Fail, TaskContext
from helpers import wait_until


async def test_a_worker_records_its_outcomes_per_minute(
    redis: aioredis.Redis, queue_name: str,
) -> None:
    queue = Arque(redis, queue=queue_name)

    async def handler(data: Any, ctx: TaskContext) -> None:
        if data["fail"]:
            raise Fail("no")

    await queue.enqueue_many([{"fail": False}] * 5 + [{"fail": True}] * 2)
    worker = Worker(queue, handler, registry_ttl=0.6)
    run = asyncio.ensure_future(worker.run())

    async def recorded() -> bool:
        minutes = await read_throughput(queue, 5)
        return sum(m.total for m in minutes) == 7

    await wait_until(recorded)
    worker.stop()
    await asyncio.wait_for(run, 30)
    minutes = await read_throughput(queue, 5)
    assert len(minutes) == 5 and minutes[-1].start > minutes[0].start
    totals: dict[str, int] = {}
    for minute in minutes:
        for outcome, count in minute.counts.items():
            totals[outcome] = totals.get(outcome, 0) + count
    assert totals == {"released": 5, "dead_lettered": 2}


def test_old_minutes_are_dropped_and_the_hash_expires(redis_url: str, queue_name: str) -> None:
    client = redis_py.Redis.from_url(redis_url)
    queue = Arque(client, queue=queue_name)
    scripts = Scripts(client, queue.keys)
    minute = int(scripts.call_sync("record_throughput", [3, "released", 2]))
    # Minutes recorded long ago (as an earlier call would have left them).
    client.hset(queue.keys.throughput, mapping={
        str(minute - 10): 1, f"{minute - 10}:released": 4, "oldest": minute - 10})
    scripts.call_sync("record_throughput", [3, "retried", 1])
    fields = {k.decode() for k in client.hkeys(queue.keys.throughput)}
    assert f"{minute - 10}:released" not in fields and str(minute - 10) not in fields
    assert {f"{minute}:released", f"{minute}:retried"} <= fields
    assert 0 < client.pttl(queue.keys.throughput) <= 3 * 60_000
    client.close()


def test_counts_redis_refused_are_kept_for_the_next_flush(redis_url: str, queue_name: str) -> None:
    from arque.queue import TaskId

    client = redis_py.Redis.from_url(redis_url)
    queue = Arque(client, queue=queue_name)
    rollups = Rollups()
    rollups.settled(queue_name, TaskId("a"), "released")
    client.set(queue.keys.throughput, "not a hash")  # the script refuses to write
    rollups.flush([queue])
    client.delete(queue.keys.throughput)
    rollups.flush([queue])
    values = [int(v) for k, v in client.hgetall(queue.keys.throughput).items()
              if k.endswith(b":released")]
    assert values == [1]
    client.close()
