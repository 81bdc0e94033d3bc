"""Concurrent enqueues and releases share round trips, and keep their own results."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
import redis.asyncio as aioredis

from arque import Arque, ServerError, WrongKeyType
from arque.batching import Coalescer, Paced
from helpers import needs_private_server, script_calls


async def test_concurrent_enqueues_share_round_trips(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """Reads the server's global INFO commandstats: skipped on a shared ``$REDIS_URL``."""
    needs_private_server()
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("warm-up", task_id="w")  # loads the script
    assert await queue.release((await queue.dequeue())[0])
    before = await script_calls(redis)
    ids = [f"t{i % 40}" for i in range(50)]  # ten ids twice: idempotent inside a batch too
    got = await asyncio.gather(*(queue.enqueue(i, task_id=task_id) for i, task_id in enumerate(ids)))
    calls = await script_calls(redis) - before
    assert got == ids
    assert calls < 10, f"{calls} script calls for 50 concurrent enqueues"
    assert (await queue.get_stats())["pending"] == 40
    for _ in range(40):
        task_id, data = await queue.dequeue()
        assert data == int(task_id[1:])  # the first enqueue of each id won
        assert await queue.release(task_id)


async def test_concurrent_releases_keep_their_own_answers(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue_many(range(20))
    taken = await queue.dequeue_many(20)
    ids = [t for t, _ in taken]
    answers = await asyncio.gather(*(queue.release(i) for i in ids + ids[:5] + ["unknown"]))
    assert answers == [True] * 20 + [False] * 6


async def test_a_failing_batch_fails_each_caller_and_writes_nothing(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    await redis.set(queue.keys.marker, "not a zset")
    results = await asyncio.gather(*(queue.enqueue(i) for i in range(10)), return_exceptions=True)
    assert all(isinstance(r, WrongKeyType) for r in results)
    assert await redis.exists(queue.keys.pending, queue.keys.tasks) == 0
    await redis.delete(queue.keys.marker)


async def test_coalescer_sends_one_batch_at_a_time() -> None:
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def send(items: list[int]) -> list[int]:
        batches.append(list(items))
        if len(batches) == 1:
            await gate.wait()
        return [i * 10 for i in items]

    coalescer: Coalescer[int, int] = Coalescer(send, max_batch=3)
    first = asyncio.ensure_future(coalescer.submit(0))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(coalescer.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0.01)
    assert batches == [[0]]  # the others wait while one call is on the wire
    gate.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [10, 20, 30, 40, 50]
    assert batches == [[0], [1, 2, 3], [4, 5]]


async def test_coalescer_fails_only_the_failed_batch() -> None:
    calls = 0

    async def send(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 2:
            raise RuntimeError("boom")
        return items

    coalescer: Coalescer[int, int] = Coalescer(send, max_batch=2)
    futures = [asyncio.ensure_future(coalescer.submit(i)) for i in range(5)]
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert results[0] == 0
    assert [isinstance(r, RuntimeError) for r in results[1:3]] == [True, True]
    assert results[3:] == [3, 4]


async def test_paced_sends_about_what_a_call_has_time_for() -> None:
    """A call that answers for fewer than it got (out of its time) is followed by calls
    for the rest, each sent a little more than the last answered for; a call that
    answers for all it got at that pace lets the next send twice as many."""
    sent: list[list[int]] = []
    fits = 3

    async def send(items: Sequence[int]) -> list[int]:
        sent.append(list(items))
        return [n * 10 for n in items[:fits]]

    paced = Paced()
    assert await paced.send(send, list(range(10))) == [n * 10 for n in range(10)]
    assert sent == [list(range(10)), [3, 4, 5, 6], [6, 7, 8, 9], [9]]
    sent.clear()
    fits = 100  # the server is faster now: the pace grows again
    assert await paced.send(send, list(range(20))) == [n * 10 for n in range(20)]
    assert sent == [[0, 1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11], list(range(12, 20))]
    assert await paced.send(send, []) == []

    async def answers_none(items: Sequence[int]) -> list[int]:
        return []

    with pytest.raises(ServerError):
        await Paced().send(answers_none, [1])
