"""The worker through Redis outages and restarts, and its health signals."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque
from arque.testing import RedisServer
from arque.worker import Health, TaskContext, Worker, file_is_fresh
from helpers import EMPTY, http_status, wait_until


@pytest.mark.slow
async def test_a_worker_rides_out_a_redis_crash_and_restart(
    own_redis_server: RedisServer, queue_name: str
) -> None:
    client = aioredis.Redis.from_url(own_redis_server.url, socket_timeout=2)
    try:
        queue = Arque(client, queue=queue_name)
        ids = await queue.enqueue_many([{"n": n} for n in range(40)], task_timeout=30)
        done: list[str] = []
        killed = asyncio.Event()

        async def handler(data: Any, ctx: TaskContext) -> None:
            if len(done) >= 8 and not killed.is_set():
                # Killed from a running handler: at least this one finishes without Redis.
                own_redis_server.kill()
                killed.set()
            await asyncio.sleep(0.05)
            done.append(str(ctx.task_id))

        worker = Worker(queue, handler, concurrency=4, sweep_interval=0.5)
        run = asyncio.ensure_future(worker.run())
        try:
            await asyncio.wait_for(killed.wait(), 30)
            await asyncio.sleep(1.5)  # handlers finish meanwhile; their releases must wait
            assert not run.done()
            assert worker.stats().finishing >= 1  # kept, to be released when Redis is back
            own_redis_server.restart()
            # A release the server applied just before it died, whose reply was lost, is
            # sent again and refused (the task is gone): counted refused, not released.
            await wait_until(lambda: worker.stats().released + worker.stats().refused == 40, 60)
        finally:
            worker.stop()
            await asyncio.wait_for(run, 30)
        assert worker.stats().refused <= 4  # at most the releases on the wire at the kill
        assert sorted(done) == sorted(ids)  # every task ran, once: no lease expired
        assert await queue.get_stats() == EMPTY
        assert worker.stats().state == "stopped"
    finally:
        await client.aclose()


@pytest.mark.slow
async def test_health_file_and_endpoint_follow_redis(
    own_redis_server: RedisServer, queue_name: str, tmp_path: Path
) -> None:
    client = aioredis.Redis.from_url(own_redis_server.url, socket_timeout=1)
    health_file = tmp_path / "alive"
    try:
        queue = Arque(client, queue=queue_name)

        async def handler(data: Any, ctx: TaskContext) -> None:
            pass

        health = Health(file=health_file, port=0, host="127.0.0.1", unhealthy_after=2.0)
        worker = Worker(queue, handler, health=health, sweep_interval=None)
        run = asyncio.ensure_future(worker.run())
        try:
            await wait_until(lambda: worker.health_port is not None and health_file.exists())
            port = worker.health_port
            assert port is not None
            first = health_file.stat().st_mtime
            await wait_until(lambda: health_file.stat().st_mtime > first, 10)  # idle, still touched
            assert file_is_fresh(health_file, 5)
            assert await http_status(port, "/healthz") == 200
            assert await http_status(port, "/readyz") == 200
            assert await http_status(port, "/nope") == 404

            killed = time.time()
            own_redis_server.kill()
            await wait_until(lambda: _is(http_status(port, "/readyz"), 503), 20)
            assert not worker.stats().redis_ok
            await asyncio.sleep(2.5)
            # Not ready, but alive: the worker is not stuck, a restart would not help.
            assert await http_status(port, "/readyz") == 503
            assert await http_status(port, "/healthz") == 200
            # The file is touched on through the outage: the loop turns at least once per
            # backoff step (2 s at most), the file is touched at most once a second.
            await wait_until(lambda: health_file.stat().st_mtime > killed + 2.5, 10)

            own_redis_server.restart()
            await wait_until(lambda: _is(http_status(port, "/readyz"), 200), 20)
            assert worker.stats().redis_ok
            assert file_is_fresh(health_file, 5)
        finally:
            worker.stop()
            await asyncio.wait_for(run, 30)
    finally:
        await client.aclose()


async def _is(status: Any, expected: int) -> bool:
    return bool(await status == expected)


@pytest.mark.slow
async def test_liveness_fails_only_when_the_worker_is_stuck(
    own_redis_server: RedisServer, queue_name: str
) -> None:
    """A server that stops answering (SIGSTOP: a half-open connection) holds the fetch
    forever: the worker makes no turn, so liveness fails and a restart would help."""
    client = aioredis.Redis.from_url(own_redis_server.url)  # no socket timeout, as the CLI's
    pid = int((await client.info("server"))["process_id"])
    try:
        queue = Arque(client, queue=queue_name)
        health = Health(port=0, host="127.0.0.1", unhealthy_after=3.0)
        worker = Worker(queue, nothing, health=health, sweep_interval=None)
        run = asyncio.ensure_future(worker.run())
        try:
            await wait_until(lambda: worker.health_port is not None)
            port = worker.health_port
            assert port is not None
            await wait_until(lambda: _is(http_status(port, "/readyz"), 200), 20)
            os.kill(pid, signal.SIGSTOP)
            try:
                await wait_until(lambda: _is(http_status(port, "/healthz"), 503), 30)
                assert await http_status(port, "/readyz") == 503
            finally:
                os.kill(pid, signal.SIGCONT)
            await wait_until(lambda: _is(http_status(port, "/readyz"), 200), 30)
            assert await http_status(port, "/healthz") == 200
        finally:
            worker.stop()
            await asyncio.wait_for(run, 30)
    finally:
        await client.aclose()


async def nothing(data: Any, ctx: TaskContext) -> None:
    pass
