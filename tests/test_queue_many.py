"""``enqueue_many`` and ``dequeue_many``: timing, live ids, undecodable payloads, the limit."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest
import redis.asyncio as aioredis

from arque import Arque, DeadReason
from helpers import EMPTY, set_payload


@pytest.fixture
def queue(redis: aioredis.Redis, queue_name: str) -> Arque:
    return Arque(redis, queue=queue_name)


async def test_enqueue_many_with_delay(queue: Arque) -> None:
    delay = 0.5
    started = time.monotonic()
    ids = await queue.enqueue_many(["a", "b", "c"], delay=delay)
    assert (await queue.get_stats())["delayed"] == 3
    assert await queue.dequeue_many(3, timeout=0.1) == []  # not before the delay
    got: list[str] = []
    while len(got) < 3:
        got += [data for _, data in await queue.dequeue_many(3, timeout=5)]
    assert time.monotonic() - started >= delay - 0.002
    assert sorted(got) == ["a", "b", "c"] and len(ids) == 3


async def test_enqueue_many_at_a_time(queue: Arque) -> None:
    now = datetime.now(timezone.utc)
    await queue.enqueue_many(["past-1", "past-2"], ["p1", "p2"], at=now - timedelta(seconds=5))
    await queue.enqueue_many(["future"], ["f"], at=now + timedelta(seconds=60))
    stats = await queue.get_stats()
    assert (stats["pending"], stats["delayed"]) == (2, 1)
    assert sorted(d for _, d in await queue.dequeue_many(5)) == ["past-1", "past-2"]
    task_stats = await queue.get_task_stats("f")
    assert task_stats is not None and task_stats["state"] == "delayed"


async def test_enqueue_many_leaves_live_ids_as_they_are(queue: Arque) -> None:
    await queue.enqueue("old-pending", task_id="pending")
    await queue.enqueue("old-delayed", task_id="delayed", delay=60)
    await queue.enqueue("old-working", task_id="working")
    await queue.enqueue("old-failed", task_id="failed")
    taken = dict(await queue.dequeue_many(3))
    working = next(t for t in taken if t == "working")
    failed = next(t for t in taken if t == "failed")
    await queue.requeue(next(t for t in taken if t == "pending"), count_attempt=False)
    await queue.fail(failed, "dead")

    ids = ["pending", "delayed", "working", "failed", "new"]
    assert await queue.enqueue_many([f"new-{i}" for i in ids], ids) == ids
    stats = await queue.get_stats()
    assert (stats["pending"], stats["delayed"], stats["working"], stats["failed"]) == (2, 1, 1, 1)
    got = dict(await queue.dequeue_many(5))
    assert sorted(got.values()) == ["new-new", "old-pending"]  # the live one kept its payload
    letter = await queue.get_failed("failed")
    assert letter is not None and letter.data == "old-failed"
    assert (await queue.get_task_stats("delayed") or {})["state"] == "delayed"
    assert await queue.release(working) is True


async def test_enqueue_many_all_or_nothing_on_a_bad_id(queue: Arque) -> None:
    with pytest.raises(ValueError):
        await queue.enqueue_many(["a", "b"], ["ok", ""])
    assert await queue.get_stats() == EMPTY


async def test_dequeue_many_leaves_undecodable_payloads_out(
    redis: aioredis.Redis, queue: Arque
) -> None:
    ids = [f"t{i}" for i in range(6)]
    await queue.enqueue_many([{"i": i} for i in range(6)], ids)
    for bad in ("t1", "t4"):
        await set_payload(redis, queue, bad, b"\xff{not json")
    taken = await queue.dequeue_many(6)
    assert sorted(str(t) for t, _ in taken) == ["t0", "t2", "t3", "t5"]
    assert all(data == {"i": int(str(t)[1:])} for t, data in taken)
    for bad in ("t1", "t4"):
        letter = await queue.get_failed(bad)
        assert letter is not None and letter.reason == DeadReason.UNDECODABLE
    stats = await queue.get_stats()
    assert (stats["working"], stats["failed"], stats["pending"]) == (4, 2, 0)


async def test_dequeue_many_under_working_limit(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, working_limit=3)
    await queue.enqueue_many(list(range(10)))
    first = await queue.dequeue_many(10)
    assert len(first) == 3  # capped by the free slots
    assert await queue.dequeue_many(5, timeout=0.3) == []  # full: waits, then gives up
    waiter = asyncio.create_task(queue.dequeue_many(5, timeout=10))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    await queue.release(first[0][0])
    second = await asyncio.wait_for(waiter, 5)
    assert len(second) == 1  # one slot freed: one task
    assert (await queue.get_stats())["working"] == 3
