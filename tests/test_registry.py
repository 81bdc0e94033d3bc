"""The live workers list: registration, refresh, withdrawal, expiry of a killed worker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner

from arque import Arque, Worker
from arque.cli import arque as cli
from arque.registry import list_workers
from arque.worker import TaskContext
from helpers import wait_until

_CHILD = textwrap.dedent("""
    import asyncio, sys
    import redis.asyncio as aioredis
    from arque import Arque, Worker

    async def handler(data, ctx):
        await asyncio.sleep(3600)

    async def main():
        client = aioredis.Redis.from_url(sys.argv[1])
        worker = Worker(Arque(client, queue=sys.argv[2]), handler, concurrency=3,
                        registry_ttl=1.5, name="doomed")
        await worker.run()

    asyncio.run(main())
""")


async def _idle(data: Any, ctx: TaskContext) -> None:
    await asyncio.sleep(0)


async def test_a_running_worker_is_listed_and_withdraws_on_stop(
    redis: aioredis.Redis, queue_name: str,
) -> None:
    queue = Arque(redis, queue=queue_name)
    other = Arque(redis, queue=queue_name + "-b")
    worker = Worker([queue, other], _idle, concurrency=7, name="w1", registry_ttl=3)
    run = asyncio.ensure_future(worker.run())
    await wait_until(lambda: _names(queue, {"w1"}))
    [info] = await list_workers(queue)
    assert (info.name, info.pid, info.concurrency) == ("w1", os.getpid(), 7)
    assert info.queues == (queue_name, queue_name + "-b")
    assert info.version == __import__("arque").__version__
    assert info.started_at <= time.time() and info.expires_at > info.last_seen
    assert [w.name for w in await list_workers(other)] == ["w1"]
    worker.stop()
    await asyncio.wait_for(run, 30)
    assert await list_workers(queue) == [] and await list_workers(other) == []


async def _names(queue: Arque, expected: set[str]) -> bool:
    return {w.name for w in await list_workers(queue)} == expected


async def test_in_flight_is_refreshed(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    gate = asyncio.Event()

    async def handler(data: Any, ctx: TaskContext) -> None:
        await gate.wait()

    worker = Worker(queue, handler, concurrency=5, name="busy", registry_ttl=0.6)
    run = asyncio.ensure_future(worker.run())
    await queue.enqueue_many([{"n": i} for i in range(2)])

    async def two_in_flight() -> bool:
        found = await list_workers(queue)
        return bool(found) and found[0].in_flight == 2

    await wait_until(two_in_flight)
    gate.set()
    worker.stop()
    await asyncio.wait_for(run, 30)


async def test_a_killed_worker_drops_out_after_its_ttl(redis_url: str, queue_name: str,
                                                       redis: aioredis.Redis) -> None:
    queue = Arque(redis, queue=queue_name)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.Popen(  # noqa: ASYNC220 - a fast fork
        [sys.executable, "-c", _CHILD, redis_url, queue_name], env=env)
    try:
        await wait_until(lambda: _names(queue, {"doomed"}))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        killed_at = time.monotonic()
        await wait_until(lambda: _names(queue, set()), timeout=20)
        # It stayed listed until its registration expired (1.5 s after the last refresh).
        assert time.monotonic() - killed_at < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_a_worker_registering_deletes_the_expired_ones(
    redis: aioredis.Redis, queue_name: str,
) -> None:
    queue = Arque(redis, queue=queue_name)
    await redis.zadd(queue.keys.workers, {"ghost": 1})  # expired long ago
    await redis.hset(queue.keys.workers_info, "ghost", "{}")
    assert await list_workers(queue) == []  # readers skip it at once
    worker = Worker(queue, _idle, name="alive", registry_ttl=3)
    run = asyncio.ensure_future(worker.run())
    await wait_until(lambda: _names(queue, {"alive"}))
    assert await redis.zscore(queue.keys.workers, "ghost") is None
    assert not await redis.hexists(queue.keys.workers_info, "ghost")
    worker.stop()
    await asyncio.wait_for(run, 30)


@pytest.mark.parametrize("ttl", [0, -1, True, "5"])
def test_a_bad_registry_ttl_is_refused(ttl: Any) -> None:
    from arque.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        Worker(Arque(aioredis.Redis()), _idle, registry_ttl=ttl)


async def test_cli_lists_workers_as_table_and_json(
    redis: aioredis.Redis, redis_url: str, queue_name: str,
) -> None:
    queue = Arque(redis, queue=queue_name)
    worker = Worker(queue, _idle, concurrency=4, name="cli-w", registry_ttl=3)
    run = asyncio.ensure_future(worker.run())
    try:
        await wait_until(lambda: _names(queue, {"cli-w"}))
        runner = CliRunner()
        args = ["--redis", redis_url, "--queue", queue_name]
        table = await asyncio.to_thread(runner.invoke, cli, ["workers", *args])
        assert table.exit_code == 0, table.output
        assert "cli-w" in table.output and str(os.getpid()) in table.output
        raw = await asyncio.to_thread(runner.invoke, cli, ["workers", "--json", *args])
        assert raw.exit_code == 0, raw.output
        [entry] = json.loads(raw.output)["queues"][queue_name]
        assert entry["name"] == "cli-w" and entry["concurrency"] == 4
    finally:
        worker.stop()
        await asyncio.wait_for(run, 30)
    empty = await asyncio.to_thread(CliRunner().invoke, cli, ["workers", *args])
    assert "no live workers" in empty.output


@pytest.mark.cluster
async def test_registry_gauges_and_dashboard_reads_work_on_a_cluster(
    cluster_client: Any, queue_name: str,
) -> None:
    from arque.metrics import queue_gauges
    from arque.throughput import read_throughput
    from arque.web.data import page_tasks, search_failed

    queue = Arque(cluster_client, queue=queue_name)
    await queue.enqueue_many([{"n": i} for i in range(3)])

    async def handler(data: Any, ctx: TaskContext) -> None:
        if data["n"] == 0:
            from arque.worker import Fail
            raise Fail("zero")

    worker = Worker(queue, handler, name="cluster-w", registry_ttl=0.6)
    run = asyncio.ensure_future(worker.run())
    try:
        await wait_until(lambda: _names(queue, {"cluster-w"}))

        async def recorded() -> bool:
            return sum(m.total for m in await read_throughput(queue, 2)) == 3

        await wait_until(recorded)
        gauges = await queue_gauges(queue)
        assert (gauges.failed, gauges.workers) == (1, 1)
        assert (await page_tasks(queue, "pending", 0, 10)).total == 0
        assert [r.task_id for r in (await search_failed(queue, needle="zero")).rows] != []
    finally:
        worker.stop()
        await asyncio.wait_for(run, 30)
    assert await list_workers(queue) == []
