"""No polling when idle: blocked consumers wake on enqueue, due time and freed slot.

Bounds are generous (the benchmarks measure latency); each is well under
the 2 s a blocked consumer waits before it looks again by itself, so a
missing wake-up fails the test.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from arque import Arque
from arque.testing import RedisServer

WAKE_BOUND = 1.0  # seconds; the block cap is 2 s


async def test_wakes_on_enqueue(redis: aioredis.Redis, queue_name: str) -> None:
    consumer, producer = Arque(redis, queue=queue_name), Arque(redis, queue=queue_name)
    waiter = asyncio.create_task(consumer.dequeue(timeout=30))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await producer.enqueue("now")
    assert (await asyncio.wait_for(waiter, 5))[1] == "now"
    assert time.monotonic() - started < WAKE_BOUND


async def test_wakes_when_an_earlier_delayed_task_arrives(
    redis: aioredis.Redis, queue_name: str
) -> None:
    consumer = Arque(redis, queue=queue_name, sweep_interval=60)
    producer = Arque(redis, queue=queue_name)
    await producer.enqueue("late", delay=1.8)
    waiter = asyncio.create_task(consumer.dequeue(timeout=30))
    await asyncio.sleep(0.2)  # blocked until the first task is due
    started = time.monotonic()
    await producer.enqueue("early", delay=0.3)
    assert (await asyncio.wait_for(waiter, 5))[1] == "early"
    assert 0.25 <= time.monotonic() - started < 0.3 + WAKE_BOUND


async def test_wakes_when_a_slot_frees(redis: aioredis.Redis, queue_name: str) -> None:
    consumer = Arque(redis, queue=queue_name, working_limit=1)
    await consumer.enqueue_many(["a", "b"])
    first, _ = await consumer.dequeue()
    waiter = asyncio.create_task(Arque(redis, queue=queue_name, working_limit=1).dequeue(timeout=30))
    await asyncio.sleep(0.3)
    assert not waiter.done()
    started = time.monotonic()
    await consumer.release(first)
    assert (await asyncio.wait_for(waiter, 5))[1] == "b"
    assert time.monotonic() - started < WAKE_BOUND


async def test_burst_wakes_every_idle_consumer(redis: aioredis.Redis, queue_name: str) -> None:
    consumers = [Arque(redis, queue=queue_name) for _ in range(5)]
    waiters = [asyncio.create_task(c.dequeue(timeout=30)) for c in consumers]
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await consumers[0].enqueue_many(range(5))
    got = await asyncio.wait_for(asyncio.gather(*waiters), 5)
    assert sorted(data for _, data in got) == [0, 1, 2, 3, 4]
    assert time.monotonic() - started < WAKE_BOUND


async def test_lost_wakeup_costs_at_most_the_block_cap(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """A consumer that pops the marker and dies before its hand-out loses nothing."""
    consumer = Arque(redis, queue=queue_name)
    waiter = asyncio.create_task(consumer.dequeue(timeout=30))
    await asyncio.sleep(0.3)
    # Enqueue without the wake-up, as if a dead consumer had taken the marker.
    await redis.lpush(consumer.keys.pending, "ghost")
    await redis.hset(consumer.keys.tasks, "ghost", '{"t":1000,"a":0,"r":0,"q":0,"e":0}')
    await redis.hset(consumer.keys.payloads, "ghost", '"boo"')
    task_id, data = await asyncio.wait_for(waiter, 5)
    assert (task_id, data) == ("ghost", "boo")


async def test_consumer_cancelled_while_blocked_loses_nothing(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """A cancel may land after the hand-out: the lease brings that task back."""
    consumer = Arque(redis, queue=queue_name)
    producer = Arque(redis, queue=queue_name, task_timeout=0.5)  # the lease is set at enqueue
    released = 0
    for i in range(20):
        waiter = asyncio.create_task(consumer.dequeue(timeout=30))
        await asyncio.sleep(0.005 * (i % 4))
        await producer.enqueue(i)
        waiter.cancel()
        try:
            task_id, _ = await waiter
        except asyncio.CancelledError:
            continue
        released += await consumer.release(task_id)
    await asyncio.sleep(0.6)
    await consumer.sweep()
    while True:
        task_id, _ = await consumer.dequeue(timeout=0.3)
        if task_id is None:
            break
        released += await consumer.release(task_id)
    assert released == 20, await producer.get_stats()
    assert await producer.get_stats() == {
        "tasks": 0, "pending": 0, "working": 0, "delayed": 0, "failed": 0,
    }


@pytest.fixture
def quiet_server() -> Iterator[RedisServer]:
    """A private server, so command counts see only this test."""
    with RedisServer() as server:
        yield server


class RoundTrips:
    """Counts the commands clients send, from MONITOR (commands run by scripts left out)."""

    def __init__(self, url: str) -> None:
        self._client = sync_redis.Redis.from_url(url)
        self._monitor = self._client.monitor()
        self._monitor.__enter__()
        self.commands: list[str] = []
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        for event in self._monitor.listen():
            if event.get("client_type") == "lua":
                continue
            if event["command"] == "ECHO monitor-stop":
                return
            self.commands.append(event["command"].split()[0].upper())

    async def close(self, client: aioredis.Redis) -> None:
        await client.echo("monitor-stop")  # on the measured client: no new connection
        self._thread.join(5)
        self._monitor.__exit__()
        self._client.close()


async def test_one_round_trip_per_transition(quiet_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(quiet_server.url)
    queue = Arque(client, queue="rt")
    await queue.enqueue("warm-up")  # scripts loaded, connection open
    await queue.release((await queue.dequeue())[0])
    trips = RoundTrips(quiet_server.url)
    try:
        marks = [len(trips.commands)]
        task_id = await queue.enqueue("x")
        await asyncio.sleep(0.1)
        marks.append(len(trips.commands))
        task_id, _ = await queue.dequeue()
        await asyncio.sleep(0.1)
        marks.append(len(trips.commands))
        assert await queue.release(task_id)
        await queue.enqueue_many(range(100))
        batch = await queue.dequeue_many(100)
        assert await queue.release_many([t for t, _ in batch]) == [True] * 100
        await asyncio.sleep(0.1)
    finally:
        await trips.close(client)
        await client.aclose()
    assert trips.commands == ["EVALSHA"] * 6
    assert marks == [0, 1, 2]
