"""Server time per script call with 201,000 dead letters and a backlog of 100,000.

    .venv/bin/python benchmarks/bounded_calls.py [--dead 200000] [--backlog 100000]

Starts a private redis-server (arque.testing), fills queue ``big`` with
1,000 rejected dead letters (the oldest) and ``--dead`` whose lease expired,
all through the real scripts, then runs each call an operator or a consumer
makes and prints, per call: how many script calls it took, their mean server
time (``INFO commandstats``) and the slowest one (``SLOWLOG``, every call
slower than 100 µs is logged). Then, on queue ``backlog``: ``enqueue_many``
of ``--backlog`` tasks, and a ``dequeue`` behind as many tasks that have no
attempt left. Prints a Markdown table (for benchmarks/RESULTS.md).

It runs against whichever ``arque`` is importable; calls that version lacks
(a cursor) are left out, so the same script measures an older checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import platform
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

import arque
from arque import Arque, DeadReason
from arque.testing import RedisServer

REJECTED = 1_000
SLOWLOG_US = 100


async def _script_stats(client: aioredis.Redis) -> tuple[int, int]:
    stats = await client.info("commandstats")
    rows = [stats.get(f"cmdstat_{c}", {}) for c in ("evalsha", "eval")]
    return sum(int(r.get("calls", 0)) for r in rows), sum(int(r.get("usec", 0)) for r in rows)


async def measure(client: aioredis.Redis, step: Callable[[], Awaitable[Any]]) -> tuple[int, float, int, float]:
    """``(script calls, mean µs, slowest µs, wall s)`` of one step."""
    await client.slowlog_reset()
    calls, usec = await _script_stats(client)
    started = time.perf_counter()
    await step()
    wall = time.perf_counter() - started
    after_calls, after_usec = await _script_stats(client)
    log = await client.slowlog_get(100_000)
    slowest = max((int(e["duration"]) for e in log
                   if e["command"].split()[0].upper() in (b"EVALSHA", b"EVAL")), default=0)
    calls = after_calls - calls
    return calls, (after_usec - usec) / max(calls, 1), slowest, wall


def _queue(client: aioredis.Redis, name: str = "big", **settings: Any) -> Arque:
    defaults: dict[str, Any] = {"requeue_limit": 1, "recovery_limit": 5, "working_limit": 0,
                                "max_failed": 0, "failed_ttl": 0}
    return Arque(client, queue=name, **{**defaults, **settings})


async def build(client: aioredis.Redis, dead: int) -> None:
    queue = _queue(client)
    ids = await queue.enqueue_many(range(REJECTED), task_ids=[f"rej{i}" for i in range(REJECTED)])
    for task_id, _ in await queue.dequeue_many(len(ids), timeout=5):
        await queue.fail(task_id, "refused", DeadReason.REJECTED)
    for start in range(0, dead, 10_000):  # (an older enqueue_many sends all in one call)
        await queue.enqueue_many(range(min(10_000, dead - start)), task_timeout=0.001)
    taken = 0
    while taken < dead:
        taken += len(await queue.dequeue_many(2000, timeout=5))
    await asyncio.sleep(0.01)
    await queue.sweep()


async def main(dead: int, backlog: int) -> None:
    has_cursor = "cursor" in inspect.signature(Arque.list_failed).parameters
    rows: list[tuple[str, tuple[int, float, int, float]]] = []
    with RedisServer() as server:
        async with aioredis.Redis.from_url(server.url) as client:
            await build(client, dead)
            await client.config_set("slowlog-log-slower-than", SLOWLOG_US)
            await client.config_set("slowlog-max-len", 100_000)
            queue = _queue(client)
            deep = dead * 3 // 4  # a rank deep inside, newest first
            [raw_id] = await client.zrevrange(queue.keys.failed, deep - 1, deep - 1)
            deep_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
                ("list_failed, first page of 100", lambda: queue.list_failed()),
                ("list_failed by reason (the oldest 1,000)",
                 lambda: queue.list_failed(reason="rejected")),
                (f"list_failed, offset {deep:,}", lambda: queue.list_failed(offset=deep)),
            ]
            if has_cursor:
                from arque.dead_letters import encode_cursor

                score = await client.zscore(queue.keys.failed, deep_id)
                cursor = encode_cursor(int(score or 0), deep_id)
                steps.append((f"list_failed, cursor {deep:,} deep",
                              lambda: queue.list_failed(cursor=cursor)))
            steps += [
                ("get_failed", lambda: queue.get_failed(deep_id)),
                ("replay_failed one", lambda: queue.replay_failed("rej1")),
                ("purge_failed one", lambda: queue.purge_failed("rej2")),
                ("replay_failed by reason (997)", lambda: queue.replay_failed(reason="rejected")),
                ("sweep: trim to max_failed=100,000",
                 lambda: _queue(client, max_failed=100_000).sweep()),
                ("sweep: expire the rest by age", lambda: _queue(client, failed_ttl=0.001).sweep()),
            ]
            for label, step in steps:
                rows.append((label, await measure(client, step)))

            generous = _queue(client, "backlog", requeue_limit=2, task_timeout=0.001)
            rows.append((f"enqueue_many of {backlog:,}",
                         await measure(client, lambda: generous.enqueue_many(range(backlog)))))
            taken = 0
            while taken < backlog:
                taken += len(await generous.dequeue_many(2000, timeout=5))
            await asyncio.sleep(0.01)
            await generous.sweep()
            await generous.enqueue("live", task_id="live")
            strict = _queue(client, "backlog")
            rows.append((f"dequeue behind {backlog:,} exhausted tasks",
                         await measure(client, lambda: strict.dequeue(timeout=120))))

    print(f"arque {arque.__version__}, Redis {'.'.join(map(str, server.version))}, "
          f"Python {platform.python_version()}, {dead + REJECTED:,} dead letters\n")
    print("| call | script calls | mean server time per call | slowest call | wall |")
    print("|---|---|---|---|---|")
    for label, (calls, mean, slowest, wall) in rows:
        worst = f"{slowest / 1000:.1f} ms" if slowest else f"< {SLOWLOG_US} µs"
        print(f"| {label} | {calls:,} | {mean / 1000:.2f} ms | {worst} | {wall:.2f} s |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dead", type=int, default=200_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    options = parser.parse_args()
    asyncio.run(main(options.dead, options.backlog))
