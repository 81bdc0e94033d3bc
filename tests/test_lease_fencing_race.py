"""Two consumers interleaved on purpose: a late holder cannot touch the current delivery.

Consumer A takes a task, lets its lease expire, the sweep hands it to
consumer B; everything A does afterwards is refused and changes nothing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque, TaskId
from helpers import EMPTY, queue_keys_left

LEASE = 0.3


@pytest.fixture
async def second_client(redis_url: str, decode_responses: bool) -> AsyncIterator[aioredis.Redis]:
    """Consumer B's own connection pool, as in another process."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=decode_responses)
    try:
        yield client
    finally:
        await client.aclose()


async def _snapshot(redis: aioredis.Redis, queue: Arque, task_id: str) -> dict[str, Any]:
    """Everything stored about ``task_id`` and the sizes of the queue's sets."""
    k = queue.keys
    return {
        "lease": await redis.hget(k.leases, task_id),
        "deadline": await redis.zscore(k.working, task_id),
        "record": await redis.hget(k.tasks, task_id),  # metadata and payload
        "pending": await redis.lrange(k.pending, 0, -1),
        "delayed": await redis.zrange(k.delayed, 0, -1),
        "failed": await redis.zrange(k.failed, 0, -1),
    }


async def _hand_over(a: Arque, b: Arque, task_id: str) -> tuple[TaskId, TaskId]:
    """A takes ``task_id``, overruns its lease, the sweep gives it to B."""
    held, data = await a.dequeue(timeout=1)
    assert held == task_id and isinstance(held, TaskId) and held.attempt == 1
    assert data == {"id": task_id}
    await asyncio.sleep(LEASE + 0.1)
    assert await a.dequeue(timeout=0.05) == (None, None)  # expired, but not yet swept
    assert await b.sweep() == 1
    taken, data = await b.dequeue(timeout=1)
    assert taken == task_id and data == {"id": task_id}
    assert isinstance(taken, TaskId) and taken.attempt == 2 and taken.token != held.token
    return held, taken


@pytest.mark.parametrize("one_instance", [False, True], ids=["two-instances", "one-instance"])
async def test_late_holder_is_refused(
    redis: aioredis.Redis, second_client: aioredis.Redis, queue_name: str, one_instance: bool
) -> None:
    a = Arque(redis, queue=queue_name, task_timeout=LEASE, requeue_limit=5)
    b = a if one_instance else Arque(second_client, queue=queue_name, task_timeout=5, requeue_limit=5)
    await a.enqueue({"id": "t"}, task_id="t")
    held, taken = await _hand_over(a, b, "t")
    await b.extend(taken, 5)  # B's lease is now far from expiring
    before = await _snapshot(redis, a, "t")
    token = before["lease"].decode() if isinstance(before["lease"], bytes) else before["lease"]
    assert token == taken.token

    assert await a.release(held) is False
    assert await a.release_many([held]) == [False]
    assert await a.requeue(held) is False
    assert await a.requeue(held, delay=1, error="late") is False
    assert await a.requeue(held, count_attempt=False) is False
    assert await a.extend(held, 60) is False
    assert await a.extend_many([held]) == [False]
    assert await a.fail(held, "late") is False
    assert await _snapshot(redis, a, "t") == before
    stats = await b.get_task_stats("t")
    assert stats is not None and stats["state"] == "working" and stats["dequeue_count"] == 2

    assert await b.release(taken) is True
    assert await b.get_stats() == EMPTY
    assert await a.release(held) is False  # and after B is done: unknown
    # Only the owner's settings (requeue_limit) stay: configuration, not task data.
    left = await redis.keys(f"*{{{queue_name}}}*")
    assert [k.decode() if isinstance(k, bytes) else k for k in left] == [a.keys.config]


async def test_late_holder_refused_after_redelivery_and_a_new_life(
    redis: aioredis.Redis, second_client: aioredis.Redis, queue_name: str
) -> None:
    """The same id enqueued again after release: the oldest token still acts on nothing."""
    a = Arque(redis, queue=queue_name, task_timeout=LEASE)
    b = Arque(second_client, queue=queue_name, task_timeout=LEASE)
    await a.enqueue({"id": "t"}, task_id="t")
    held, taken = await _hand_over(a, b, "t")
    assert await b.release(taken)
    await b.enqueue({"id": "t"}, task_id="t", task_timeout=5)
    fresh, _ = await b.dequeue(timeout=1)
    assert fresh == "t" and fresh.attempt == 1
    before = await _snapshot(redis, a, "t")
    for stale in (held, taken):
        assert await a.release(stale) is False
        assert await a.requeue(stale) is False
        assert await a.extend(stale) is False
    assert await _snapshot(redis, a, "t") == before
    assert await b.release(fresh)


async def test_plain_str_acts_on_the_current_delivery(
    redis: aioredis.Redis, second_client: aioredis.Redis, queue_name: str
) -> None:
    """An id stored and reloaded as a plain str carries no token: an operator's act."""
    a = Arque(redis, queue=queue_name, task_timeout=LEASE)
    b = Arque(second_client, queue=queue_name, task_timeout=LEASE)
    await a.enqueue({"id": "t"}, task_id="t")
    held, taken = await _hand_over(a, b, "t")
    plain = str(held)
    assert type(plain) is str and plain == taken

    deadline = await redis.zscore(a.keys.working, "t")
    assert await a.extend(plain, 30) is True
    assert await redis.zscore(a.keys.working, "t") > deadline
    assert await a.extend(held, 30) is False  # the stale TaskId stays refused

    assert await a.requeue(plain) is True  # B's delivery is taken back by the operator
    assert await b.release(taken) is False
    third, _ = await a.dequeue(timeout=1)
    assert third == "t" and third.attempt == 3
    assert await a.release("t") is True
    assert await a.release("t") is False
    assert await a.get_stats() == EMPTY


async def _race_once(a: Arque, b: Arque, seed: int) -> tuple[set[str], set[str]]:
    """Late releases of every task by A, fired together with B's sweep and takes.

    Returns the ids A released and the ids B got; checks what must hold every time.
    """
    count = 200
    ids = [f"t{i}" for i in range(count)]
    await a.enqueue_many([{"id": i} for i in ids], ids)
    held = [t for t, _ in await a.dequeue_many(count, timeout=1)]
    assert sorted(held) == sorted(ids)
    await asyncio.sleep(LEASE + 0.1)

    random.Random(seed).shuffle(held)
    b_got: list[TaskId] = []

    async def b_side() -> None:
        await asyncio.sleep(0.001)
        await b.sweep()
        while batch := await b.dequeue_many(50, timeout=0.3):
            b_got.extend(t for t, _ in batch)

    async def a_side() -> list[bool]:
        results = []
        for chunk in range(0, count, 10):
            results += await a.release_many(held[chunk : chunk + 10])
            await asyncio.sleep(0)
        return results

    a_results, _ = await asyncio.gather(a_side(), b_side())
    a_won = {str(t) for t, ok in zip(held, a_results) if ok}
    b_won = {str(t) for t in b_got}
    print(f"\nA released {len(a_won)} late, B got {len(b_won)} through the sweep")
    assert a_won.isdisjoint(b_won)
    assert a_won | b_won == set(ids)
    assert all(t.attempt == 2 for t in b_got)
    assert await b.release_many(b_got) == [True] * len(b_got)
    assert await a.get_stats() == EMPTY
    return a_won, b_won


async def test_release_racing_the_sweep(
    redis: aioredis.Redis, second_client: aioredis.Redis, queue_name: str
) -> None:
    """Many late releases fired together with the sweep and B's takes: one winner per task.

    For every task, either A's release went through before the sweep (and B
    never saw it), or it was refused and B got it and released it. The test
    only proves something if both sides won some tasks (they really raced):
    a round where one side took all is run again, up to a few times.
    """
    rounds = []
    for attempt in range(5):
        name = f"{queue_name}-{attempt}"
        a = Arque(redis, queue=name, task_timeout=LEASE, requeue_limit=5)
        b = Arque(second_client, queue=name, task_timeout=5, requeue_limit=5)
        a_won, b_won = await _race_once(a, b, seed=7 + attempt)
        # Only the owner's settings (requeue_limit) stay: configuration, not task data.
        assert await queue_keys_left(redis, a) == [a.keys.config]
        rounds.append((len(a_won), len(b_won)))
        if a_won and b_won:
            break
    assert rounds[-1][0] and rounds[-1][1], f"A and B never both won a task: {rounds}"
