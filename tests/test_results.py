"""Results: kept by the fenced release, awaited without polling, expired, and never a wait for ever."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import (
    Arque,
    DeadReason,
    InvalidArgument,
    ResultNotFound,
    ResultTimeout,
    TaskFailed,
    Worker,
)
from arque.worker import TaskContext
from helpers import running, wait_until


async def keys_of(redis: aioredis.Redis, queue: Arque) -> set[str]:
    found = await redis.keys(f"{queue.prefix}:{{{queue.queue}}}:*")
    return {k.decode() if isinstance(k, bytes) else k for k in found}


async def test_result_awaited_before_the_task_starts(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=60)
    task_id = await queue.enqueue({"x": 2})
    waiter = asyncio.ensure_future(queue.result(task_id))
    await asyncio.sleep(0.3)
    assert not waiter.done()  # it waits: the task has not even started

    async def handler(data: Any, ctx: TaskContext) -> Any:
        return {"double": data["x"] * 2, "pi": 3.25}

    started = time.monotonic()
    async with running(Worker(queue, handler, sweep_interval=None)):
        assert await asyncio.wait_for(waiter, 10) == {"double": 4, "pi": 3.25}
    assert time.monotonic() - started < 5  # woken by the finish, not by a slow poll
    assert await queue.result(task_id) == {"double": 4, "pi": 3.25}  # kept, read again


async def test_seed_api_release_with_a_result(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=60)
    await queue.enqueue("job", task_id="t1")
    task_id, _ = await queue.dequeue()
    waiter = asyncio.ensure_future(queue.result("t1"))
    await asyncio.sleep(0.1)
    assert await queue.release(task_id, result=[1, "two", None])
    assert await asyncio.wait_for(waiter, 5) == [1, "two", None]
    # A release without a result keeps None: the task finished, that is its result.
    await queue.enqueue("job", task_id="t2")
    task_id, _ = await queue.dequeue()
    assert await queue.release(task_id)
    assert await queue.result("t2") is None


async def test_many_waiters_on_many_tasks(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=60)
    ids = await queue.enqueue_many(list(range(20)))
    waiters = [asyncio.ensure_future(queue.result(t)) for t in ids for _ in range(2)]
    await asyncio.sleep(0.2)

    async def handler(data: Any, ctx: TaskContext) -> Any:
        return data * 10

    async with running(Worker(queue, handler, sweep_interval=None)):
        results = await asyncio.wait_for(asyncio.gather(*waiters), 20)
    assert results == [n * 10 for n in range(20) for _ in range(2)]


async def test_dead_lettered_task_raises_task_failed(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=60)
    await queue.enqueue({"bad": True}, task_id="doomed")
    waiter = asyncio.ensure_future(queue.result("doomed"))
    await asyncio.sleep(0.1)
    task_id, _ = await queue.dequeue()
    assert await queue.fail(task_id, "it cannot be done")
    with pytest.raises(TaskFailed) as caught:
        await asyncio.wait_for(waiter, 5)
    letter = caught.value.dead_letter
    assert (letter.task_id, letter.reason, letter.error) == ("doomed", "rejected", "it cannot be done")
    assert letter.data == {"bad": True}
    with pytest.raises(TaskFailed):  # and at once, for a task already dead
        await queue.result("doomed")


async def test_exhausted_by_the_worker_raises_task_failed(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=60, requeue_limit=1)
    task_id = await queue.enqueue("x")

    async def handler(data: Any, ctx: TaskContext) -> Any:
        raise RuntimeError("always")

    async with running(Worker(queue, handler, sweep_interval=None)):
        with pytest.raises(TaskFailed) as caught:
            await asyncio.wait_for(queue.result(task_id), 10)
    assert caught.value.dead_letter.reason == DeadReason.RETRIES_EXHAUSTED.value
    assert "always" in (caught.value.dead_letter.error or "")


async def test_unknown_id_raises_at_once(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=60)
    started = time.monotonic()
    with pytest.raises(ResultNotFound):
        await queue.result("never-enqueued")
    assert time.monotonic() - started < 1.0


async def test_results_off_released_task_raises_not_found(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)  # result_ttl off: the default
    await queue.enqueue("x", task_id="t")
    waiter = asyncio.ensure_future(queue.result("t"))
    await asyncio.sleep(0.1)
    task_id, _ = await queue.dequeue()
    assert await queue.release(task_id, result="ignored")
    with pytest.raises(ResultNotFound):  # the waiter is told, it does not hang
        await asyncio.wait_for(waiter, 5)
    # Nothing left behind: no result, no waiter, no stream entry that stays.
    assert await keys_of(redis, queue) <= {queue.keys.finished}
    assert await redis.hlen(queue.keys.waiting) == 0


async def test_results_expire(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=0.5)
    for name in ("a", "b"):
        await queue.enqueue(name, task_id=name)
        task_id, _ = await queue.dequeue()
        assert await queue.release(task_id, result=name.upper())
    assert await queue.result("a") == "A"
    await asyncio.sleep(0.7)
    with pytest.raises(ResultNotFound):
        await queue.result("a")  # expired, even before a sweep drops it
    assert await redis.hlen(queue.keys.results) == 2
    await queue.sweep()
    assert await redis.hlen(queue.keys.results) == 0
    assert await redis.zcard(queue.keys.results_due) == 0


async def test_timeout_raises_result_timeout(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=60)
    await queue.enqueue("x", task_id="slow")
    started = time.monotonic()
    with pytest.raises(ResultTimeout):
        await queue.result("slow", timeout=0.3)
    assert 0.25 < time.monotonic() - started < 3
    with pytest.raises(InvalidArgument):
        await queue.result("slow", timeout=0)


async def test_a_stale_holder_cannot_write_the_result(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=60, task_timeout=0.2)
    await queue.enqueue("x", task_id="t")
    first, _ = await queue.dequeue()
    await asyncio.sleep(0.3)
    assert await queue.sweep() == 1  # the first holder's lease expired
    second, _ = await queue.dequeue()
    assert not await queue.release(first, result="stale")
    assert await queue.release(second, result="fresh")
    assert await queue.result("t") == "fresh"


async def test_unencodable_result_dead_letters_the_task(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=60)
    task_id = await queue.enqueue("x")

    async def handler(data: Any, ctx: TaskContext) -> Any:
        return object()  # JSON cannot keep it

    async with running(Worker(queue, handler, sweep_interval=None)):
        with pytest.raises(TaskFailed) as caught:
            await asyncio.wait_for(queue.result(task_id), 10)
    assert caught.value.dead_letter.reason == "rejected"
    assert "cannot be serialised" in (caught.value.dead_letter.error or "")


async def test_results_off_handler_may_return_anything(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("x")

    async def handler(data: Any, ctx: TaskContext) -> Any:
        return object()  # not kept, so never encoded

    async with running(Worker(queue, handler, sweep_interval=None)) as worker:
        await wait_until(lambda: worker.stats().released == 1, 10)
    assert (await queue.stats()).failed == 0
    assert not await redis.exists(queue.keys.results)


def test_result_ttl_is_checked(redis: aioredis.Redis) -> None:
    with pytest.raises(InvalidArgument):
        Arque(redis, result_ttl=-1)


async def test_cli_result(redis_url: str, redis: aioredis.Redis, queue_name: str) -> None:
    from test_cli import cli, ok, on, one_line_error

    queue = Arque(redis, queue=queue_name, result_ttl=60)
    await queue.enqueue("x", task_id="r")
    task_id, _ = await queue.dequeue()
    line = one_line_error(cli(*on(redis_url, queue_name, "result", "r", "--timeout", "0.2")), 1)
    assert "did not finish in time" in line
    assert await queue.release(task_id, result={"rows": 3})
    assert json.loads(ok(*on(redis_url, queue_name, "result", "r"))) == {"rows": 3}
    one_line_error(cli(*on(redis_url, queue_name, "result", "unknown")), 1)


async def test_result_ttl_is_the_queues_setting(redis: aioredis.Redis, queue_name: str) -> None:
    owner = Arque(redis, queue=queue_name, result_ttl=60)
    assert (await owner.settings()).result_ttl == 60  # stored with the queue
    bare = Arque(redis, queue=queue_name)  # a worker started without it applies the owner's
    task_id = await owner.enqueue("x")

    async def handler(data: Any, ctx: TaskContext) -> Any:
        return "kept"

    async with running(Worker(bare, handler, sweep_interval=None)):
        assert await asyncio.wait_for(bare.result(task_id), 10) == "kept"
    assert bare.result_ttl == 60
    await owner.configure(result_ttl=None)  # back to the default: off
    assert (await bare.settings()).result_ttl == 0


@pytest.mark.cluster
async def test_results_on_a_cluster(cluster_client: Any) -> None:
    queue = Arque(cluster_client, queue=f"cluster-{uuid.uuid4().hex}", result_ttl=60)
    await queue.enqueue("x", task_id="r")
    waiter = asyncio.ensure_future(queue.result("r"))
    await asyncio.sleep(0.1)
    task_id, _ = await queue.dequeue()
    assert await queue.release(task_id, result={"on": "cluster"})
    assert await asyncio.wait_for(waiter, 5) == {"on": "cluster"}
    with pytest.raises(ResultNotFound):
        await queue.result("unknown")


async def test_results_are_bounded_by_count(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=60, max_results=3)
    for n in range(5):
        await queue.enqueue(n, task_id=f"t{n}")
        task_id, _ = await queue.dequeue()
        assert await queue.release(task_id, result=n)
    assert await redis.hlen(queue.keys.results) == 3
    with pytest.raises(ResultNotFound):
        await queue.result("t0")  # the oldest went first
    assert [await queue.result(f"t{n}") for n in (2, 3, 4)] == [2, 3, 4]
    await queue.configure(max_results=1)  # lowered: the sweep trims the backlog
    await queue.sweep()
    assert await redis.hlen(queue.keys.results) == 1
    assert await queue.result("t4") == 4
