"""Shared fixtures: private Redis servers and a cluster, never the Redis on :6379.

Set ``REDIS_URL`` to run the shared-server tests against an existing server
instead; tests that kill or restart a server always get a private one
(``own_redis_server``). Set ``ARQUE_REDIS_SERVER`` to choose the binary.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_py
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

if importlib.util.find_spec("arque") is None:  # a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from arque.testing import RedisCluster, RedisServer


@dataclass(frozen=True)
class ExternalRedis:
    """A server given by ``$REDIS_URL``: usable, but not ours to kill or restart."""

    url: str


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | ExternalRedis]:
    """The server shared by the session: ``$REDIS_URL`` or a private one."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield ExternalRedis(url)
        return
    with RedisServer() as server:
        yield server


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A private server with AOF (``appendfsync always``) that a test may kill and restart."""
    with RedisServer(appendonly=True) as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer | ExternalRedis) -> str:
    return redis_server.url


@pytest.fixture(scope="session")
def redis_version(redis_url: str) -> tuple[int, int, int]:
    """Version of the shared server, from ``INFO server``."""
    with redis_py.Redis.from_url(redis_url, decode_responses=True) as client:
        version = str(client.info("server")["redis_version"])
    major, minor, patch = (int(part) for part in version.split(".")[:3])
    return major, minor, patch


@pytest.fixture
def queue_name() -> str:
    """A queue name unique to the test, so the shared server never needs flushing."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture(params=[True, False], ids=["str", "bytes"])
def decode_responses(request: pytest.FixtureRequest) -> bool:
    value: bool = request.param
    return value


@pytest.fixture(name="redis")
async def redis_client(redis_url: str, decode_responses: bool) -> AsyncIterator[aioredis.Redis]:
    """An asyncio client on the shared server, once with str and once with bytes replies."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=decode_responses)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis_py.Redis]:
    """A synchronous client (bytes replies) on the shared server."""
    with redis_py.Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A private Redis Cluster of three masters, started once per session."""
    with RedisCluster(3) as cluster:
        yield cluster


@pytest.fixture
async def cluster_client(redis_cluster: RedisCluster) -> AsyncIterator[AsyncRedisCluster]:
    """An asyncio cluster client (bytes replies) on the session cluster."""
    host, port = redis_cluster.startup_nodes[0]
    client = AsyncRedisCluster(host=host, port=port)
    try:
        yield client
    finally:
        await client.aclose()
