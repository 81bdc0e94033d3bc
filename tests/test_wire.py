"""The script calls' fast path: the same bytes as redis-py, and redis-py wherever it cannot serve."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from arque import Arque
from arque.errors import ArqueError, RedisUnavailable
from arque.keys import QueueKeys
from arque.queue import TaskId
from arque.scripts import Scripts
from arque.scripts.wire import Packed
from arque.testing import RedisServer


class _Level(enum.IntEnum):
    HIGH = 7


def _redis_py_bytes(*args: object, **kwargs: object) -> bytes:
    return b"".join(Connection(**kwargs).pack_command(*args))  # type: ignore[arg-type]


@pytest.mark.parametrize("args", [
    [1, 0, "a1b2", '{"i": 1, "t": 0.0}', 30000, -1, -1],
    [2, 1, 0, -1, 1700000000000, "ï-ünïcode", b"\x00\xffbinary", "id2", "x" * 10000],
    [0.25, -0.0, 1e-300, 12345678901234567890, ""],
    [TaskId("a1b2", "token", 2), _Level.HIGH],
])
def test_packs_what_redis_py_packs(args: list[object]) -> None:
    scripts = Scripts(aioredis.Redis(), QueueKeys.for_queue("arque", "wïre"))
    packed = scripts._packed
    assert packed is not None
    command = scripts._command("enqueue", args)  # type: ignore[arg-type]
    wire = packed.pack("enqueue", args)
    assert wire is not None
    assert b"".join(wire) == _redis_py_bytes(*command)


def test_packs_with_the_pools_encoding() -> None:
    client = aioredis.Redis(encoding="latin-1")
    scripts = Scripts(client, QueueKeys.for_queue("arque", "qé"))
    args = ["é", 1]
    wire = scripts._packed.pack("stats", args)  # type: ignore[union-attr]
    assert wire is not None
    assert b"".join(wire) == _redis_py_bytes(*scripts._command("stats", args), encoding="latin-1")


def test_leaves_to_redis_py_what_it_would_refuse() -> None:
    packed = Packed(aioredis.Redis())
    packed.prepare("x", ["EVALSHA", "0" * 40, 0])
    assert packed.pack("x", [True]) is None
    assert packed.pack("x", [None]) is None
    assert packed.pack("x", [object()]) is None
    assert packed.pack("x", [bytearray(b"ba")]) is None


def test_serves_only_plain_pooled_clients() -> None:
    class Custom(aioredis.Redis):
        pass

    assert Packed(aioredis.Redis()).usable
    assert not Packed(aioredis.Redis(single_connection_client=True)).usable
    assert not Packed(Custom()).usable
    assert not Packed(object()).usable


@pytest.fixture
async def own_client(own_redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(own_redis_server.url)
    yield client
    await client.aclose()


async def test_a_refused_argument_gets_redis_pys_error(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        scripts = Scripts(client, QueueKeys.for_queue("arque", "wire-bool"))
        with pytest.raises(ArqueError, match="bool"):
            await scripts.call("stats", [True])
    finally:
        await client.aclose()


async def test_survives_a_restart_and_a_flushed_script_cache(
    own_redis_server: RedisServer, own_client: aioredis.Redis
) -> None:
    queue = Arque(own_client, queue="wire-restart")
    await queue.enqueue({"n": 1}, task_id="one")
    # The pooled connection dies with the server; the script cache is empty after it.
    own_redis_server.restart()
    await queue.enqueue({"n": 2}, task_id="two")
    await own_client.script_flush()
    await queue.enqueue({"n": 3}, task_id="three")
    assert (await queue.stats()).pending == 3
    taken = [(await queue.dequeue())[1] for _ in range(3)]
    assert taken == [{"n": 1}, {"n": 2}, {"n": 3}]


async def test_a_cancelled_call_leaves_no_reply_behind(redis_url: str) -> None:
    # A call cancelled while its reply is on the way must not hand that reply to the next call.
    client = aioredis.Redis.from_url(redis_url, max_connections=1)
    try:
        queue = Arque(client, queue="wire-cancel")
        await queue.enqueue("warm-up")
        for attempt in range(50):
            call = asyncio.ensure_future(queue.enqueue(attempt))
            for _ in range(attempt % 6):  # cancelled at each await of the call in turn
                await asyncio.sleep(0)
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
            # A left-over enqueue reply ([1]) read here would not unpack as four counts.
            stats = await queue.stats()
            assert stats.pending >= 1 and stats.delayed == 0
    finally:
        await client.aclose()


def _no_pipelines(client: aioredis.Redis) -> None:
    """Make redis-py's pipelines fail on ``client``: what still works went the fast path."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pipeline was used")

    client.pipeline = refuse  # type: ignore[method-assign]


async def test_a_blocking_command_and_its_script_go_in_one_write(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, max_connections=1)
    try:
        queue = Arque(client, queue="wire-after")
        marker = queue.keys.marker
        _no_pipelines(client)
        scripts = Scripts(client, queue.keys)
        blocked = asyncio.ensure_future(scripts.call_after(("BZPOPMIN", marker, 5), "stats", []))
        await asyncio.sleep(0.1)
        assert not blocked.done()  # waits for the marker
        async with aioredis.Redis.from_url(redis_url) as other:
            await Arque(other, queue="wire-after").enqueue("a")
        stats = await asyncio.wait_for(blocked, 5)
        assert int(stats[0]) == 1  # the script ran after the enqueue: one pending
        # An error reply to the first command is read whole: the connection stays in step.
        await client.set(marker, "not a zset")
        with pytest.raises(ArqueError, match="WRONGTYPE"):
            await scripts.call_after(("BZPOPMIN", marker, 1), "stats", [])
        await client.delete(marker)
        assert int((await scripts.call("stats", []))[0]) == 1
    finally:
        await client.aclose()


async def _connections_named(redis_url: str, name: str) -> int:
    async with aioredis.Redis.from_url(redis_url) as other:
        return sum(1 for entry in await other.client_list() if entry.get("name") == name)


@pytest.mark.parametrize("cancelled", [True, False], ids=["cancelled-first", "not-cancelled"])
async def test_a_client_closed_under_a_blocked_dequeue_keeps_no_connection(
    redis_url: str, cancelled: bool
) -> None:
    # A blocked dequeue whose client is closed is not sent again on a new connection:
    # the closed pool would keep it open, unclosed, and blocked in BZPOPMIN.
    name = f"wire-closed-{cancelled}"
    client = aioredis.Redis.from_url(redis_url, client_name=name)
    queue = Arque(client, queue=name)
    taking = asyncio.ensure_future(queue.dequeue())
    await asyncio.sleep(0.2)
    assert await _connections_named(redis_url, name) == 1  # blocked in Redis
    if cancelled:  # the shielded call goes on, to hand its reply back
        taking.cancel()
    await client.aclose()
    if cancelled:
        with pytest.raises(asyncio.CancelledError):
            await taking
    else:
        with pytest.raises(RedisUnavailable):
            await asyncio.wait_for(taking, 5)
    await asyncio.sleep(0.3)
    assert await _connections_named(redis_url, name) == 0


async def test_a_blocked_dequeue_is_sent_again_as_the_clients_retry_policy_says(
    redis_url: str,
) -> None:
    name = "wire-retried"
    client = aioredis.Redis.from_url(redis_url, client_name=name, retry=Retry(NoBackoff(), 2))
    try:
        queue = Arque(client, queue=name)
        taking = asyncio.ensure_future(queue.dequeue())
        await asyncio.sleep(0.2)
        async with aioredis.Redis.from_url(redis_url) as other:
            (blocked,) = [c for c in await other.client_list() if c.get("name") == name]
            await other.client_kill_filter(_id=blocked["id"])
            await asyncio.sleep(0.2)
            assert not taking.done()  # blocked again, on a new connection
            await Arque(other, queue=name).enqueue("after", task_id="after")
        task_id, data = await asyncio.wait_for(taking, 5)
        assert (task_id, data) == ("after", "after")
    finally:
        await client.aclose()


async def test_a_payload_larger_than_the_socket_takes_at_once(redis_url: str) -> None:
    # The write leaves bytes in the transport's buffer: they are drained before the reply is read.
    client = aioredis.Redis.from_url(redis_url, max_connections=1)
    try:
        queue = Arque(client, queue="wire-large", max_payload_size=64 * 2**20)
        _no_pipelines(client)
        payload = "x" * (32 * 2**20)
        for n in range(3):
            await queue.enqueue(payload, task_id=f"large-{n}")
        assert (await queue.stats()).pending == 3
        assert (await queue.dequeue())[1] == payload
    finally:
        await client.aclose()


async def test_a_health_checked_connection_is_checked(own_redis_server: RedisServer) -> None:
    # health_check_interval: the write goes through redis-py, which PINGs an idle connection first.
    redis_url = own_redis_server.url  # a server of its own: no other client's PING is counted
    client = aioredis.Redis.from_url(redis_url, health_check_interval=1, max_connections=1)
    try:
        queue = Arque(client, queue="wire-health")
        await queue.enqueue("a")
        async with aioredis.Redis.from_url(redis_url) as other:
            async def pings() -> int:
                return int((await other.info("commandstats")).get("cmdstat_ping", {}).get("calls", 0))

            before = await pings()
            await asyncio.sleep(1.2)
            await queue.enqueue("b")
            assert await pings() == before + 1
        assert (await queue.stats()).pending == 2
    finally:
        await client.aclose()
