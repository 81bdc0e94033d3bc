"""Worker events: what observers hear, and that a failing observer cannot break a worker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque, Backoff, Fail, Worker
from arque.errors import InvalidArgument
from arque.queue import TaskId
from arque.worker import TaskContext
from arque.worker.events import WorkerObserver
from helpers import wait_until


class Recorder(WorkerObserver):
    def __init__(self) -> None:
        self.seen: list[tuple[str, ...]] = []

    def started(self, queue: str, task_id: TaskId) -> None:
        self.seen.append(("started", str(task_id)))

    def ran(self, queue: str, task_id: TaskId, seconds: float,
            error: BaseException | None = None) -> None:
        self.seen.append(("ran", str(task_id), type(error).__name__))

    def settled(self, queue: str, task_id: TaskId, outcome: str) -> None:
        self.seen.append(("settled", str(task_id), outcome))


class Broken(WorkerObserver):
    def started(self, queue: str, task_id: TaskId) -> None:
        raise RuntimeError("observer bug")

    def settled(self, queue: str, task_id: TaskId, outcome: str) -> None:
        raise RuntimeError("observer bug")


async def test_observers_hear_each_attempt_and_a_broken_one_changes_nothing(
    redis: aioredis.Redis, queue_name: str, caplog: pytest.LogCaptureFixture,
) -> None:
    queue = Arque(redis, queue=queue_name)

    async def handler(data: Any, ctx: TaskContext) -> None:
        if data == "reject":
            raise Fail("no")
        if data == "flaky" and ctx.attempt == 1:
            raise ValueError("once")

    await queue.enqueue("ok", task_id="ok")
    await queue.enqueue("reject", task_id="reject")
    await queue.enqueue("flaky", task_id="flaky")
    recorder = Recorder()
    worker = Worker(queue, handler, observers=[Broken(), recorder],
                    backoff=Backoff(base=0.01, max=0.01, jitter=False))
    run = asyncio.ensure_future(worker.run())
    await wait_until(lambda: sum(1 for e in recorder.seen if e[0] == "settled") == 4)
    worker.stop()
    await asyncio.wait_for(run, 30)
    settled = sorted(e[1:] for e in recorder.seen if e[0] == "settled")
    assert settled == [("flaky", "released"), ("flaky", "retried"), ("ok", "released"),
                       ("reject", "dead_lettered")]
    ran = sorted(e[1:] for e in recorder.seen if e[0] == "ran")
    assert ran == [("flaky", "NoneType"), ("flaky", "ValueError"), ("ok", "NoneType"),
                   ("reject", "Fail")]
    assert (await queue.stats()).tasks == 0
    assert "observer bug" in caplog.text or "failed on started" in caplog.text


def test_observers_must_be_worker_observers() -> None:
    async def handler(data: Any, ctx: TaskContext) -> None:
        pass

    with pytest.raises(InvalidArgument):
        Worker(Arque(aioredis.Redis()), handler, observers=[object()])  # type: ignore[list-item]
