"""Progress: reported by a running handler, fenced by its hand-out, shown as the same value."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque, InvalidArgument, Worker
from arque.progress import MAX_PROGRESS
from arque.worker import TaskContext
from helpers import running, wait_until


async def test_progress_is_visible_while_the_task_runs(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    step = asyncio.Event()
    reported: list[bool] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        reported.append(await ctx.progress(0.5))
        await step.wait()
        step.clear()
        reported.append(await ctx.progress({"done": 3, "of": 4, "note": "almost"}))
        await step.wait()

    task_id = await queue.enqueue("work")
    assert (await queue.get_task_stats(task_id) or {})["progress"] is None
    async with running(Worker(queue, handler, sweep_interval=None)):
        await wait_until(lambda: reported == [True], 10)
        stats = await queue.get_task_stats(task_id)
        assert stats is not None and stats["state"] == "working"
        assert stats["progress"] == 0.5 and isinstance(stats["progress"], float)
        step.set()
        await wait_until(lambda: len(reported) == 2, 10)
        stats = await queue.get_task_stats(task_id)
        assert stats is not None
        assert stats["progress"] == {"done": 3, "of": 4, "note": "almost"}
        step.set()
    assert reported == [True, True]


async def test_progress_is_fenced_by_the_hand_out(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, task_timeout=0.2)
    await queue.enqueue("x", task_id="t")
    first, _ = await queue.dequeue()
    assert await queue.progress(first, 1)
    await asyncio.sleep(0.3)
    await queue.sweep()
    second, _ = await queue.dequeue()
    assert not await queue.progress(first, 99)  # a stale holder
    assert await queue.progress(second, [2, "b"])
    stats = await queue.get_task_stats("t")
    assert stats is not None and stats["progress"] == [2, "b"]
    assert await queue.release(second)
    assert not await queue.progress("t", 3)  # finished: refused, nothing written
    assert await queue.get_task_stats("t") is None


async def test_bad_progress_is_refused_and_nothing_written(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("x", task_id="t")
    task_id, _ = await queue.dequeue()
    for bad in (object(), float("nan"), "x" * MAX_PROGRESS):
        with pytest.raises(InvalidArgument):
            await queue.progress(task_id, bad)
    stats = await queue.get_task_stats("t")
    assert stats is not None and stats["progress"] is None


async def test_progress_stays_with_a_dead_letter(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("x", task_id="t")
    task_id, _ = await queue.dequeue()
    assert await queue.progress(task_id, 0.75)
    assert await queue.fail(task_id, "gave up")
    stats = await queue.get_task_stats("t")
    assert stats is not None and (stats["state"], stats["progress"]) == ("failed", 0.75)


async def test_cli_task_shows_progress(
    redis_url: str, redis: aioredis.Redis, queue_name: str
) -> None:
    from test_cli import cli, ok, on, one_line_error

    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("x", task_id="t")
    task_id, _ = await queue.dequeue()
    assert await queue.progress(task_id, {"done": 0.5})
    shown = json.loads(ok(*on(redis_url, queue_name, "task", "t", "--json")))
    assert (shown["state"], shown["progress"]) == ("working", {"done": 0.5})
    assert 'progress               {"done": 0.5}' in ok(*on(redis_url, queue_name, "task", "t"))
    assert await queue.release(task_id)
    one_line_error(cli(*on(redis_url, queue_name, "task", "t")), 1)


@pytest.mark.cluster
async def test_progress_on_a_cluster(cluster_client: Any) -> None:
    queue = Arque(cluster_client, queue=f"cluster-{uuid.uuid4().hex}")
    await queue.enqueue("x", task_id="p")
    task_id, _ = await queue.dequeue()
    assert await queue.progress(task_id, 0.25)
    stats = await queue.get_task_stats("p")
    assert stats is not None and stats["progress"] == 0.25
