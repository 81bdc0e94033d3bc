"""What runs next, measured: priorities, groups and rate limits beside the plain queue.

    python benchmarks/scheduling.py                 # N=20,000, 3 runs, medians
    python benchmarks/scheduling.py --runs 1 --tasks 2000 --backlog 10000 --seconds 3

Each run starts a private redis-server (arque.testing, never :6379) and measures:

* drain: ``--tasks`` no-op tasks through one ``Worker(concurrency=100)``, enqueued
  first, timed from the worker's start to the last handler; plain, 1 priority
  level, 10 levels, and 1,000 groups under ``group_limit=5``, each ``--reps``
  times interleaved; the ratio to the plain drain, and the Redis server time
  per task of the drain's scripts (``INFO commandstats``);
* rate: ``rate_limit=(1000, 1)`` over ``--seconds`` with 4 consumer processes
  (``dequeue_many`` loops): starts per second over the span, and the most starts
  in any 1 s window (from the hand-out times on the Redis clock);
* new group: enqueue-to-start (p50, p99) of the first task of a new group while
  one group has ``--backlog`` pending and a Worker, in a process of its own,
  drains it: with the big group capped by ``group_limit=50`` and with it
  holding all 100 slots, its tasks no-op, 10 ms or 100 ms long (``--only new-group``
  measures these alone); beside it, the part spent in Redis from ready to
  hand-out (the hand-out's ``waited``, whole ms of the Redis clock), the
  producer's enqueue call, and a floor: the same probe with a bare ``LPUSH``
  and a ``BLPOP`` in another process.

Prints one JSON line per figure per run, then a table of medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from arque import Arque, Worker
from arque.testing import RedisServer

CONCURRENCY = 100
GAP = 0.01  # seconds between two probes of the new-group figure
VARIANTS = ("plain", "1 priority", "10 priorities", "1000 groups")


async def _drain(url: str, tasks: int, variant: str) -> tuple[float, float]:
    """One Worker drains ``tasks`` enqueued before it starts: (tasks/s, server µs per task).

    The server time is what ``INFO commandstats`` counts for the scripts of the
    drain (dequeue and release), less sensitive to a busy machine than the rate.
    """
    client = aioredis.Redis.from_url(url, max_connections=300)
    await client.flushall()
    settings: dict[str, Any] = {"group_limit": 5} if variant == "1000 groups" else {}
    queue = Arque(client, queue="bench", working_limit=0, **settings)
    # 100 tasks per call share their options; with groups, 20 per call, one group each,
    # so 1,000 groups get 20 tasks each (20,000 tasks), enqueued group after group.
    step = 20 if variant == "1000 groups" else 100
    for n, i in enumerate(range(0, tasks, step)):
        options: dict[str, Any] = {}
        if variant == "1 priority":
            options["priority"] = 5
        elif variant == "10 priorities":
            options["priority"] = n % 10 + 1
        elif variant == "1000 groups":
            options["group"] = f"tenant-{n % 1000}"
        await queue.enqueue_many([{"i": j} for j in range(i, min(i + step, tasks))],
                                 task_timeout=60, **options)
    await client.config_resetstat()
    done = asyncio.Event()
    count = 0

    async def handler(data: Any, ctx: Any) -> None:
        nonlocal count
        count += 1
        if count == tasks:
            done.set()

    worker = Worker(queue, handler, concurrency=CONCURRENCY, sweep_interval=None)
    began = time.perf_counter()
    running = asyncio.create_task(worker.run())
    await done.wait()
    elapsed = time.perf_counter() - began
    worker.stop()
    await running
    scripts = (await client.info("commandstats")).get("cmdstat_evalsha", {})
    await client.aclose()
    return tasks / elapsed, float(scripts.get("usec", 0)) / tasks


CONSUMER = '''
import asyncio, sys, time
import redis.asyncio as aioredis
from arque import Arque
async def main(url, seconds, out):
    client = aioredis.Redis.from_url(url)
    queue = Arque(client, queue="rate")
    starts = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = await queue.dequeue_many(50, timeout=min(1.0, max(0.01, end - time.monotonic())))
        for task_id, _ in got:
            starts.append(round(task_id.deadline * 1000) - 60_000)
        if got:
            await queue.release_many([t for t, _ in got])
    with open(out, "w") as f:
        f.write(" ".join(map(str, starts)))
    await client.aclose()
asyncio.run(main(sys.argv[1], float(sys.argv[2]), sys.argv[3]))
'''


async def _rate(url: str, seconds: float, workdir: Path) -> dict[str, float]:
    client = aioredis.Redis.from_url(url)
    await client.flushall()
    queue = Arque(client, queue="rate", rate_limit=(1000, 1.0))
    total = int(1000 * (seconds + 3))
    for start in range(0, total, 500):
        await queue.enqueue_many([{"i": i} for i in range(start, min(start + 500, total))],
                                 task_timeout=60)
    outs = [workdir / f"starts-{n}.txt" for n in range(4)]
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", CONSUMER, url, str(seconds), str(out)) for out in outs]
    for proc in procs:
        await proc.wait()
    await client.aclose()
    starts = sorted(int(s) for out in outs for s in out.read_text().split())
    # The span: from the first start to the last full second after it.
    first = starts[0]
    span = int(seconds) - 1
    within = [s for s in starts if s < first + span * 1000]
    most, j = 0, 0
    for i, s in enumerate(starts):  # the most starts in any window of 1 s
        while starts[j] <= s - 1000:
            j += 1
        most = max(most, i - j + 1)
    return {"starts_per_s": len(within) / span, "max_in_any_1s": most}


def _worker_process(url: str, group_limit: int, handler_s: float, ready: Any) -> None:
    """The Worker of the new-group figure, in a process of its own (as deployed).

    A probe's handler records its start (``time.perf_counter``: CLOCK_MONOTONIC,
    one clock for every process of the machine) on a list the producer waits on.
    """
    async def main() -> None:
        client = aioredis.Redis.from_url(url, max_connections=300)
        queue = Arque(client, queue="groups", working_limit=0, group_limit=group_limit)

        async def handler(data: Any, ctx: Any) -> None:
            if "probe" in data:
                await client.rpush(f"started:{data['probe']}",
                                   f"{time.perf_counter()!r} {ctx.task_id.waited!r}")
            elif handler_s:
                await asyncio.sleep(handler_s)

        worker = Worker(queue, handler, concurrency=CONCURRENCY, sweep_interval=None)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, worker.stop)
        ready.set()
        await worker.run()
        await client.aclose()
    asyncio.run(main())


async def _new_group(url: str, backlog: int, samples: int, group_limit: int,
                     handler_s: float = 0.0) -> dict[str, float]:
    """Enqueue-to-start of new groups' first tasks while a Worker drains a big group.

    The Worker (``concurrency=100``) runs in a process of its own, the
    producer here; the big group's tasks take ``handler_s`` each. ``group_limit``
    0: the big group fills all 100 slots, so a new task waits for a slot to
    free and the Worker's next fetch; 50: the big group holds at most 50, and a
    fetcher waits in Redis for new work.
    """
    client = aioredis.Redis.from_url(url, max_connections=300)
    await client.flushall()
    queue = Arque(client, queue="groups", working_limit=0, group_limit=group_limit)
    for start in range(0, backlog, 500):
        await queue.enqueue_many([{"i": i} for i in range(start, min(start + 500, backlog))],
                                 group="big", task_timeout=60)
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process = context.Process(target=_worker_process, args=(url, group_limit, handler_s, ready))
    process.start()
    await asyncio.get_running_loop().run_in_executor(None, ready.wait, 60)
    await asyncio.sleep(0.5)
    producer = Arque(client, queue="groups")
    latencies: list[float] = []
    waits: list[float] = []  # ready to hand-out, by the Redis clock (ms resolution)
    calls: list[float] = []  # the producer's enqueue call, to its reply
    for n in range(samples):
        key = f"p{n}"
        sent = time.perf_counter()
        await producer.enqueue({"probe": key}, group=f"new-{n}")
        calls.append((time.perf_counter() - sent) * 1000)
        got = await client.blpop([f"started:{key}"], timeout=30)
        assert got is not None, f"probe {key} never started"
        started, waited = got[1].split()
        latencies.append((float(started) - sent) * 1000)
        waits.append(float(waited) * 1000)
        await asyncio.sleep(GAP)
    pending = (await queue.stats()).pending
    process.terminate()
    await asyncio.get_running_loop().run_in_executor(None, process.join, 60)
    await client.aclose()
    return {"p50_ms": statistics.median(latencies), "p99_ms": _p99(latencies),
            "ready_to_handout_p50_ms": statistics.median(waits),
            "ready_to_handout_p99_ms": _p99(waits), "enqueue_call_p50_ms": statistics.median(calls),
            "enqueue_call_p99_ms": _p99(calls), "big_pending_at_end": pending}


def _floor_consumer(url: str, ready: Any) -> None:
    """The floor's consumer: BLPOP a probe, note when it came (perf_counter) under its name."""
    async def main() -> None:
        client = aioredis.Redis.from_url(url)
        ready.set()
        while True:
            got = await client.blpop(["floor"], timeout=0)
            assert got is not None  # no timeout: it waits for the next probe
            name = got[1] if isinstance(got[1], str) else got[1].decode()
            if name == "stop":
                break
            await client.rpush(f"started:{name}", repr(time.perf_counter()))
        await client.aclose()
    asyncio.run(main())


async def _floor(url: str, samples: int) -> dict[str, float]:
    """The same probe with bare Redis commands: LPUSH here, BLPOP in a process of its own.

    What the machine itself costs from a push to a start in another process
    (its idle wake-ups included, the probes being GAP apart), with no queue at all.
    """
    client = aioredis.Redis.from_url(url)
    await client.flushall()
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process = context.Process(target=_floor_consumer, args=(url, ready))
    process.start()
    await asyncio.get_running_loop().run_in_executor(None, ready.wait, 60)
    await asyncio.sleep(0.5)
    latencies = []
    for n in range(samples):
        sent = time.perf_counter()
        await client.lpush("floor", f"p{n}")
        got = await client.blpop([f"started:p{n}"], timeout=30)
        assert got is not None, f"floor probe {n} never started"
        latencies.append((float(got[1]) - sent) * 1000)
        await asyncio.sleep(GAP)
    await client.lpush("floor", "stop")
    await asyncio.get_running_loop().run_in_executor(None, process.join, 60)
    await client.aclose()
    return {"p50_ms": statistics.median(latencies), "p99_ms": _p99(latencies)}


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def one_run(a: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with RedisServer() as server:
        if a.only == "new-group":
            await _new_groups(server.url, a, out)
            return out
        await _drain(server.url, min(a.tasks, 2000), "plain")  # warm-up: scripts loaded, pools
        # Each variant --reps times, interleaved and in a rotating order, so a busy spell of
        # the shared machine spreads over all of them; the run keeps each one's median.
        samples: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
        for rep in range(a.reps):
            for variant in VARIANTS[rep % 4:] + VARIANTS[:rep % 4]:
                samples[variant].append(await _drain(server.url, a.tasks, variant))
        for variant, got in samples.items():
            out[f"drain {variant}"] = statistics.median(rate for rate, _ in got)
            out[f"server us/task {variant}"] = statistics.median(us for _, us in got)
        out["rate"] = await _rate(server.url, a.seconds, workdir)
        await _new_groups(server.url, a, out)
    return out


NEW_GROUP = {  # figure -> (group_limit of the big group, its handlers' seconds), and how
    "new group, big capped": (50, 0.0, "the big group capped by group_limit=50, no-op tasks"),
    "new group, big capped, 10 ms tasks": (50, 0.01, ("the big group capped by group_limit=50, "
                                            "10 ms tasks")),
    "new group, big capped, 100 ms tasks": (50, 0.1, ("the big group capped by group_limit=50, "
                                             "100 ms tasks")),
    "new group, 100 ms tasks": (0, 0.1, "the Worker's 100 slots all busy with its 100 ms tasks"),
    "new group, 10 ms tasks": (0, 0.01, "the Worker's 100 slots all busy with its 10 ms tasks"),
    "new group, no-op tasks": (0, 0.0, "the Worker's 100 slots all busy with its no-op tasks"),
}


async def _new_groups(url: str, a: argparse.Namespace, out: dict[str, Any]) -> None:
    out["floor"] = await _floor(url, a.samples)
    for key, (group_limit, handler_s, _) in NEW_GROUP.items():
        out[key] = await _new_group(url, a.backlog, a.samples, group_limit, handler_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reps", type=int, default=3, help="drains of each variant per run")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--only", choices=("new-group",), help="measure this figure alone")
    a = parser.parse_args()
    workdir = Path(__file__).with_name(".work")
    workdir.mkdir(exist_ok=True)
    runs = []
    for _ in range(a.runs):
        result = asyncio.run(one_run(a, workdir))
        print(json.dumps(result), flush=True)
        runs.append(result)

    def med(get: Any) -> float:
        return float(statistics.median(get(r) for r in runs))

    if a.only == "new-group":
        _print_new_groups(a, med)
        return
    plain = med(lambda r: r["drain plain"])
    print(f"\nmedians of {a.runs} run(s), {a.tasks} tasks, Worker(concurrency={CONCURRENCY})")
    plain_us = med(lambda r: r["server us/task plain"])
    print("| figure | value | vs plain | Redis µs per task (vs plain) |\n|---|---|---|---|")
    for variant in VARIANTS:
        value = med(lambda r, v=variant: r[f"drain {v}"])
        us = med(lambda r, v=variant: r[f"server us/task {v}"])
        print(f"| drain, {variant} | {value:,.0f} tasks/s | {value / plain:.0%} | "
              f"{us:.1f} ({us / plain_us:.1f}x) |")
    print(f"| rate_limit (1000, 1 s), 4 processes, {a.seconds:g} s | "
          f"{med(lambda r: r['rate']['starts_per_s']):,.1f} starts/s, at most "
          f"{med(lambda r: r['rate']['max_in_any_1s']):.0f} in any 1 s | | |")
    _print_new_groups(a, med)


def _print_new_groups(a: argparse.Namespace, med: Any) -> None:
    print(f"| floor: bare LPUSH, BLPOP in another process, {GAP * 1000:g} ms apart | "
          f"p50 {med(lambda r: r['floor']['p50_ms']):.2f} ms, "
          f"p99 {med(lambda r: r['floor']['p99_ms']):.2f} ms | | |")
    for key, (_, _, how) in NEW_GROUP.items():
        print(f"| new group's first task, {a.backlog:,} pending in one group, {how} | "
              f"p50 {med(lambda r, k=key: r[k]['p50_ms']):.2f} ms, "
              f"p99 {med(lambda r, k=key: r[k]['p99_ms']):.2f} ms; ready to hand-out in Redis "
              f"p50 {med(lambda r, k=key: r[k]['ready_to_handout_p50_ms']):.0f} ms, "
              f"p99 {med(lambda r, k=key: r[k]['ready_to_handout_p99_ms']):.0f} ms; the enqueue call "
              f"p50 {med(lambda r, k=key: r[k]['enqueue_call_p50_ms']):.2f} ms, "
              f"p99 {med(lambda r, k=key: r[k]['enqueue_call_p99_ms']):.2f} ms "
              f"(big group pending at the end: {med(lambda r, k=key: r[k]['big_pending_at_end']):,.0f}) | | |")


if __name__ == "__main__":
    main()
