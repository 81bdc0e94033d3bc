"""What one pending task costs in Redis, structure by structure, and what other layouts would.

    .venv/bin/python benchmarks/memory_layout.py [--tasks 20000]

Starts a private redis-server (arque.testing; Redis on PATH) and, for a small
payload ``{"i", "ts"}`` and one padded with 1 KiB:

1. fills an arque queue with N pending tasks from 20 concurrent producers and
   prints, per key, its type, ``OBJECT ENCODING``, ``MEMORY USAGE`` (exact,
   ``SAMPLES 0``) ÷ N, and the ``used_memory`` delta ÷ N;
2. writes the same ids and payloads in other layouts with plain commands
   (a pipeline, no arque) and prints the ``used_memory`` delta ÷ N of each:
   the figures behind the design in ``MEMORY.md``; "before" is the layout
   arque had until one record per task, "built" the one it writes now.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import redis.asyncio as aioredis

from arque import Arque
from arque.taskids import new_task_id
from arque.testing import RedisServer

PRODUCERS = 20
PAD = "x" * 1024
BUCKET = 100  # tasks per hash of a bucketed layout: under hash-max-listpack-entries (128)


def payloads(n: int, pad: bool) -> list[bytes]:
    out = []
    for i in range(n):
        task: dict[str, Any] = {"i": i, "ts": time.time()}
        if pad:
            task["pad"] = PAD
        out.append(json.dumps(task, separators=(",", ":")).encode())
    return out


async def used(client: aioredis.Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def arque_layout(client: aioredis.Redis, n: int, pad: bool) -> None:
    queue = Arque(client, queue="mem", working_limit=0)
    await queue.enqueue("warm-up")
    await client.flushall()
    before = await used(client)
    numbers = iter(range(n))

    async def producer() -> None:
        for i in numbers:
            task: dict[str, Any] = {"i": i, "ts": time.time()}
            if pad:
                task["pad"] = PAD
            await queue.enqueue(task, task_timeout=30)

    await asyncio.gather(*(producer() for _ in range(PRODUCERS)))
    total = (await used(client) - before) / n
    print(f"  arque now: used_memory delta {total:,.0f} B/task")
    for key in sorted(await client.keys("*")):
        kind = (await client.type(key)).decode()
        encoding = (await client.object("encoding", key)).decode()
        size = await client.memory_usage(key, samples=0) or 0
        print(f"    {key.decode():28} {kind:5} {encoding:10} {size / n:8,.1f} B/task")
    task_id = (await client.lrange(queue.keys.pending, 0, 0))[0]
    record = await client.hget(queue.keys.tasks, task_id)
    meta = record.partition(b"\n")[0]
    print(f"    one id ({len(task_id)} B): {task_id.decode()}; one record ({len(record)} B), "
          f"its metadata ({len(meta)} B): {meta.decode()}")


def _ids(n: int, short: bool) -> list[bytes]:
    if short:  # the ids arque draws: 14 characters of base64url
        return [new_task_id().encode() for _ in range(n)]
    return [uuid.uuid4().hex.encode() for _ in range(n)]


# A compact metadata value: timeout_ms and enqueue time (ms) in base 36, the counters
# left out while they are 0: what a task that was never handed out needs.
_META = b"u0|1a2b3c4d5e"

Layout = Callable[[Any, bytes, bytes, int], None]


def _before(pipe: Any, task_id: bytes, payload: bytes, i: int) -> None:
    # The layout before one record per task: metadata and payload in two hashes.
    pipe.lpush("{q}pending", task_id)
    pipe.hset("{q}tasks", task_id, b'{"t":30000,"a":0,"r":0,"q":0,"e":1764412345678}')
    pipe.hset("{q}payloads", task_id, payload)


def _built(pipe: Any, task_id: bytes, payload: bytes, i: int) -> None:
    # What arque writes now: one record, the metadata of a plain ready task as [t,e].
    pipe.lpush("{q}pending", task_id)
    pipe.hset("{q}tasks", task_id, b'[30000,1764412345678]\n' + payload)


def _one_hash(pipe: Any, task_id: bytes, payload: bytes, i: int) -> None:
    pipe.lpush("{q}pending", task_id)
    pipe.hset("{q}tasks", task_id, _META + b"\n" + payload)


def _bucketed(pipe: Any, task_id: bytes, payload: bytes, i: int) -> None:
    pipe.lpush("{q}pending", task_id)
    pipe.hset(f"{{q}}t:{i // BUCKET}", task_id, _META + b"\n" + payload)


def _list_records(pipe: Any, task_id: bytes, payload: bytes, i: int) -> None:
    # Pending tasks whole in the list (id, metadata, payload), a set of live ids beside it.
    pipe.lpush("{q}pending", task_id + b"|" + _META + b"|" + payload)
    pipe.sadd("{q}ids", task_id)


def _stream(pipe: Any, task_id: bytes, payload: bytes, i: int) -> None:
    # The ready tasks as stream entries (id, metadata, payload in one entry), no id index.
    pipe.xadd("{q}ready", {b"i": task_id, b"m": _META, b"p": payload})


def _stream_indexed(pipe: Any, task_id: bytes, payload: bytes, i: int) -> None:
    # As _stream, plus a hash task id -> stream entry id to find a task by its id.
    _stream(pipe, task_id, payload, i)
    pipe.hset("{q}index", task_id, b"1764412345678-%d" % i)


LAYOUTS: dict[str, tuple[str, Layout, bool]] = {
    "before (replayed)": ("list of ids + hash id->meta JSON + hash id->payload", _before, False),
    "built (replayed)": ("list of 14-char ids + hash id->(compact meta JSON + payload)", _built, True),
    "one hash": ("list of ids + hash id->(compact meta + payload)", _one_hash, False),
    "one hash, 14-char ids": ("as one hash, default ids of 14 chars (84 bits of base64url)", _one_hash, True),
    "bucketed hashes": (f"list of ids + hashes of {BUCKET} tasks (listpack while values <= 64 B)",
                        _bucketed, False),
    "bucketed, 14-char ids": ("as bucketed hashes, 14-char ids", _bucketed, True),
    "list of records + id set": ("list of id+meta+payload records + set of live ids",
                                 _list_records, False),
    "records + set, 14-char ids": ("as list of records + id set, 14-char ids", _list_records, True),
    "stream, no index": ("one stream entry per task (id, meta, payload); no lookup by id", _stream, False),
    "stream + id index": ("stream entry + hash id->entry id", _stream_indexed, False),
}


async def layouts(client: aioredis.Redis, n: int, pad: bool) -> None:
    bodies = payloads(n, pad)
    for name, (what, write, short) in LAYOUTS.items():
        await client.flushall()
        ids = _ids(n, short)
        before = await used(client)
        for start in range(0, n, 1000):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(n, start + 1000)):
                write(pipe, ids[i], bodies[i], i)
            await pipe.execute()
        per_task = (await used(client) - before) / n
        encodings = sorted({(await client.object("encoding", k)).decode() for k in await _sample(client)})
        print(f"  {name:24} {per_task:7,.0f} B/task  [{', '.join(encodings)}]  {what}")


async def _sample(client: aioredis.Redis) -> Iterator[bytes]:
    keys = await client.keys("*")
    return iter(keys[:50])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20000)
    n = parser.parse_args().tasks
    with RedisServer() as server:
        client = aioredis.Redis.from_url(server.url, max_connections=100)
        try:
            info = await client.info("server")
            print(f"Redis {info['redis_version']}, N = {n:,}")
            for pad in (False, True):
                size = len(payloads(1, pad)[0])
                print(f"\n{'1 KiB-padded' if pad else 'small'} payload ({size} B of JSON)")
                await arque_layout(client, n, pad)
                print("  other layouts, same payloads (plain commands):")
                await layouts(client, n, pad)
        finally:
            await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
