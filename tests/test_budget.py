"""A batch that outlasts one script call's time goes in more calls, and nothing is lost.

Each script that works through a batch (enqueue, dequeue, release) stops
once it has used its time (scripts/includes/budget.lua, 0.5 ms of the
server's clock) and answers for what it did; the client sends the rest.
The batches here take several milliseconds of Redis work in one call, so
they must go in several, on any machine. Every call is read from SLOWLOG
(threshold 0, the script named by its SHA): how many there were and how
long the longest ran. The bound on that is generous (a loaded two-core
machine); benchmarks/many_processes.py measures the real figures.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque
from arque.scripts import sha1
from arque.testing import RedisServer

# A call that did its whole batch here runs 5-60 ms; a bounded one about 0.5 ms,
# stretched by a loaded machine. SLOWLOG counts wall time, so a call the OS paused
# may pass any bound: the median of a batch's calls is held to it, not the slowest.
MEDIAN_US = 5_000


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def client(server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    async with aioredis.Redis.from_url(server.url) as client:
        await client.flushall()
        await client.config_set("slowlog-log-slower-than", 0)
        await client.config_set("slowlog-max-len", 100_000)
        yield client


class Calls:
    """The calls of one script since the last ``reset``, from SLOWLOG."""

    def __init__(self, client: aioredis.Redis, script: str) -> None:
        self._client = client
        self._sha = sha1(script).encode()

    async def reset(self) -> None:
        await self._client.slowlog_reset()

    async def durations(self) -> list[int]:
        log = await self._client.slowlog_get(100_000)
        return [int(e["duration"]) for e in log
                if e["command"].split()[:2] == [b"EVALSHA", self._sha]]


def _in_bounded_calls(durations: list[int], more_than: int) -> None:
    """The batch went in more than ``more_than`` calls, each stopped in time."""
    assert len(durations) > more_than, f"too few calls for the batch: {durations}"
    assert statistics.median(durations) < MEDIAN_US, durations


async def test_a_large_enqueue_many_goes_in_calls_of_bounded_time(client: aioredis.Redis) -> None:
    queue = Arque(client, queue="big-enqueue")
    await queue.enqueue("warm-up")  # the scripts are loaded, the connection open
    await queue.enqueue_many(["warm-up"] * 2)
    await client.flushall()
    calls = Calls(client, "enqueue")
    await calls.reset()
    # One chunk of enqueue_many (under 500 tasks and 4 MiB): 3.2 MiB to copy and store.
    pad = "x" * 8_000
    ids = await queue.enqueue_many([{"n": n, "pad": pad} for n in range(400)])
    _in_bounded_calls(await calls.durations(), more_than=1)
    # Every task once, in order, each with its payload.
    listed = reversed(await client.lrange(queue.keys.pending, 0, -1))
    pending = [i.decode() if isinstance(i, bytes) else i for i in listed]
    assert pending == ids and len(set(ids)) == 400
    taken = await queue.dequeue_many(400)
    assert [str(t) for t, _ in taken] == ids
    assert [data["n"] for _, data in taken] == list(range(400))


async def test_a_large_batch_of_lone_enqueues_goes_in_calls_of_bounded_time(
    client: aioredis.Redis,
) -> None:
    """Concurrent enqueues share one call (batching.py): that call is bounded too."""
    queue = Arque(client, queue="big-coalesced")
    await queue.enqueue_many(["warm-up"] * 2)
    await client.flushall()
    calls = Calls(client, "enqueue")
    await calls.reset()
    pad = "y" * 8_000
    ids = await asyncio.gather(*(queue.enqueue({"n": n, "pad": pad}, delay=60) for n in range(400)))
    assert len(set(ids)) == 400 and (await queue.stats()).delayed == 400
    _in_bounded_calls(await calls.durations(), more_than=2)


async def test_a_large_dequeue_many_is_taken_in_calls_of_bounded_time(client: aioredis.Redis) -> None:
    queue = Arque(client, queue="big-dequeue", working_limit=0)
    ids = await queue.enqueue_many(range(3_000))
    calls = Calls(client, "dequeue")
    await calls.reset()
    taken = await queue.dequeue_many(3_000)
    # All of them (what was asked and is ready), in order, each once.
    assert [str(t) for t, _ in taken] == ids
    assert [data for _, data in taken] == list(range(3_000))
    _in_bounded_calls(await calls.durations(), more_than=2)
    stats = await queue.stats()
    assert (stats.pending, stats.working) == (0, 3_000)


async def _clock_reads(client: aioredis.Redis, queue: Arque, n: int) -> int:
    """How many times the dequeue of ``n`` ready tasks read the server's clock."""
    await queue.enqueue_many(range(n))
    await client.config_resetstat()
    assert len(await queue.dequeue_many(n)) == n
    stats = await client.info("commandstats")
    return int(stats["cmdstat_time"]["calls"])


async def test_a_dequeue_reads_the_clock_after_its_first_eight_tasks(client: aioredis.Redis) -> None:
    """A slowed server cannot spend long on a batch before its first look at the clock:
    a batch of 8 is one chunk, read once; a batch of 20 reads the clock again after 8."""
    queue = Arque(client, queue="first-chunk", working_limit=0)
    assert await _clock_reads(client, queue, 20) > await _clock_reads(client, queue, 8)


async def test_a_large_release_many_goes_in_calls_of_bounded_time(client: aioredis.Redis) -> None:
    queue = Arque(client, queue="big-release", result_ttl=60, working_limit=0)
    await queue.enqueue_many(range(3_000))
    taken = await queue.dequeue_many(3_000)
    calls = Calls(client, "release")
    await calls.reset()
    done = await queue.release_many([t for t, _ in taken], [n * 2 for _, n in taken])
    assert done == [True] * 3_000
    _in_bounded_calls(await calls.durations(), more_than=2)
    stats = await queue.stats()
    assert (stats.pending, stats.working, stats.failed) == (0, 0, 0)
    assert await queue.result(taken[-1][0]) == 2 * 2_999
    assert await client.hlen(queue.keys.results) == 3_000


async def _taking_mid_batch(
    server: RedisServer, queue: Arque, tasks: int,
) -> tuple[list[str], asyncio.Future[Any]]:
    """The ids of ``tasks`` enqueued, and a ``dequeue_many`` of all of them under way:
    returned once two of its script calls ran (the watcher reads SLOWLOG meanwhile)."""
    ids = await queue.enqueue_many(range(tasks))
    async with aioredis.Redis.from_url(server.url) as watcher:
        calls = Calls(watcher, "dequeue")
        await calls.reset()
        taking = asyncio.ensure_future(queue.dequeue_many(tasks))
        while len(await calls.durations()) < 2 and not taking.done():
            await asyncio.sleep(0)
    assert not taking.done(), "the batch was taken before the test could step in"
    return ids, taking


async def test_a_dequeue_many_cancelled_between_its_calls_gives_every_task_back(
    server: RedisServer, client: aioredis.Redis,
) -> None:
    """Cancelled after some of its calls ran, none of what they took waits for a lease."""
    queue = Arque(client, queue="big-cancelled", task_timeout=600, working_limit=0)
    ids, taking = await _taking_mid_batch(server, queue, 8_000)
    taking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await taking
    # Given back unused: pending again, no attempt counted.
    for _ in range(600):
        stats = await queue.stats()
        if stats.working == 0 and stats.pending == 8_000:
            break
        await asyncio.sleep(0.05)
    assert (stats.pending, stats.working, stats.failed) == (8_000, 0, 0)
    taken = await queue.dequeue_many(8_000)
    assert sorted(str(t) for t, _ in taken) == sorted(ids)
    assert {t.attempt for t, _ in taken} == {1}


async def test_a_dequeue_many_whose_follow_up_fails_keeps_what_it_took(
    server: RedisServer, client: aioredis.Redis,
) -> None:
    """A follow-up call that fails (here: a key of the queue turned to the wrong type
    meanwhile) leaves the caller the tasks the calls before it took: they are its own."""
    queue = Arque(client, queue="big-broken", task_timeout=600, working_limit=0)
    _, taking = await _taking_mid_batch(server, queue, 8_000)
    await client.set(queue.keys.cancelling, "not a set")
    taken = await taking
    await client.delete(queue.keys.cancelling)
    assert 0 < len(taken) < 8_000, "the batch was taken before the test could break it"
    stats = await queue.stats()
    assert (stats.working, stats.pending) == (len(taken), 8_000 - len(taken))
    assert await queue.release_many([t for t, _ in taken]) == [True] * len(taken)
