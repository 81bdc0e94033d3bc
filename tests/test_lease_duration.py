"""The lease's length comes from Redis as a duration: time limits ignore this host's clock."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque, TaskId
from arque.worker import TaskContext, Worker
from helpers import wait_until


async def test_a_hand_out_carries_its_lease_as_a_duration(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("x", task_timeout=7.5)
    await queue.enqueue_many(["y", "z"], task_timeout=0.25)
    seconds, micros = await redis.time()
    task_id, _ = await queue.dequeue()
    assert isinstance(task_id, TaskId)
    assert task_id.lease == 7.5
    # The deadline is the same lease on the Redis clock, for display.
    assert abs(task_id.deadline - task_id.lease - (seconds + micros / 1e6)) < 1.0
    assert [t.lease for t, _ in await queue.dequeue_many(2)] == [0.25, 0.25]


async def test_a_jump_of_the_host_clock_does_not_cut_a_handler_short(
    redis: aioredis.Redis, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host clock steps an hour ahead while the worker runs (NTP, a VM resumed):
    the handler still gets its whole lease as its time limit."""
    queue = Arque(redis, queue=queue_name)
    done: list[float] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        await asyncio.sleep(0.3)
        done.append(ctx.time_left)

    worker = Worker(queue, handler, sweep_interval=None)
    run = asyncio.ensure_future(worker.run())
    try:
        await wait_until(lambda: worker.stats().state == "running")
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + 3600)
        await queue.enqueue("slow", task_timeout=5)
        await wait_until(lambda: worker.stats().released == 1, timeout=10)
    finally:
        worker.stop()
        await asyncio.wait_for(run, 30)
    assert worker.stats().timed_out == 0
    assert len(done) == 1 and 3.0 < done[0] < 5.0
