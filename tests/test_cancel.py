"""Cancellation: pending, delayed and working tasks, with live, late and killed holders."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque, DeadReason, TaskFailed, Worker
from arque.worker import TaskContext

ROOT = Path(__file__).resolve().parents[1]
WORKER_APP = ROOT / "tests" / "worker_app.py"


async def assert_cancelled(queue: Arque, task_id: str, where: str) -> None:
    letter = await queue.get_failed(task_id)
    assert letter is not None, f"{task_id} is not a dead letter"
    assert (letter.reason, letter.error) == ("cancelled", f"cancelled while {where}")
    page = await queue.list_failed(reason=DeadReason.CANCELLED)
    assert task_id in [d.task_id for d in page]


async def test_cancel_pending(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue_many(["a", "b", "c"], task_ids=["a", "b", "c"])
    assert await queue.cancel("b")
    assert (await queue.stats()).pending == 2
    await assert_cancelled(queue, "b", "pending")
    taken = [str((await queue.dequeue())[0]) for _ in range(2)]
    assert taken == ["a", "c"]
    assert await queue.dequeue(timeout=0.1) == (None, None)
    # A dead letter like any other: it can be replayed.
    assert await queue.replay_failed("b") == 1
    assert str((await queue.dequeue())[0]) == "b"


async def test_cancel_delayed(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("later", task_id="d", delay=0.3)
    assert await queue.cancel("d")
    stats = await queue.stats()
    assert (stats.delayed, stats.failed) == (0, 1)
    await assert_cancelled(queue, "d", "delayed")
    await asyncio.sleep(0.4)
    assert await queue.dequeue(timeout=0.1) == (None, None)  # it never comes due


async def test_cancel_of_unknown_finished_or_dead_is_false(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    assert not await queue.cancel("nothing")
    await queue.enqueue("x", task_id="x")
    task_id, _ = await queue.dequeue()
    assert await queue.release(task_id)
    assert not await queue.cancel("x")
    await queue.enqueue("y", task_id="y")
    assert await queue.cancel("y")
    assert not await queue.cancel("y")  # a dead letter already
    assert (await queue.stats()).failed == 1


async def test_cancel_working_refuses_the_holders_release(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=60)
    await queue.enqueue("x", task_id="w")
    task_id, _ = await queue.dequeue()
    assert await queue.cancel("w")
    assert (await queue.stats()).working == 1  # marked: its holder is told, not robbed
    assert not await queue.extend(task_id)  # the heartbeat's reply: stop
    assert not await queue.release(task_id, result="too late")
    await assert_cancelled(queue, "w", "working")
    with pytest.raises(TaskFailed):
        await queue.result("w")
    assert await redis.scard(queue.keys.cancelling) == 0


async def test_cancel_working_refuses_the_holders_requeue(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("x", task_id="w")
    task_id, _ = await queue.dequeue()
    assert await queue.cancel("w")
    assert not await queue.requeue(task_id, delay=1)
    await assert_cancelled(queue, "w", "working")
    assert (await queue.stats()).delayed == 0


async def test_running_handler_is_cancelled_within_a_heartbeat(
    redis_url: str, redis: aioredis.Redis, queue_name: str, tmp_path: Path
) -> None:
    queue = Arque(redis, queue=queue_name)
    log = tmp_path / "worker.log"
    proc = _spawn(str(WORKER_APP), redis_url, queue_name, str(log), "5", "2")
    try:
        # A lease of 1 s: the worker renews it about every 1/3 s.
        await queue.enqueue({"sleep": 60}, task_id="long", task_timeout=1)
        await _wait_for_line(log, "start long 1")
        asked = time.monotonic()
        assert await queue.cancel("long")
        while await queue.get_failed("long") is None:
            assert time.monotonic() - asked < 10, "the worker did not stop the task"
            await asyncio.sleep(0.02)
        await assert_cancelled(queue, "long", "working")
        assert "done long" not in log.read_text()  # the handler was stopped, not finished
        assert (await queue.stats()).working == 0
        assert proc.poll() is None  # the worker goes on
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


HOLDER = textwrap.dedent("""
    import asyncio, sys
    import redis.asyncio as aioredis
    from arque import Arque

    async def main():
        client = aioredis.Redis.from_url(sys.argv[1])
        queue = Arque(client, queue=sys.argv[2])
        task_id, _ = await queue.dequeue()
        print("holding", task_id, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
""")


async def test_holder_killed_after_the_cancel(
    redis_url: str, redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("x", task_id="held", task_timeout=0.5)
    holder = _spawn("-c", HOLDER, redis_url, queue_name, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, holder.stdout.readline)
        assert line.strip() == "holding held"
        assert await queue.cancel("held")
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    await asyncio.sleep(0.6)  # its lease runs out
    await queue.sweep()
    await assert_cancelled(queue, "held", "working")
    assert await queue.dequeue(timeout=0.2) == (None, None)  # not handed out again
    assert await redis.scard(queue.keys.cancelling) == 0


def _spawn(*args: str, stdout: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], stdout=stdout, text=True, cwd=ROOT)


async def _wait_for_line(log: Path, line: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not (log.exists() and line in log.read_text().splitlines()):
        assert time.monotonic() < deadline, f"no {line!r} in the worker's log"
        await asyncio.sleep(0.02)


async def test_cli_cancel(redis_url: str, redis: aioredis.Redis, queue_name: str) -> None:
    from test_cli import cli, ok, on, one_line_error

    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("x", task_id="c1")
    assert ok(*on(redis_url, queue_name, "cancel", "c1")).strip() == "cancelled c1"
    await assert_cancelled(queue, "c1", "pending")
    one_line_error(cli(*on(redis_url, queue_name, "cancel", "c1")), 1)


@pytest.mark.cluster
async def test_cancel_on_a_cluster(cluster_client: Any) -> None:
    queue = Arque(cluster_client, queue=f"cluster-{uuid.uuid4().hex}")
    await queue.enqueue_many(["a", "b"], task_ids=["a", "b"])
    assert await queue.cancel("a")
    task_id, _ = await queue.dequeue()
    assert await queue.cancel("b")
    assert not await queue.extend(task_id)
    assert not await queue.release(task_id)
    await assert_cancelled(queue, "a", "pending")
    await assert_cancelled(queue, "b", "working")


async def test_worker_cancels_the_handler_and_waiters_learn_it(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=60)
    started, stopped = asyncio.Event(), asyncio.Event()

    async def handler(data: Any, ctx: TaskContext) -> str:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            stopped.set()
            raise
        return "never"

    task_id = await queue.enqueue("x", task_timeout=3)
    worker = Worker(queue, handler, sweep_interval=None, heartbeat_interval=0.1)
    run = asyncio.ensure_future(worker.run())
    try:
        await asyncio.wait_for(started.wait(), 10)
        waiter = asyncio.ensure_future(queue.result(task_id))
        assert await queue.cancel(task_id)
        await asyncio.wait_for(stopped.wait(), 5)  # the handler saw the cancellation
        with pytest.raises(TaskFailed) as caught:
            await asyncio.wait_for(waiter, 5)
        assert caught.value.dead_letter.reason == "cancelled"
        assert worker.stats().dead_lettered == 1
        assert worker.stats().state == "running"  # the worker goes on
    finally:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(run, 30)


async def test_cancel_pending_with_a_priority_or_a_group(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """A ready task outside the pending list leaves its structure, and an emptied
    group leaves the round-robin: nothing is handed out after the cancel."""
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("hi", task_id="p", priority=5)
    await queue.enqueue("g1", task_id="g1", group="acme", priority=2)
    await queue.enqueue("g2", task_id="g2", group="acme")
    await queue.enqueue("solo", task_id="s", group="solo")
    for task_id in ("p", "g1", "s"):
        assert await queue.cancel(task_id)
        await assert_cancelled(queue, task_id, "pending")
    assert await redis.exists(queue.keys.prioritized) == 0
    assert {g.group for g in await queue.group_stats()} == {"acme"}
    members = [m if isinstance(m, str) else m.decode()
               for m in await redis.zrange(queue.keys.grouped, 0, -1)]
    assert [m.split("\0")[-1] for m in members] == ["g2"]
    assert (await queue.dequeue())[1] == "g2"
    assert await queue.dequeue(timeout=0.1) == (None, None)
    assert await redis.exists(queue.keys.groups, queue.keys.grouped) == 0


@pytest.mark.parametrize("end", ["release", "requeue", "fail", "sweep"])
async def test_cancelled_working_task_gives_its_group_slot_back(
    redis: aioredis.Redis, queue_name: str, end: str
) -> None:
    """However the lease of a cancelled grouped task ends, its group's working
    count goes back to zero and a consumer held at group_limit gets the next one."""
    queue = Arque(redis, queue=queue_name, group_limit=1, task_timeout=0.2)
    await queue.enqueue("one", task_id="one", group="acme")
    await queue.enqueue("two", task_id="two", group="acme")
    task_id, _ = await queue.dequeue()
    assert str(task_id) == "one"
    assert await queue.dequeue(timeout=0.05) == (None, None)  # acme is at its limit
    waiter = asyncio.create_task(queue.dequeue(timeout=10))
    await asyncio.sleep(0.1)
    assert await queue.cancel("one")
    if end == "release":
        assert not await queue.release(task_id)
    elif end == "requeue":
        assert not await queue.requeue(task_id)
    elif end == "fail":
        await queue.fail(task_id, "boom")
    else:
        await asyncio.sleep(0.3)  # the lease expires
        await queue.sweep()
    if end == "fail":  # the holder's error is kept, under the reason cancelled
        letter = await queue.get_failed("one")
        assert letter is not None and (letter.reason, letter.error) == ("cancelled", "boom")
    else:
        await assert_cancelled(queue, "one", "working")
    taken, _ = await asyncio.wait_for(waiter, 10)
    assert str(taken) == "two"
    assert await redis.hgetall(queue.keys.group_working) in ({b"acme": b"1"}, {"acme": "1"})
    assert await queue.release(taken)
    assert await redis.exists(queue.keys.group_working, queue.keys.groups) == 0
