"""The heartbeat thread's own client, against servers set up as deployments have them.

The heartbeat renews leases from a thread with a synchronous client that it
builds from the worker's asyncio client (``sync_client_for``). If that copy
dropped the password, the ACL user, the db or the unix socket, its renewals
would fail (or renew nothing in the wrong db): the lease of a long task would
expire, the sweep would hand the task out again and the first holder's
release would be refused. Each case runs a handler past its lease and checks
that it ran once and was released.

TLS and Sentinel deployments are not covered here (they need certificates and
a sentinel topology of their own).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_py
import redis.asyncio as aioredis

from arque import Arque
from arque.testing import RedisServer
from arque.worker import TaskContext, Worker
from arque.worker.heartbeat import sync_client_for
from helpers import EMPTY, running, wait_until

PASSWORD = "s3cret:/@pass"  # characters a URL must quote
USER, USER_PASSWORD = "worker", "w0rker-pass"
LEASE = 1.0
HANDLER_RUNS = 2.5  # well past the lease: only renewals keep the task


@pytest.fixture(scope="module")
def secured_server() -> Iterator[RedisServer]:
    """A private server with a password, an ACL user and a unix socket."""
    with RedisServer(password=PASSWORD, unix_socket=True) as server:
        with redis_py.Redis.from_url(server.url) as admin:
            admin.execute_command("ACL", "SETUSER", USER, "on", f">{USER_PASSWORD}",
                                  "~arque:*", "&*", "+@all")
        yield server


def _client(server: RedisServer, deployment: str) -> aioredis.Redis:
    port = server.port
    if deployment == "password":
        return aioredis.Redis.from_url(server.url)
    if deployment == "acl-user":
        return aioredis.Redis(host="127.0.0.1", port=port, username=USER, password=USER_PASSWORD)
    if deployment == "db-3":
        return aioredis.Redis(host="127.0.0.1", port=port, password=PASSWORD, db=3)
    assert deployment == "unix-socket"
    return aioredis.Redis(unix_socket_path=str(server.socket_path), password=PASSWORD, db=5)


DEPLOYMENTS = ["password", "acl-user", "db-3", "unix-socket"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_the_sync_copy_keeps_the_connection_settings(
    secured_server: RedisServer, deployment: str
) -> None:
    client = _client(secured_server, deployment)
    sync = sync_client_for(client)
    try:
        kwargs = sync.connection_pool.connection_kwargs
        theirs = client.connection_pool.connection_kwargs
        for key in ("username", "password", "db", "path", "host", "port"):
            assert kwargs.get(key) == theirs.get(key), key
        assert sync.ping() is True
        assert sync.client_info()["db"] == theirs.get("db", 0)
    finally:
        sync.close()


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
async def test_a_long_task_keeps_its_lease(
    secured_server: RedisServer, deployment: str, queue_name: str
) -> None:
    client = _client(secured_server, deployment)
    try:
        queue = Arque(client, queue=queue_name)
        await queue.enqueue("long", task_id="long", task_timeout=LEASE)
        attempts: list[int] = []
        renewed: list[float] = []

        async def handler(data: Any, ctx: TaskContext) -> None:
            attempts.append(ctx.attempt)
            first = ctx.deadline
            await asyncio.sleep(HANDLER_RUNS)
            renewed.append(ctx.deadline - first)

        # The worker's own limit is far off, and sweeps run often: a lease that
        # is not renewed expires after LEASE and the task is handed out again.
        worker = Worker(queue, handler, task_timeout=30, sweep_interval=0.1)
        async with running(worker):
            await wait_until(lambda: worker.stats().released == 1)
        assert attempts == [1]
        assert renewed and renewed[0] > 0  # the heartbeat moved the deadline
        stats = worker.stats()
        assert (stats.processed, stats.released, stats.refused, stats.recovered) == (1, 1, 0, 0)
        assert await queue.get_stats() == EMPTY
    finally:
        await client.aclose()


async def test_a_heartbeat_on_the_wrong_db_loses_the_lease(
    secured_server: RedisServer, queue_name: str
) -> None:
    """The check above can fail: a heartbeat client on db 0 renews nothing of db 3."""
    client = _client(secured_server, "db-3")
    try:
        queue = Arque(client, queue=queue_name, requeue_limit=5)
        await queue.enqueue("long", task_id="long", task_timeout=LEASE)
        attempts: list[int] = []

        async def handler(data: Any, ctx: TaskContext) -> None:
            attempts.append(ctx.attempt)
            if ctx.attempt == 1:
                await asyncio.sleep(HANDLER_RUNS)

        heartbeat_client = redis_py.Redis.from_url(secured_server.url)  # db 0
        worker = Worker(queue, handler, task_timeout=30, sweep_interval=0.1,
                        heartbeat_client=heartbeat_client)
        try:
            async with running(worker):
                await wait_until(lambda: worker.stats().refused == 1)
        finally:
            heartbeat_client.close()
        assert sorted(attempts) == [1, 2]  # handed out again while the first ran
    finally:
        await client.aclose()
