"""Sentinel: a master, two replicas and three sentinels; the master is killed mid-run.

Producers enqueue in durable mode (WAIT for one replica) and retry until each
enqueue is acknowledged; two ``arque worker`` processes consume through a
``redis+sentinel://`` URL. After SIGKILL of the master the sentinels promote
a replica, and consumption resumes by itself: every acknowledged task completes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arque import Arque, ArqueError, Durability, InvalidArgument, NotDurable
from arque.connect import SentinelUrl, client_from_url
from arque.testing_sentinel import SentinelSet
from arque.worker.heartbeat import sync_client_for
from topology import ROOT, cli

QUEUE = "failover"


@pytest.fixture
def group() -> Iterator[SentinelSet]:
    with SentinelSet(replicas=2, sentinels=3, down_after_ms=1000) as group:
        yield group


def test_sentinel_urls_are_parsed() -> None:
    url = SentinelUrl.parse("redis+sentinel://:pw@10.0.0.1:26379,h2:26380/mymaster/2"
                            "?sentinel_password=sp")
    assert url.sentinels == (("10.0.0.1", 26379), ("h2", 26380))
    assert (url.service, url.db, url.password, url.sentinel_password) == ("mymaster", 2, "pw", "sp")
    for bad in ["redis+sentinel://h:1", "redis+sentinel://h/svc", "redis+sentinel:///svc",
                "redis+sentinel://h:1/svc/x", "redis+sentinel://h:1/svc?db=1"]:
        with pytest.raises(InvalidArgument):
            SentinelUrl.parse(bad)
    done = cli("stats", "--redis", "redis+sentinel://:hunter2@h:x/svc")
    assert done.returncode == 3 and "hunter2" not in done.stderr
    assert "Traceback" not in done.stderr


async def _produce(queue: Arque, stop: asyncio.Event, acked: list[int],
                   refusals: dict[str, int]) -> None:
    """Enqueue task n, retrying it (same id) until acknowledged, then n + 1."""
    n = 0
    while not stop.is_set():
        try:
            await queue.enqueue({"n": n}, task_id=f"t{n}", task_timeout=3)
        except ArqueError as exc:
            kind = type(exc).__name__
            refusals[kind] = refusals.get(kind, 0) + 1
            await asyncio.sleep(0.1)
            continue
        acked.append(n)
        n += 1
        await asyncio.sleep(0.01)


@pytest.mark.slow
async def test_consumption_resumes_after_failover_and_acknowledged_tasks_complete(
    group: SentinelSet, tmp_path: Path
) -> None:
    log = tmp_path / "done.log"
    log.touch()
    env = {**{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
           "ARQUE_DONE_LOG": str(log)}
    workers = [_start_worker(group.url, env) for _ in range(2)]
    client = client_from_url(group.url, socket_timeout=2, socket_connect_timeout=1)
    queue = Arque(client, queue=QUEUE, durability=Durability(replicas=1, timeout=1))
    acked: list[int] = []
    refusals: dict[str, int] = {}
    stop = asyncio.Event()
    producer = asyncio.ensure_future(_produce(queue, stop, acked, refusals))
    try:
        # Both workers run (a worker that starts during the failover exits: no master).
        await _until(lambda: len(_workers(log)) == 2, "both workers consuming")
        old = group.master()
        old.kill()
        before = len(acked)
        new = await asyncio.to_thread(group.wait_failover, old.port)
        assert new.port != old.port
        await _until(lambda: len(acked) >= before + 50, "acknowledged enqueues after failover")
        stop.set()
        await producer
        # Every acknowledged task completes, those enqueued after the failover included.
        await _until(lambda: set(acked) <= _done(log), "all acknowledged tasks done", 60)
        alive = [w.poll() is None for w in workers]
    finally:
        stop.set()
        producer.cancel()
        await client.aclose()
        errors = _stop(workers)
    assert all(alive), "\n".join(f"exit {code}:\n{err}" for code, err in errors)  # none gave up
    assert all(code == 0 for code, _ in errors), errors
    assert not any("Traceback" in err for _, err in errors), errors
    print(f"acknowledged {len(acked)}, {before} before the kill; refused meanwhile: {refusals}")


async def test_arque_and_its_heartbeat_on_a_sentinel_client(
    group: SentinelSet
) -> None:
    client = client_from_url(group.url)
    try:
        queue = Arque(client, queue=QUEUE, durability=Durability(replicas=2, timeout=10))
        await queue.enqueue({"n": 1}, task_id="a")  # both replicas confirm
        sync = sync_client_for(client)
        try:
            assert sync.ping()
            assert sync.connection_pool.service_name == group.service
        finally:
            sync.close()
        # A durability nobody can meet: three replicas of two.
        strict = Arque(client, queue=QUEUE, durability=Durability(replicas=3, timeout=0.2))
        with pytest.raises(NotDurable, match=r"\d of 3 replicas"):
            await strict.enqueue({"n": 2}, task_id="b")
    finally:
        await client.aclose()


def _start_worker(url: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "arque", "worker", "tests.sentinel_app:handler", "--queue", QUEUE,
         "--redis", url, "--concurrency", "4", "--log-level", "warning"],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)


def _lines(log: Path) -> list[list[str]]:
    """The complete lines of the log (a worker may be writing the last one)."""
    return [line.split() for line in log.read_text().split("\n")[:-1]]


def _done(log: Path) -> set[int]:
    return {int(n) for _, n in _lines(log)}


def _workers(log: Path) -> set[str]:
    return {pid for pid, _ in _lines(log)}


async def _until(check: object, what: str, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while not (callable(check) and check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.1)


def _stop(workers: list[subprocess.Popen[str]]) -> list[tuple[int, str]]:
    out = []
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        try:
            _, err = worker.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            worker.kill()
            _, err = worker.communicate()
        out.append((worker.returncode, err))
    return out
