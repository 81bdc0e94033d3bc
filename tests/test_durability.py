"""Durable enqueues: WAIT after the script on the same connection; NotDurable when unconfirmed.

A master and a replica the test starts; the replica is frozen (SIGSTOP) to
make confirmations fail. The failover case is in test_sentinel.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio as aioredis

from arque import Arque, Durability, InvalidArgument, NotDurable, ServerError
from arque.testing import RedisServer

FAST = Durability(replicas=1, timeout=0.3)  # for waits that must fail: quick
SURE = Durability(replicas=1, timeout=10)  # for waits that must succeed, on a loaded machine


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[RedisServer, RedisServer]]:
    """A master and its replica, in sync."""
    with RedisServer() as master, RedisServer(replicaof=master.port) as replica:
        with master.client(decode_responses=True) as client:
            for _ in range(300):
                if "online" in str(client.info("replication").get("slave0", "")):
                    break
                time.sleep(0.1)
            else:
                pytest.fail("the replica did not sync")
        yield master, replica


@pytest.fixture
async def client(pair: tuple[RedisServer, RedisServer]) -> AsyncIterator[aioredis.Redis]:
    master, _ = pair
    async with aioredis.Redis.from_url(master.url) as client:
        yield client


@pytest.fixture
def frozen_replica(pair: tuple[RedisServer, RedisServer]) -> Iterator[RedisServer]:
    _, replica = pair
    replica.pause()
    try:
        yield replica
    finally:
        replica.resume()


@pytest.mark.parametrize("kwargs", [
    {"replicas": 0}, {"replicas": -1}, {"replicas": True}, {"replicas": 1.5},
    {"timeout": 0}, {"timeout": -1}, {"timeout": float("inf")}, {"aof": "yes"},
])
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        Durability(**kwargs)  # type: ignore[arg-type]


def test_aof_allows_zero_replicas_and_builds_waitaof() -> None:
    assert Durability(replicas=0, aof=True, timeout=0.25).command == ["WAITAOF", 1, 0, 250]
    assert Durability(replicas=2, timeout=1).command == ["WAIT", 2, 1000]


async def test_confirmed_enqueues_return(client: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(client, queue=queue_name, durability=SURE)
    await client.script_flush()  # the first call meets NOSCRIPT: loaded, sent again, waited
    task_id = await queue.enqueue({"n": 1})
    ids = await queue.enqueue_many([{"n": 2}, {"n": 3}])
    gathered = await asyncio.gather(*(queue.enqueue({"n": i}) for i in range(20)))
    assert len({task_id, *ids, *gathered}) == 23
    assert (await queue.stats()).pending == 23


async def test_unconfirmed_enqueues_raise_and_a_retry_confirms(
    client: aioredis.Redis, queue_name: str, pair: tuple[RedisServer, RedisServer]
) -> None:
    queue = Arque(client, queue=queue_name, durability=FAST)
    _, replica = pair
    replica.pause()
    try:
        with pytest.raises(NotDurable, match="0 of 1 replicas") as raised:
            await queue.enqueue({"n": 1}, task_id="t1")
        assert (raised.value.confirmed, raised.value.needed) == (0, 1)
        with pytest.raises(NotDurable):
            await queue.enqueue_many([{"n": 2}], task_ids=["t2"])
        # Coalesced enqueues share one script call and one WAIT: all of them raise.
        results = await asyncio.gather(
            *(queue.enqueue({"n": i}, task_id=f"c{i}") for i in range(10)),
            return_exceptions=True)
        assert all(isinstance(r, NotDurable) for r in results)
        # The retry of an id already written writes nothing, yet its WAIT covers the first write.
        with pytest.raises(NotDurable):
            await queue.enqueue({"n": 1}, task_id="t1")
    finally:
        replica.resume()
    patient = Arque(client, queue=queue_name, durability=SURE)
    assert await patient.enqueue({"n": 1}, task_id="t1") == "t1"
    assert (await queue.stats()).pending == 12  # applied on the master once each, not twice


async def test_replay_waits_too(
    client: aioredis.Redis, queue_name: str, frozen_replica: RedisServer
) -> None:
    plain = Arque(client, queue=queue_name)
    await plain.enqueue({"n": 1}, task_id="t")
    taken, _ = await plain.dequeue(timeout=5)
    assert taken is not None and await plain.fail(taken, "boom")
    with pytest.raises(NotDurable):
        await Arque(client, queue=queue_name, durability=FAST).replay_failed("t")


def test_enqueue_sync_waits(
    pair: tuple[RedisServer, RedisServer], queue_name: str
) -> None:
    master, replica = pair
    with redis.Redis.from_url(master.url) as client:
        patient = Arque(client, queue=queue_name, durability=SURE)
        assert patient.enqueue_sync({"n": 1}, task_id="a") == "a"
        replica.pause()
        try:
            with pytest.raises(NotDurable):
                Arque(client, queue=queue_name, durability=FAST).enqueue_sync({"n": 2}, task_id="b")
        finally:
            replica.resume()
        assert patient.enqueue_sync({"n": 2}, task_id="b") == "b"


async def test_more_replicas_than_exist_always_raise(
    client: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(client, queue=queue_name, durability=Durability(replicas=2, timeout=0.2))
    with pytest.raises(NotDurable, match=r"\d of 2 replicas"):
        await queue.enqueue({"n": 1})


async def test_waitaof(queue_name: str) -> None:
    with RedisServer(appendonly=True) as server:
        async with aioredis.Redis.from_url(server.url) as client:
            queue = Arque(client, queue=queue_name, durability=Durability(replicas=0, aof=True))
            if server.version >= (7, 2, 0):
                assert await queue.enqueue({"n": 1}, task_id="a") == "a"  # fsynced locally
            else:
                with pytest.raises(ServerError, match=r"WAITAOF needs Redis >= 7\.2"):
                    await queue.enqueue({"n": 1})


async def test_cluster_clients_are_refused(cluster_client: object, queue_name: str) -> None:
    with pytest.raises(InvalidArgument, match="cluster"):
        Arque(cluster_client, queue=queue_name, durability=FAST)
    with pytest.raises(InvalidArgument):
        Arque(cluster_client, queue=queue_name, durability=1)  # type: ignore[arg-type]
