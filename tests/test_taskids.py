"""Task ids that would be read as a sentinel, or are too long, are refused before any write;
the ids arque makes itself."""

from __future__ import annotations

import asyncio
import re

import pytest
import redis as redis_py
import redis.asyncio as aioredis

from arque import MARKED_AS_FAILED, NOT_FOUND, OVERLOADED, Arque, InvalidArgument
from arque.taskids import MAX_TASK_ID_BYTES, check_task_id, new_task_id


@pytest.fixture
def queue(redis: aioredis.Redis, queue_name: str) -> Arque:
    return Arque(redis, queue=queue_name)


async def _nothing_written(redis: aioredis.Redis, queue: Arque) -> None:
    assert [key for key in queue.keys.names().values() if await redis.exists(key)] == []


@pytest.mark.parametrize("task_id", [NOT_FOUND, OVERLOADED, MARKED_AS_FAILED])
async def test_a_sentinel_is_not_an_id(
    redis: aioredis.Redis, queue: Arque, sync_redis: redis_py.Redis, task_id: str
) -> None:
    with pytest.raises(InvalidArgument, match="sentinel"):
        await queue.enqueue("x", task_id=task_id)
    with pytest.raises(InvalidArgument, match="sentinel"):
        await queue.enqueue_many(["ok", "x"], task_ids=["fine", task_id])
    with pytest.raises(InvalidArgument, match="sentinel"):
        Arque(sync_redis, queue=queue.queue).enqueue_sync("x", task_id=task_id)
    await _nothing_written(redis, queue)


async def test_task_ids_have_a_length_limit(redis: aioredis.Redis, queue: Arque) -> None:
    longest = "é" * (MAX_TASK_ID_BYTES // 2)  # two bytes each: exactly the limit
    assert await queue.enqueue("x", task_id=longest) == longest
    assert (await queue.dequeue())[0] == longest
    await redis.delete(*queue.keys.names().values())
    for too_long in ("a" * (MAX_TASK_ID_BYTES + 1), longest + "a"):
        with pytest.raises(InvalidArgument, match=f"over the limit of {MAX_TASK_ID_BYTES}"):
            await queue.enqueue("x", task_id=too_long)
        with pytest.raises(InvalidArgument):
            await queue.enqueue_many(["x"], task_ids=[too_long])
    with pytest.raises(InvalidArgument, match="not valid Unicode"):
        await queue.enqueue("x", task_id="lone\udcff")
    await _nothing_written(redis, queue)


def test_new_ids_are_84_random_bits_in_14_url_safe_characters() -> None:
    ids = [new_task_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for position in range(14):  # every character is one of 64 (the first one of 63)
        assert len({task_id[position] for task_id in ids}) == (63 if position == 0 else 64)
    for task_id in ids:
        # Never read as an option on a command line (1 in 64 would start with '-').
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{13}", task_id), task_id
        assert check_task_id(task_id) == task_id  # never a sentinel


async def test_an_id_drawn_twice_is_drawn_again_never_dropped(
    redis: aioredis.Redis, queue: Arque, sync_redis: redis_py.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drawn id that meets a live task (or another task of the same batch) gets a new draw,
    by every path of enqueue; an id the caller gave is still left as it is."""
    live = await queue.enqueue("first", task_id="live-id")
    draws: list[str] = []

    def drawn_twice() -> str:  # the first draw of each enqueue meets the live task
        draws.append("live-id" if len(draws) % 2 == 0 else new_task_id())
        return draws[-1]

    monkeypatch.setattr("arque.queue.new_task_id", drawn_twice)
    plain = await queue.enqueue("plain")                       # enqueue_one.lua
    delayed = await queue.enqueue("delayed", delay=60)         # enqueue.lua
    sync = Arque(sync_redis, queue=queue.queue).enqueue_sync("sync")
    sync_delayed = Arque(sync_redis, queue=queue.queue).enqueue_sync("sync later", priority=3)
    coalesced = await asyncio.gather(*(queue.enqueue(f"c{i}") for i in range(4)))
    draws.clear()
    batch = await queue.enqueue_many(["b0", "b1", "b2"])       # b0 and b2 draw 'live-id'
    new_ids = [plain, delayed, sync, sync_delayed, *coalesced, *batch]
    assert live == "live-id" and "live-id" not in new_ids and len(set(new_ids)) == len(new_ids)
    assert all([await queue.get_task_stats(task_id) for task_id in [live, *new_ids]])
    assert await redis.hlen(queue.keys.tasks) == 1 + len(new_ids)
    ready = dict(await queue.dequeue_many(100, timeout=1))
    assert ready == {live: "first", plain: "plain", sync: "sync", sync_delayed: "sync later",
                     **{task_id: f"c{i}" for i, task_id in enumerate(coalesced)},
                     **{task_id: f"b{i}" for i, task_id in enumerate(batch)}}

    # A given id is never replaced: the live task stays, the call returns its id.
    assert await queue.enqueue("again", task_id=live) == live
    assert await queue.enqueue_many(["again"], task_ids=[live]) == [live]
    assert Arque(sync_redis, queue=queue.queue).enqueue_sync("again", task_id=live) == live
    assert await redis.hlen(queue.keys.tasks) == 1 + len(new_ids)
