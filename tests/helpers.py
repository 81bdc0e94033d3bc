"""Helpers shared by the tests: one of each, so a fix lands everywhere at once.

- ``EMPTY``: the stats of a queue holding nothing (``assert await q.get_stats() == EMPTY``).
- ``queue_keys_left``: every key of a queue that still exists (a drained queue keeps none).
- ``wait_until``: poll a condition with a generous bound.
- ``running``: a ``Worker`` in the background, stopped gracefully on exit;
  ``spawn_worker_app`` / ``log_lines``: one in a process of its own (tests/worker_app.py).
- ``sweeping``: a sweeper loop, as a task of this loop or as a thread with a loop of its own.
- ``child_env``: the environment for a child process (no ``$REDIS_URL`` unless given).
- ``seeded``: a random generator whose seed is printed before the run, to replay a failure.
- ``script_calls`` / ``needs_private_server``: INFO commandstats, which is global to a server.
- ``record`` / ``split_record`` / ``set_payload``: a task's one value in the ``tasks`` hash,
  ``<metadata JSON>\\n<payload>`` (scripts/includes/record.lua), made, read, or given another payload.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque
from arque.worker import Worker

EMPTY = {"tasks": 0, "pending": 0, "working": 0, "delayed": 0, "failed": 0}
"""``get_stats()`` of a queue that holds nothing."""

SEED_VARIABLE = "ARQUE_TEST_SEED"


async def queue_keys_left(client: Any, queue: Arque) -> list[str]:
    """Every key under ``queue``'s prefix and hash tag that exists now, sorted.

    A SCAN, so a key the scripts made under another name is caught too; on a
    cluster client each known key name is asked for instead.
    """
    if hasattr(client, "nodes_manager"):
        return sorted([n for n in queue.keys.names().values() if await client.exists(n)])
    base = re.sub(r"([*?\[\]\\])", r"\\\1", f"{queue.prefix}:{{{queue.queue}}}:")
    found = [key async for key in client.scan_iter(match=base + "*", count=1000)]
    return sorted(k.decode() if isinstance(k, bytes) else k for k in found)


def record(meta: str | bytes, payload: str | bytes) -> bytes:
    """The value the ``tasks`` hash keeps for a task: its metadata, a newline, its payload."""
    as_bytes = [v.encode() if isinstance(v, str) else v for v in (meta, payload)]
    return as_bytes[0] + b"\n" + as_bytes[1]


def split_record(raw: str | bytes) -> tuple[bytes, bytes]:
    """The metadata JSON and the payload of a task's record (split at its first newline)."""
    meta, _, payload = (raw.encode() if isinstance(raw, str) else raw).partition(b"\n")
    return meta, payload


async def set_payload(client: Any, queue: Arque, task_id: str, payload: str | bytes) -> None:
    """Give a task that exists another payload (a corrupt one, say), its metadata kept."""
    raw = await client.hget(queue.keys.tasks, task_id)
    assert raw is not None, f"no task {task_id!r}"
    meta, _ = split_record(raw)
    await client.hset(queue.keys.tasks, task_id, record(meta, payload))


async def wait_until(check: Callable[[], Any], timeout: float = 30.0) -> None:
    """Poll ``check`` (sync, or returning an awaitable) until true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(worker: Worker, stop_within: float = 30.0) -> AsyncIterator[Worker]:
    """Run ``worker`` in the background until it is running; stop it gracefully on exit."""
    task = asyncio.ensure_future(worker.run())
    try:
        await wait_until(lambda: worker.stats().state != "created" or task.done())
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, stop_within)


WORKER_APP = Path(__file__).with_name("worker_app.py")


def spawn_worker_app(url: str, queue: str, log: Path, grace: float, concurrency: int,
                     working_limit: int | None = None) -> subprocess.Popen[bytes]:
    """Start tests/worker_app.py in a process; its stderr goes to ``LOG.err``."""
    args = [sys.executable, str(WORKER_APP), url, queue, str(log), str(grace), str(concurrency)]
    if working_limit is not None:
        args.append(str(working_limit))
    with open(f"{log}.err", "wb") as err:
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)


def log_lines(log: Path, kind: str) -> list[list[str]]:
    """The words after ``kind`` of each line of a worker_app log that starts with it."""
    text = log.read_text() if log.exists() else ""
    return [line.split()[1:] for line in text.splitlines() if line.split()[:1] == [kind]]


@asynccontextmanager
async def sweeping(queue: Arque, every: float = 0.05) -> AsyncIterator[None]:
    """Sweep ``queue`` every ``every`` seconds in this loop while the block runs."""

    async def loop() -> None:
        while True:
            await queue.sweep()
            await asyncio.sleep(every)

    task = asyncio.ensure_future(loop())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


@contextmanager
def sweeping_thread(url: str, queue_name: str, every: float = 0.05) -> Iterator[None]:
    """Sweep from a thread with its own loop and client (the test's loop may be blocked)."""
    stop = threading.Event()

    async def sweep() -> None:
        async with aioredis.Redis.from_url(url) as client:
            queue = Arque(client, queue=queue_name)
            while not stop.is_set():
                await queue.sweep()
                await asyncio.sleep(every)

    thread = threading.Thread(target=asyncio.run, args=(sweep(),), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: ours without ``$REDIS_URL``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return {**env, **extra}


def seeded(name: str) -> tuple[random.Random, int]:
    """A generator and its seed (``$ARQUE_TEST_SEED`` replays one), printed before the run."""
    fixed = os.environ.get(SEED_VARIABLE)
    seed = int(fixed) if fixed else random.randrange(1 << 30)
    print(f"\n{name}: seed {seed} (replay with {SEED_VARIABLE}={seed})", flush=True)
    return random.Random(seed), seed


async def http_status(port: int, path: str) -> int:
    """The status of ``GET path`` on 127.0.0.1:``port`` (a worker's health endpoint)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    return int(status_line.split()[1])


def needs_private_server() -> None:
    """Skip a test that reads server-global INFO commandstats when ``$REDIS_URL`` is shared."""
    if os.environ.get("REDIS_URL"):
        pytest.skip("reads the server's global INFO commandstats: other clients of the "
                    "server at $REDIS_URL would skew it")


async def script_calls(client: aioredis.Redis) -> int:
    """Script calls (EVALSHA and EVAL) the server has run so far: global to the server."""
    stats = await client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))


async def drain_in_order(queue: Arque) -> list[str]:
    """Take every ready task one at a time, releasing each; their ids in hand-out order."""
    order = []
    while True:
        task_id, _ = await queue.dequeue(timeout=0.05)
        if task_id is None:
            return order
        order.append(str(task_id))
        assert await queue.release(task_id)
