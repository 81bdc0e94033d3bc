"""Shutdown edges: readiness while starting and draining, draining while Redis is down,
SIGINT, ``run_forever`` in a process of its own."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque
from arque.testing import RedisServer
from arque.worker import Health, TaskContext, Worker
from helpers import (
    EMPTY,
    child_env,
    http_status,
    log_lines,
    running,
    spawn_worker_app,
    wait_until,
)


async def test_readyz_is_503_while_starting_and_while_draining(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("long", task_id="long")
    first_fetch = asyncio.Event()
    dequeue_many = queue.dequeue_many

    async def held_back(max_tasks: int, timeout: float | None = None) -> Any:
        await first_fetch.wait()  # the worker has not completed a round trip yet
        return await dequeue_many(max_tasks, timeout)

    queue.dequeue_many = held_back  # type: ignore[method-assign]
    release = asyncio.Event()

    async def handler(data: Any, ctx: TaskContext) -> None:
        await release.wait()

    health = Health(port=0, host="127.0.0.1")
    worker = Worker(queue, handler, health=health, grace_period=30, sweep_interval=None)
    run = asyncio.ensure_future(worker.run())
    try:
        await wait_until(lambda: worker.health_port is not None)
        port = worker.health_port
        assert port is not None
        assert await http_status(port, "/readyz") == 503  # starting: no round trip yet
        first_fetch.set()
        await wait_until(lambda: worker.stats().in_flight == 1)
        assert await http_status(port, "/readyz") == 200
        worker.stop()
        await wait_until(lambda: worker.stats().state == "draining")
        assert await http_status(port, "/readyz") == 503  # draining: takes no work
        assert await http_status(port, "/healthz") == 200  # but alive
        release.set()
        await asyncio.wait_for(run, 30)
    finally:
        release.set()
        worker.stop()
        await asyncio.wait_for(run, 30)
    assert await queue.get_stats() == EMPTY


async def _drain_while_down(
    server: RedisServer, queue_name: str, down_for: float
) -> tuple[Arque, aioredis.Redis, Worker]:
    """A worker holding two long tasks is stopped while Redis is down for ``down_for`` s."""
    client = aioredis.Redis.from_url(server.url, socket_timeout=1)
    queue = Arque(client, queue=queue_name)
    await queue.enqueue_many([60, 60], ["a", "b"], task_timeout=5)

    async def handler(data: Any, ctx: TaskContext) -> None:
        await asyncio.sleep(data)

    worker = Worker(queue, handler, concurrency=2, grace_period=0.3, sweep_interval=None)
    async with running(worker, stop_within=60):
        await wait_until(lambda: worker.stats().in_flight == 2)
        server.kill()
        worker.stop()  # the grace period ends while Redis is away: hand-backs must wait
        await asyncio.sleep(down_for)
        await asyncio.to_thread(server.start)
    return queue, client, worker


@pytest.mark.slow
async def test_hand_backs_wait_for_redis_while_draining(
    own_redis_server: RedisServer, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="arque.worker"):
        queue, client, worker = await _drain_while_down(own_redis_server, queue_name, 1.0)
    try:
        assert worker.stats().handed_back == 2
        # The hand-back was tried while Redis was away, said once, and retried until it was back.
        assert re.search(r"outcome of task [ab]: Redis unavailable", caplog.text)
        assert "Redis answers again" in caplog.text
        assert (await queue.get_stats())["pending"] == 2
        for task_id in ("a", "b"):  # handed back unused
            stats = await queue.get_task_stats(task_id)
            assert stats is not None and stats["dequeue_count"] == 0
    finally:
        await client.aclose()


@pytest.mark.slow
async def test_hand_backs_give_up_after_the_flush_margin_and_leases_bring_tasks_back(
    own_redis_server: RedisServer, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="arque.worker"):
        # Down past the grace period and the 5 s the worker then still waits for Redis.
        queue, client, worker = await _drain_while_down(own_redis_server, queue_name, 7.0)
    try:
        assert worker.stats().handed_back == 0
        assert re.search(r"outcome of task [ab]: Redis unavailable", caplog.text)
        # Said per task if a retry falls past the margin, else by the worker for all.
        assert "Redis unavailable at shutdown" in caplog.text
        assert (await queue.get_stats())["working"] == 2  # left to their leases (5 s)
        await asyncio.sleep(5)
        await queue.sweep()
        assert (await queue.get_stats())["pending"] == 2  # back, nothing lost
    finally:
        await client.aclose()


async def test_sigint_finishes_in_flight_like_sigterm(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = Arque(client, queue=queue_name)
        await queue.enqueue({"sleep": 0.5}, task_id="short")
        proc = spawn_worker_app(redis_url, queue_name, log, grace=10.0, concurrency=2)
        try:
            await wait_until(lambda: log_lines(log, "start"))
            proc.send_signal(signal.SIGINT)
            status = await asyncio.to_thread(proc.wait, 30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert status == 0
        assert log_lines(log, "done") == [["short", "1"]]  # finished, not cut off
        assert log_lines(log, "exit") == [["0"]]
        assert "Traceback" not in Path(f"{log}.err").read_text()
        assert "SIGINT, finishing in-flight" in Path(f"{log}.err").read_text()
        assert await queue.get_stats() == EMPTY


RUN_FOREVER = textwrap.dedent("""
    import asyncio, sys
    import redis.asyncio as aioredis
    from arque import Arque
    from arque.worker import Worker

    async def handler(data, ctx):
        print("start", ctx.task_id, flush=True)
        await asyncio.sleep(data)
        print("done", ctx.task_id, flush=True)

    queue = Arque(aioredis.Redis.from_url(sys.argv[1]), queue=sys.argv[2])
    sys.exit(Worker(queue, handler, grace_period=30).run_forever())
""")


@pytest.mark.parametrize(("signals", "status", "done"), [
    ([signal.SIGTERM], 0, True), ([signal.SIGINT], 0, True),
    ([signal.SIGTERM, signal.SIGINT], 1, False),
], ids=["sigterm", "sigint", "second-signal"])
async def test_run_forever_in_a_process(
    redis_url: str, queue_name: str, signals: list[signal.Signals], status: int, done: bool
) -> None:
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = Arque(client, queue=queue_name)
        # Short enough to finish in the grace period; far longer when cut off by a second signal.
        await queue.enqueue(1.0 if done else 60.0, task_id="t", task_timeout=30)
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, read from threads
            [sys.executable, "-c", RUN_FOREVER, redis_url, queue_name], env=child_env(),
            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            assert await asyncio.to_thread(proc.stdout.readline) == "start t\n"
            for signum in signals:
                proc.send_signal(signum)
                await asyncio.sleep(0.2)
            out, err = await asyncio.to_thread(proc.communicate, timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == status, err
        assert ("done t" in out) is done
        # redis-py < 5.1 complains from a connection's __del__ when the loop that
        # run_forever owned closed before the client was collected: not ours.
        ours = [block for block in err.split("Exception ignored in:")
                if "redis/asyncio/connection.py" not in block]
        assert "Traceback" not in "".join(ours), err
        if done:
            assert await queue.get_stats() == EMPTY
        else:  # a second signal leaves it to its lease
            assert (await queue.get_stats())["working"] == 1
