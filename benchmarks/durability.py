"""What a durable enqueue costs: enqueue rates with and without ``Durability``.

    .venv/bin/python benchmarks/durability.py [--tasks 2000] [--runs 3]

Starts a private master and one replica (``arque.testing``, loopback, no
persistence), then measures, for a plain queue and for
``Durability(replicas=1, timeout=1)``:

* ``enqueue`` one at a time (each waits for its own round trip, and its WAIT);
* 50 concurrent producers (coalesced: one script call and one WAIT per batch);
* ``enqueue_many`` in batches of 100.

Prints a Markdown table of medians (tasks per second) and the mean latency
of a single enqueue; paste it into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import redis.asyncio as aioredis

from arque import Arque, Durability
from arque.testing import RedisServer

Scenario = Callable[[Arque, int], Awaitable[None]]


async def one_at_a_time(queue: Arque, n: int) -> None:
    for i in range(n):
        await queue.enqueue(i)


async def concurrent_50(queue: Arque, n: int) -> None:
    async def producer(count: int) -> None:
        for i in range(count):
            await queue.enqueue(i)

    await asyncio.gather(*(producer(n // 50) for _ in range(50)))


async def batches_of_100(queue: Arque, n: int) -> None:
    for _ in range(n // 100):
        await queue.enqueue_many(range(100))


SCENARIOS: dict[str, Scenario] = {
    "enqueue, one at a time": one_at_a_time,
    "enqueue, 50 concurrent producers": concurrent_50,
    "enqueue_many, batches of 100": batches_of_100,
}


async def rate(url: str, scenario: Scenario, durable: bool, n: int, run: int) -> float:
    async with aioredis.Redis.from_url(url) as client:
        durability = Durability(replicas=1, timeout=1) if durable else None
        queue = Arque(client, queue=f"bench-{run}-{durable}", durability=durability)
        await queue.enqueue("warm-up")  # loads the script
        started = time.perf_counter()
        await scenario(queue, n)
        elapsed = time.perf_counter() - started
        await client.flushall()
    return n / elapsed


def wait_synced(master: RedisServer) -> None:
    with master.client(decode_responses=True) as client:
        for _ in range(300):
            if "online" in str(client.info("replication").get("slave0", "")):
                return
            time.sleep(0.1)
    raise SystemExit("the replica did not sync")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with RedisServer() as master, RedisServer(replicaof=master.port):
        wait_synced(master)
        print(f"Redis {'.'.join(map(str, master.version))}, master and one replica on "
              f"127.0.0.1, {args.tasks} tasks, median of {args.runs} runs\n")
        print("| scenario | plain (tasks/s) | durable, 1 replica (tasks/s) | cost |")
        print("|---|---|---|---|")
        for name, scenario in SCENARIOS.items():
            figures: dict[bool, list[float]] = {False: [], True: []}
            for run in range(args.runs):
                for durable in (False, True):  # interleaved: drift hits both
                    figures[durable].append(
                        asyncio.run(rate(master.url, scenario, durable, args.tasks, run)))
            plain, durable = (statistics.median(figures[d]) for d in (False, True))
            print(f"| {name} | {plain:,.0f} | {durable:,.0f} | "
                  f"{(plain / durable - 1) * 100:+.0f}% time per task |")


if __name__ == "__main__":
    main()
