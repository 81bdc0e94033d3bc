"""The sequential enqueue path: arque's ``enqueue`` against a bare ``LPUSH`` loop.

    .venv/bin/python benchmarks/enqueue_path.py [--tasks 10000] [--runs 3] [--profile]

Starts a private redis-server (arque.testing) and, on one redis.asyncio client
(hiredis when installed), times N sequential awaits of: ``LPUSH`` of a short
string (the floor of one round trip per task), ``EVALSHA`` of a script that
does nothing (the floor of one script call), and ``Arque.enqueue`` of the
benchmark's payload ``{"i": n, "t": 0.0}``. Prints the median of ``--runs``
runs of each, the enqueue script's server time per call (``INFO
commandstats``), and with ``--profile`` a cProfile of the enqueue loop.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
import timeit

import redis.asyncio as aioredis

from arque import Arque
from arque.testing import RedisServer

Figure = tuple[float, float]  # (calls per second, client CPU microseconds per call)


def _figure(n: int, wall: float, cpu: float) -> Figure:
    return n / wall, cpu / n * 1e6


async def lpush_loop(client: aioredis.Redis, n: int) -> Figure:
    await client.delete("floor")
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        await client.lpush("floor", f"task-{i}")
    return _figure(n, time.perf_counter() - wall, time.process_time() - cpu)


async def noop_script_loop(client: aioredis.Redis, n: int) -> Figure:
    sha = await client.script_load("return 1")
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        await client.evalsha(sha, 1, "{bench}x", "a", "b")
    return _figure(n, time.perf_counter() - wall, time.process_time() - cpu)


async def enqueue_loop(client: aioredis.Redis, n: int, run: int) -> Figure:
    queue = Arque(client, queue=f"bench-{run}", working_limit=0)
    await queue.enqueue({"i": -1, "t": 0.0})  # first call: settings, script loading
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        await queue.enqueue({"i": i, "t": 0.0}, task_timeout=30)
    return _figure(n, time.perf_counter() - wall, time.process_time() - cpu)


def packing_us() -> dict[str, float]:
    """Microseconds of client work per enqueue without I/O, min of 5 x 20,000 (robust to load).

    ``args``: id, checks and encoding of the payload; ``redis-py pack``: the full
    ``EVALSHA`` command packed by redis-py; ``packed once``: the same through
    the scripts' fast path (only the variable arguments packed).
    """
    from redis.asyncio.connection import Connection

    queue = Arque(aioredis.Redis(), queue="pack")
    task = {"i": 1, "t": 0.0}
    args = queue._task_args(task, None, 30, None, None)[:3]  # a lone task: enqueue_one
    command = queue._scripts._command("enqueue_one", args)
    connection = Connection()
    packed = getattr(queue._scripts, "_packed", None)  # None before the fast path existed
    cases = {
        "args": lambda: queue._task_args(task, None, 30, None, None),
        "redis-py pack": lambda: connection.pack_command(*command),
        "packed once": lambda: packed.pack("enqueue_one", args) if packed else None,
    }
    return {name: min(timeit.repeat(case, number=20000, repeat=5)) / 20000 * 1e6
            for name, case in cases.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    n = options.tasks
    with RedisServer() as server:
        client = aioredis.Redis.from_url(server.url)
        try:
            figures: dict[str, list[Figure]] = {"lpush": [], "noop-evalsha": [], "enqueue": []}
            for run in range(options.runs):  # interleaved, so drift spreads over all three
                figures["lpush"].append(await lpush_loop(client, n))
                figures["noop-evalsha"].append(await noop_script_loop(client, n))
                await client.config_resetstat()
                figures["enqueue"].append(await enqueue_loop(client, n, run))
            stats = await client.info("commandstats")
            usec = stats["cmdstat_evalsha"]["usec_per_call"]
            rate = {name: statistics.median(r for r, _ in runs) for name, runs in figures.items()}
            for name, runs in figures.items():
                cpu = statistics.median(c for _, c in runs)
                print(f"{name:13} {rate[name]:8,.0f} /s  client CPU {cpu:5.1f} us/call  "
                      f"(runs: {', '.join(f'{r:,.0f}' for r, _ in runs)})")
            print(f"enqueue script server time: {usec} us per call (last run)")
            print(f"enqueue / lpush: {rate['enqueue'] / rate['lpush']:.2f}")
            work = ", ".join(f"{name} {us:.1f} us" for name, us in packing_us().items())
            print(f"client work per enqueue without I/O: {work}")
            if options.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                await enqueue_loop(client, n, options.runs)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        finally:
            await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
