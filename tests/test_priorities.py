"""Priorities: higher first, FIFO within one, kept across delay, requeue, recovery and replay."""

from __future__ import annotations

import asyncio
import random

import pytest
import redis.asyncio as aioredis

from arque import Arque, InvalidArgument
from helpers import drain_in_order


async def test_strict_priority_order_and_fifo_within_one(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    rng = random.Random(7)
    priorities = [rng.choice([-1000, -5, -1, 0, 0, 1, 3, 100, 1000]) for _ in range(300)]
    for i, priority in enumerate(priorities):
        await queue.enqueue(i, task_id=f"t{i:03d}", priority=priority)
    expected = sorted(range(300), key=lambda i: (-priorities[i], i))
    assert await drain_in_order(queue) == [f"t{i:03d}" for i in expected]
    assert await redis.keys(f"*{queue_name}*") == []  # no key left behind, the sequence included


async def test_dequeue_many_takes_the_same_order(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue_many(range(5), task_ids=[f"low{i}" for i in range(5)], priority=-3)
    await queue.enqueue_many(range(5), task_ids=[f"plain{i}" for i in range(5)])
    await queue.enqueue_many(range(5), task_ids=[f"high{i}" for i in range(5)], priority=9)
    taken = [str(t) for t, _ in await queue.dequeue_many(12)]
    assert taken == [f"high{i}" for i in range(5)] + [f"plain{i}" for i in range(5)] + [
        "low0", "low1"]
    stats = await queue.stats()
    assert (stats.pending, stats.working, stats.prioritized) == (3, 12, 3)


async def test_priority_is_checked_and_nothing_written(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    for bad in (1001, -1001, 1.5, "1", True, None):
        with pytest.raises(InvalidArgument):
            await queue.enqueue("x", priority=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument):
            await queue.enqueue_many(["x"], priority=bad)  # type: ignore[arg-type]
    assert (await queue.stats()).tasks == 0


async def test_delayed_task_takes_its_priority_when_due(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("late", task_id="late", priority=50, delay=0.2)
    await queue.enqueue_many(range(3), task_ids=["a", "b", "c"])
    await asyncio.sleep(0.3)
    assert await drain_in_order(queue) == ["late", "a", "b", "c"]
    stats = await queue.get_task_stats("late")
    assert stats is None  # released: nothing left


async def test_requeued_task_keeps_its_priority(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=5)
    await queue.enqueue("urgent", task_id="urgent", priority=7)
    task_id, _ = await queue.dequeue()
    await queue.enqueue_many(range(3), task_ids=["a", "b", "c"])
    assert await queue.requeue(task_id)
    stats = await queue.get_task_stats("urgent")
    assert stats is not None and (stats["priority"], stats["group"], stats["state"]) == (
        7, None, "pending")
    assert await drain_in_order(queue) == ["urgent", "a", "b", "c"]
    # A delayed requeue takes it again when due.
    await queue.enqueue("low", task_id="low", priority=-2)
    await queue.enqueue("urgent", task_id="urgent", priority=7)
    task_id, _ = await queue.dequeue()
    assert task_id == "urgent"
    assert await queue.requeue(task_id, delay=0.1)
    await queue.enqueue("plain", task_id="plain")
    await asyncio.sleep(0.2)
    assert await drain_in_order(queue) == ["urgent", "plain", "low"]


async def test_recovered_task_keeps_priority_and_its_place(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=5)
    await queue.enqueue_many(range(3), task_ids=["p1", "p2", "p3"], priority=4,
                             task_timeout=0.1)
    first, _ = await queue.dequeue()
    assert first == "p1"
    await asyncio.sleep(0.2)  # its holder "crashed": the lease runs out
    assert await queue.sweep() == 1
    await queue.enqueue("plain", task_id="plain")
    # Back at the head of its priority, ahead of p2 and p3 that waited less.
    assert await drain_in_order(queue) == ["p1", "p2", "p3", "plain"]


async def test_dead_letter_keeps_priority_and_replay_restores_it(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=1)
    await queue.enqueue("x", task_id="x", priority=-7)
    task_id, _ = await queue.dequeue()
    assert await queue.requeue(task_id, error="boom")  # its last attempt: dead-lettered
    letter = await queue.get_failed("x")
    assert letter is not None and letter.priority == -7 and letter.group is None
    await queue.enqueue_many(range(2), task_ids=["a", "b"])
    assert await queue.replay_failed("x") == 1
    await queue.enqueue("high", task_id="high", priority=1)
    assert await drain_in_order(queue) == ["high", "a", "b", "x"]


async def test_sync_enqueue_takes_priority(
    redis: aioredis.Redis, sync_redis: object, queue_name: str
) -> None:
    producer = Arque(sync_redis, queue=queue_name)
    producer.enqueue_sync("a", task_id="a")
    producer.enqueue_sync("b", task_id="b", priority=2)
    assert await drain_in_order(Arque(redis, queue=queue_name)) == ["b", "a"]
