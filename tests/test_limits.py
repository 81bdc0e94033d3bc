"""Limits turned off (0) or paged through, and the scheduled sweep through an outage."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as aioredis

from arque import Arque
from arque.testing import RedisServer
from helpers import wait_until

MANY = 1100  # more than one sweep call handles (1,000 of each kind)


async def _dead_letters(queue: Arque, count: int) -> None:
    await queue.enqueue_many(list(range(count)), [f"t{i}" for i in range(count)])
    for task_id, _ in await queue.dequeue_many(count):
        await queue.fail(task_id, "dead")


async def test_max_failed_0_keeps_every_dead_letter(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, max_failed=0)
    await _dead_letters(queue, 5)
    await queue.sweep()
    assert (await queue.get_stats())["failed"] == 5
    assert len(await queue.list_failed()) == 5


async def test_failed_ttl_0_keeps_dead_letters_for_ever(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, failed_ttl=0)
    await _dead_letters(queue, 3)
    await asyncio.sleep(0.2)  # older than any ttl a 0 could be mistaken for
    await queue.sweep()
    assert [r.task_id for r in await queue.list_failed()] == ["t2", "t1", "t0"]
    # The metadata of a dead letter is not given a ttl either.
    assert await redis.ttl(queue.keys.tasks) == -1


async def test_working_limit_0_is_no_limit(redis: aioredis.Redis, queue_name: str) -> None:
    limited = Arque(redis, queue=queue_name)  # the default: 1,000
    unlimited = Arque(redis, queue=queue_name, working_limit=0)
    await limited.enqueue_many(list(range(MANY)))
    assert len(await limited.dequeue_many(MANY)) == Arque.working_limit
    assert len(await unlimited.dequeue_many(MANY)) == MANY - Arque.working_limit
    assert (await limited.get_stats())["working"] == MANY


async def test_a_sweep_pages_through_more_than_a_thousand_expired_leases(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, working_limit=0, task_timeout=0.2)
    await queue.enqueue_many(list(range(MANY)))
    assert len(await queue.dequeue_many(MANY)) == MANY
    await asyncio.sleep(0.3)
    calls: list[object] = []
    call = queue._scripts.call

    async def counting(name: str, args: list[object]) -> object:
        calls.append(name)
        return await call(name, args)

    queue._scripts.call = counting  # type: ignore[method-assign]
    assert await queue.sweep() == MANY  # one sweep() recovers all of them
    assert calls.count("sweep") >= 2  # in pages
    stats = await queue.get_stats()
    assert (stats["pending"], stats["working"]) == (MANY, 0)


@pytest.mark.slow
async def test_schedule_sweep_survives_an_outage(
    own_redis_server: RedisServer, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = aioredis.Redis.from_url(own_redis_server.url, socket_timeout=1)
    queue = Arque(client, queue=queue_name, sweep_interval=0.1, task_timeout=0.3)
    sweeper = asyncio.create_task(queue.schedule_sweep())
    try:
        with caplog.at_level(logging.WARNING, logger="arque"):
            own_redis_server.kill()
            # One line when the episode begins (see worker/outage.py), not one per sweep.
            await wait_until(lambda: "scheduled sweep of" in caplog.text
                             and "retrying with backoff" in caplog.text, 10)
            await asyncio.sleep(0.3)  # several failed sweeps in a row
            assert not sweeper.done()
            own_redis_server.restart()
        # Still sweeping: a task whose holder "died" comes back.
        await queue.enqueue("x", task_id="t")
        first, _ = await queue.dequeue()
        again, _ = await queue.dequeue(timeout=10)
        assert again == "t" and again.attempt == 2 and first.attempt == 1
    finally:
        await queue.unschedule_sweep()
        await asyncio.wait_for(sweeper, 5)
        await client.aclose()
