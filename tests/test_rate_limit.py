"""Rate limits: never more starts than allowed in any window, and no polling while limited."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence

import pytest
import redis.asyncio as aioredis

from arque import OVERLOADED, Arque, InvalidArgument, TaskContext, Worker
from arque.queue import TaskId
from arque.testing import RedisServer


def _start_ms(task_id: TaskId, timeout_ms: int) -> int:
    """When it was handed out, on the Redis clock (ms): its lease deadline less its timeout."""
    return round(task_id.deadline * 1000) - timeout_ms


def _assert_windows(starts: Sequence[int], count: int, window_ms: int) -> None:
    """No window of ``window_ms`` holds more than ``count`` starts: check every one."""
    ordered = sorted(starts)
    for i in range(len(ordered) - count):
        assert ordered[i + count] - ordered[i] >= window_ms, (i, ordered[i : i + count + 1])


async def _keys(client: aioredis.Redis, queue: str) -> set[str]:
    return {k.decode() if isinstance(k, bytes) else k
            async for k in client.scan_iter(match=f"*{{{queue}}}*")}


async def test_burst_then_refills_hold_the_window(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, rate_limit=(5, 0.4))
    await queue.enqueue_many(range(12), task_ids=[f"t{i:02d}" for i in range(12)],
                             task_timeout=10)
    assert queue.rate_limit == (5, 0.4)
    burst = await queue.dequeue_many(12)
    assert [str(t) for t, _ in burst] == [f"t{i:02d}" for i in range(5)]
    assert await queue.dequeue() == (OVERLOADED, None)  # no timeout: answers at once
    handed = [t for t, _ in burst]
    began = time.monotonic()
    while len(handed) < 12:
        task_id, _ = await queue.dequeue(timeout=5)  # waits for the window, in Redis
        assert isinstance(task_id, TaskId)
        handed.append(task_id)
    assert time.monotonic() - began >= 0.3  # two refills of the window
    _assert_windows([_start_ms(t, 10_000) for t in handed], 5, 400)
    for task_id in handed:
        assert await queue.release(task_id)
    await asyncio.sleep(0.45)
    assert await queue.dequeue(timeout=0.05) == (None, None)
    assert await _keys(redis, queue_name) == {queue.keys.config}  # the window left no key


async def test_several_consumers_never_exceed_any_window(
    redis: aioredis.Redis, queue_name: str
) -> None:
    count, window = 8, 0.25
    Arque(redis, queue=queue_name, rate_limit=(count, window))  # the owner stores the limit
    owner = Arque(redis, queue=queue_name, rate_limit=(count, window))
    await owner.enqueue_many(range(60), task_timeout=10)
    starts: list[int] = []

    async def consumer(seed: int) -> None:
        rng = random.Random(seed)
        queue = Arque(redis, queue=queue_name)  # applies the stored limit
        while True:
            got = await queue.dequeue_many(rng.randint(1, 4), timeout=0.6)
            if not got:
                return
            for task_id, _ in got:
                starts.append(_start_ms(task_id, 10_000))
                assert await queue.release(task_id)

    await asyncio.gather(*(consumer(seed) for seed in range(4)))
    assert len(starts) == 60
    _assert_windows(starts, count, round(window * 1000))


async def test_group_rate_limit_holds_each_group(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, group_rate_limit=(2, 0.3))
    for group in "ab":
        await queue.enqueue_many(range(5), task_ids=[f"{group}{i}" for i in range(5)],
                                 group=group, task_timeout=10)
    await queue.enqueue("p", task_id="p", task_timeout=10)  # no group: not held per group
    first = await queue.dequeue_many(20)
    assert [str(t) for t, _ in first] == ["a0", "b0", "p", "a1", "b1"]
    held = {g.group: g.held_until for g in await queue.group_stats()}
    assert held["a"] is not None and held["b"] is not None
    assert await queue.dequeue() == (OVERLOADED, None)
    handed = [t for t, _ in first if t != "p"]
    while len(handed) < 10:
        got = await queue.dequeue_many(20, timeout=5)
        handed += [t for t, _ in got]
    for group in "ab":
        mine = [t for t in handed if str(t).startswith(group)]
        assert [str(t) for t in mine] == [f"{group}{i}" for i in range(5)]
        _assert_windows([_start_ms(t, 10_000) for t in mine], 2, 300)
    for task_id in handed + [first[2][0]]:
        assert await queue.release(task_id)
    await asyncio.sleep(0.35)
    assert await queue.dequeue(timeout=0.05) == (None, None)
    assert await _keys(redis, queue_name) == {queue.keys.config}


async def test_rate_limits_are_checked_and_stored(redis: aioredis.Redis, queue_name: str) -> None:
    for bad in ((5,), (5, 0), (-1, 1), ("5", 1), (5, "1"), 5, (5, 0.0001)):
        with pytest.raises(InvalidArgument):
            Arque(redis, queue=queue_name, rate_limit=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument):
            Arque(redis, queue=queue_name, group_rate_limit=bad)  # type: ignore[arg-type]
    queue = Arque(redis, queue=queue_name)
    settings = await queue.configure(rate_limit=(100, 2), group_rate_limit=(3, 0.5), group_limit=4)
    assert (settings.rate_limit, settings.rate_window) == (100, 2.0)
    assert (queue.rate_limit, queue.group_rate_limit, queue.group_limit) == ((100, 2.0), (3, 0.5), 4)
    assert await queue.stored_settings() == {
        "rate_limit": 100, "rate_window": 2.0, "group_rate_limit": 3, "group_rate_window": 0.5,
        "group_limit": 4}
    await queue.configure(rate_limit=None)
    assert queue.rate_limit is None and "rate_window" not in await queue.stored_settings()


async def test_idle_consumers_do_not_poll_while_limited() -> None:
    """Four consumers limited to 3 starts a second: scripts run per start, not per poll."""
    with RedisServer() as server:
        client = aioredis.Redis.from_url(server.url)
        try:
            queue = Arque(client, queue="limited", rate_limit=(3, 1.0))
            await queue.enqueue_many(range(100), task_timeout=10)
            handed: list[TaskId] = []

            async def consumer() -> None:
                own = Arque(client, queue="limited")
                while True:
                    task_id, _ = await own.dequeue(timeout=10)
                    assert isinstance(task_id, TaskId)
                    handed.append(task_id)
                    assert await own.release(task_id)

            consumers = [asyncio.create_task(consumer()) for _ in range(4)]
            await asyncio.sleep(0.3)  # the first burst of 3 is out; all four wait now
            before = (await client.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0)
            await asyncio.sleep(2.0)
            after = (await client.info("commandstats"))["cmdstat_evalsha"]["calls"]
            for task in consumers:
                task.cancel()
            await asyncio.gather(*consumers, return_exceptions=True)
        finally:
            await client.aclose()
    assert 6 <= len(handed) <= 9  # 3 at 0 s, 3 at 1 s, 3 at 2 s at most
    _assert_windows([_start_ms(t, 10_000) for t in handed], 3, 1000)
    # A hand-out costs a dequeue and a release; each limited consumer wakes about
    # once per window. Polling, even every 10 ms, would run hundreds.
    assert after - before < 60, after - before


async def test_worker_holds_the_rate_limit(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, rate_limit=(5, 0.3))
    await queue.enqueue_many(range(15), task_timeout=10)
    started: list[TaskId] = []
    done = asyncio.Event()

    async def handler(data: object, ctx: TaskContext) -> None:
        started.append(ctx.task_id)
        if len(started) == 15:
            done.set()

    worker = Worker(queue, handler, concurrency=20, sweep_interval=None)
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(done.wait(), 10)
    worker.stop()
    await running
    _assert_windows([_start_ms(t, 10_000) for t in started], 5, 300)
