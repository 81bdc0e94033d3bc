"""Task ids that would be read as a sentinel, or are too long, are refused before any write;
the ids arque makes itself."""

from __future__ import annotations

import base64
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


def test_new_ids_are_128_random_bits_in_22_url_safe_characters() -> None:
    ids = [new_task_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert len({task_id[-1] for task_id in ids}) == 4  # 21 x 6 bits, then the last 2
    for task_id in ids:
        # Never read as an option on a command line (1 in 64 would start with '-').
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", task_id), task_id
        assert len(base64.urlsafe_b64decode(task_id + "==")) == 16
        assert check_task_id(task_id) == task_id  # never a sentinel
