"""SIGTERM / SIGINT on a real worker process (tests/worker_app.py): nothing is lost."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque
from arque.worker import TaskContext, Worker
from helpers import EMPTY, running, wait_until
from helpers import log_lines as lines
from helpers import spawn_worker_app as spawn


async def drain_with_second_worker(queue: Arque, done: list[str], timeout: float = 30.0) -> None:
    """Run the rest of the queue in-process (sweeping, so expired leases come back)."""

    async def handler(data: Any, ctx: TaskContext) -> None:
        done.append(str(ctx.task_id))

    async with running(Worker(queue, handler, concurrency=10, sweep_interval=0.2)):
        deadline = time.monotonic() + timeout
        while (await queue.get_stats())["tasks"] > 0:
            assert time.monotonic() < deadline, await queue.get_stats()
            await asyncio.sleep(0.05)


def finish(proc: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


@pytest.mark.slow
async def test_sigterm_finishes_in_flight_within_grace_and_loses_nothing(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = Arque(client, queue=queue_name)
        short = [f"short-{n}" for n in range(3)]
        long = [f"long-{n}" for n in range(3)]
        rest = [f"rest-{n}" for n in range(4)]
        await queue.enqueue_many([{"sleep": 0.5}] * 3 + [{"sleep": 60}] * 3, short + long)
        proc = spawn(redis_url, queue_name, log, grace=2.0, concurrency=6)
        try:
            await wait_until(lambda: len(lines(log, "start")) == 6)
            await queue.enqueue_many([{"sleep": 0}] * 4, rest)  # pending: never taken
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            status = await asyncio.to_thread(finish, proc, 30)
            took = time.monotonic() - began
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert status == 0, (tmp_path / "worker.log.err").read_text()
        assert took < 2.0 + 8.0  # the grace period, and a fetch on the wire
        first = [task_id for task_id, _ in lines(log, "done")]
        assert sorted(first) == sorted(short)  # in flight and short enough: finished
        assert (await queue.get_stats())["working"] == 0  # the long ones were handed back
        for task_id in long:
            stats = await queue.get_task_stats(task_id)
            assert stats is not None and stats["dequeue_count"] == 0  # unused attempt
        second: list[str] = []
        await drain_with_second_worker(queue, second)
        everything = Counter(first + second)
        assert everything == Counter(short + long + rest)  # each exactly once
        assert await queue.get_stats() == EMPTY
        assert "Traceback" not in (tmp_path / "worker.log.err").read_text()


@pytest.mark.slow
async def test_second_sigterm_exits_at_once_and_leases_bring_tasks_back(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = Arque(client, queue=queue_name)
        ids = [f"t-{n}" for n in range(3)]
        await queue.enqueue_many([{"sleep": 60}] * 3, ids, task_timeout=2.0)
        proc = spawn(redis_url, queue_name, log, grace=60.0, concurrency=3)
        try:
            await wait_until(lambda: len(lines(log, "start")) == 3)
            began = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            status = await asyncio.to_thread(finish, proc, 20)
            took = time.monotonic() - began
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert status == 1
        assert took < 10  # not the 60 s grace period
        assert lines(log, "done") == []
        assert (await queue.get_stats())["working"] == 3  # left to their leases
        second: list[str] = []
        await drain_with_second_worker(queue, second)
        assert sorted(second) == sorted(ids)
        assert await queue.get_stats() == EMPTY
