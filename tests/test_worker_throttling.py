"""Worker throttling measured: concurrency, working_limit across processes, batch_size, queues."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque
from arque.worker import TaskContext, Worker
from helpers import EMPTY, log_lines, running, spawn_worker_app, wait_until


async def test_in_flight_never_above_concurrency(redis: aioredis.Redis, queue_name: str) -> None:
    concurrency = 4
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue_many(list(range(60)))
    now = 0
    peak = 0
    seen_in_stats: list[int] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        try:
            await asyncio.sleep(0.01 * (data % 3))
        finally:
            now -= 1

    worker = Worker(queue, handler, concurrency=concurrency)
    async with running(worker):
        while worker.stats().released < 60:
            seen_in_stats.append(worker.stats().in_flight)
            await asyncio.sleep(0.005)
    assert peak == concurrency  # reached, never passed
    assert max(seen_in_stats) <= concurrency
    assert await queue.get_stats() == EMPTY


@pytest.mark.slow
async def test_working_limit_is_held_across_worker_processes(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    """Three processes of concurrency 5 share a working_limit of 4: at most 4 working."""
    limit, processes, tasks = 4, 3, 40
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = Arque(client, queue=queue_name)
        logs = [tmp_path / f"worker-{n}.log" for n in range(processes)]
        procs = [spawn_worker_app(redis_url, queue_name, log, 5.0, 5, working_limit=limit)
                 for log in logs]
        working: list[int] = []
        try:
            await wait_until(lambda: all(log_lines(log, "ready") for log in logs))
            # Enqueued once all three wait: a slow start must not leave one process all.
            await queue.enqueue_many([{"sleep": 0.1}] * tasks)
            deadline = time.monotonic() + 60
            while (await queue.get_stats())["tasks"] > 0:
                assert time.monotonic() < deadline, await queue.get_stats()
                working.append(int(await client.zcard(queue.keys.working)))
                await asyncio.sleep(0.005)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                await asyncio.to_thread(proc.wait, 30)
        per_process = [len(log_lines(log, "done")) for log in logs]
        errors = [Path(f"{log}.err").read_text() for log in logs]
    assert max(working) == limit, working  # reached, never passed
    assert sum(per_process) == tasks
    assert sum(1 for n in per_process if n > 0) >= 2, per_process  # they really shared it
    assert all("Traceback" not in e for e in errors), errors


async def test_batch_size_caps_every_fetch_and_release(
    redis: aioredis.Redis, queue_name: str
) -> None:
    batch = 3
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue_many(list(range(40)))
    fetched: list[tuple[int, int]] = []
    released: list[int] = []
    dequeue_many, release_many = queue.dequeue_many, queue.release_many

    async def counting_dequeue(max_tasks: int, timeout: float | None = None) -> Any:
        got = await dequeue_many(max_tasks, timeout)
        fetched.append((max_tasks, len(got)))
        return got

    async def counting_release(task_ids: Any) -> list[bool]:
        released.append(len(task_ids))
        return await release_many(task_ids)

    queue.dequeue_many = counting_dequeue  # type: ignore[method-assign]
    queue.release_many = counting_release  # type: ignore[method-assign]

    async def handler(data: Any, ctx: TaskContext) -> None:
        await asyncio.sleep(0.005)

    worker = Worker(queue, handler, concurrency=10, batch_size=batch)
    async with running(worker):
        await wait_until(lambda: worker.stats().released == 40)
    assert max(asked for asked, _ in fetched) == batch
    assert max(got for _, got in fetched) == batch  # full batches did happen
    assert max(released) <= batch and sum(released) == 40


async def test_a_busy_queue_and_an_idle_one_share_the_worker(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """One worker over two queues: the idle queue's blocked fetch does not stall the
    busy queue, and tasks arriving on the idle one are served while the busy one
    still has a backlog."""
    busy = Arque(redis, queue=f"{queue_name}-busy")
    quiet = Arque(redis, queue=f"{queue_name}-quiet")
    await busy.enqueue_many([{"n": n} for n in range(300)])
    order: list[str] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        await asyncio.sleep(0.01)
        order.append(ctx.queue)

    worker = Worker([quiet, busy], handler, concurrency=4)
    async with running(worker):
        await wait_until(lambda: len(order) >= 20)  # the busy queue runs; the quiet one idles
        await quiet.enqueue_many([{"n": n} for n in range(5)])
        await wait_until(lambda: order.count(quiet.queue) == 5)
        backlog = (await busy.get_stats())["pending"]
        await wait_until(lambda: worker.stats().released == 305, 60)
    assert backlog > 0, "the quiet queue's tasks waited for the busy queue to drain"
    assert await busy.get_stats() == EMPTY and await quiet.get_stats() == EMPTY
