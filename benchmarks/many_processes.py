"""Many worker processes on one server or a Redis Cluster: throughput and Redis cost per task.

    .venv/bin/python benchmarks/many_processes.py                     # 20 x 50 on one server
    .venv/bin/python benchmarks/many_processes.py --tasks 20000       # scaled down
    .venv/bin/python benchmarks/many_processes.py --queues 8 --cluster 3   # 8 queues, 3 masters
    .venv/bin/python benchmarks/many_processes.py --queues 8               # the same on one server
    .venv/bin/python benchmarks/many_processes.py --redis-core 1      # Redis alone on core 1

Starts a private redis-server (or a Redis Cluster of ``--cluster`` masters,
arque.testing), fills ``--queues`` queues with ``--tasks`` tasks in all
(``enqueue_many``, untimed): ``--delayed`` of them due 0.5 to 3 s after the
fill, ``--failing`` of them failing on their first attempt (the handler
raises; the Worker retries them after a backoff of at most 0.2 s). Then
``--processes`` worker processes, each ``Worker(queues, handler,
concurrency=--concurrency)``, are started and wait until all are ready; the
clock runs from the go to the moment no task is pending, delayed or working.

Reported, per run and as the median of ``--runs``: tasks/s; Redis CPU per
task (``used_cpu_sys + used_cpu_user`` from ``INFO cpu``, summed over the
masters, and per master); commands per task (``INFO commandstats``); and
script calls over 1 ms with the slowest one (``SLOWLOG``, threshold 250 us,
named by script). Every task must be done exactly once more than its
failures, and none may be dead-lettered. ``SLOWLOG`` times calls by the wall
clock: on a machine where the workers share the server's cores, it counts the
time the server was off its core. ``--redis-core`` gives the server a core of
its own (and the real-time policy, where permitted), as a Redis host has.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from arque import Arque, Backoff, Worker
from arque.scripts import KEYS, sha1
from arque.testing import RedisCluster, RedisServer

SLOW_US = 250
SCRIPT_BY_SHA = {sha1(name): name for name in KEYS}


def client_for(urls: list[str], cluster: bool) -> Any:
    if cluster:
        host, port = urls[0].split("//")[1].split(":")
        return AsyncRedisCluster(host=host, port=int(port.split("/")[0]), max_connections=200)
    return aioredis.Redis.from_url(urls[0], max_connections=200)


def queues_of(client: Any, count: int) -> list[Arque]:
    return [Arque(client, queue=f"bench{i}", working_limit=0) for i in range(count)]


# --------------------------------------------------------------------------- worker process


async def worker_role(options: argparse.Namespace) -> None:
    logging.disable(logging.ERROR)  # the planned first-attempt failures are logged as errors
    client = client_for(options.urls.split(","), options.cluster_mode)
    handled = failed = 0

    async def handler(data: dict[str, Any], ctx: Any) -> None:
        nonlocal handled, failed
        handled += 1
        if data["f"] and ctx.attempt == 1:
            failed += 1
            raise RuntimeError("fails on its first attempt")

    worker = Worker(queues_of(client, options.queues), handler, concurrency=options.concurrency,
                    backoff=Backoff(base=0.05, max=0.2))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("ready", flush=True)
    await reader.readline()  # go
    running = asyncio.ensure_future(worker.run())
    await reader.readline()  # stop
    worker.stop()
    await running
    await client.aclose()
    print(json.dumps({"handled": handled, "failed": failed}), flush=True)


# --------------------------------------------------------------------------- driver


def plan(options: argparse.Namespace, count: int) -> tuple[list[list[dict[str, Any]]], ...]:
    """The tasks round-robin over ``count`` queues: (ready, delayed), and how many fail once."""
    every_failing = round(1 / options.failing) if options.failing else 0
    every_delayed = round(1 / options.delayed) if options.delayed else 0
    ready: list[list[dict[str, Any]]] = [[] for _ in range(count)]
    delayed: list[list[dict[str, Any]]] = [[] for _ in range(count)]
    for i in range(options.tasks):
        fails = bool(every_failing) and i % every_failing == 1
        target = delayed if every_delayed and i % every_delayed == 0 else ready
        target[i % count].append({"i": i, "f": fails})
    return ready, delayed


async def fill(queues: list[Arque], tasks: list[list[dict[str, Any]]], delayed: bool) -> None:
    """Enqueue ``tasks`` (one list per queue); delayed ones due 0.5 to 3 s from now, spread."""
    step = 100 if delayed else 1000
    for queue, mine in zip(queues, tasks):
        for start in range(0, len(mine), step):
            delay = 0.5 + (start // step % 26) * 0.1 if delayed else None
            await queue.enqueue_many(mine[start : start + step], delay=delay)


async def node_info(urls: list[str]) -> list[dict[str, Any]]:
    out = []
    for url in urls:
        node = aioredis.Redis.from_url(url)
        try:
            cpu = await node.info("cpu")
            stats = await node.info("commandstats")
            slow = await node.slowlog_get(100000)
            out.append({"cpu": float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
                        "calls": sum(int(v["calls"]) for v in stats.values()),
                        "evalsha": int(stats.get("cmdstat_evalsha", {}).get("calls", 0)),
                        "evalsha_usec": float(stats.get("cmdstat_evalsha", {}).get("usec", 0)),
                        "by_command": {k.removeprefix("cmdstat_"): int(v["calls"])
                                       for k, v in stats.items()},
                        "slow": slow})
        finally:
            await node.aclose()
    return out


async def reset_nodes(urls: list[str]) -> None:
    for url in urls:
        node = aioredis.Redis.from_url(url)
        try:
            await node.config_set("slowlog-log-slower-than", SLOW_US)
            await node.config_set("slowlog-max-len", 100000)
            await node.slowlog_reset()
            await node.config_resetstat()
        finally:
            await node.aclose()


def _slowest(entries: list[dict[str, Any]]) -> tuple[int, int, str, dict[str, list[int]]]:
    """Of the script calls: (calls over 1 ms, slowest duration in us, which script it was,
    the durations over 1 ms by script). The benchmark's own commands (SLOWLOG) are not counted."""
    over, worst, what, by_script = 0, 0, "-", {}
    for entry in entries:
        raw = entry["command"]
        command = (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)).split()
        if len(command) < 2 or command[0].upper() != "EVALSHA":
            continue
        script = SCRIPT_BY_SHA.get(command[1], "a script")
        if entry["duration"] > 1000:
            over += 1
            by_script.setdefault(script, []).append(entry["duration"])
        if entry["duration"] > worst:
            worst, what = entry["duration"], script
    return over, worst, what, by_script


def start_workers(urls: list[str], options: argparse.Namespace) -> list[subprocess.Popen[str]]:
    """The worker processes, each waiting for its go once ready."""
    procs = [subprocess.Popen(
        [sys.executable, __file__, "--role", "worker", "--urls", ",".join(urls),
         "--queues", str(options.queues), "--concurrency", str(options.concurrency)]
        + (["--cluster-mode"] if options.cluster else []),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(options.processes)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return procs


def tell(procs: list[subprocess.Popen[str]], line: str) -> None:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(line + "\n")
        proc.stdin.flush()


async def drained(queues: list[Arque], started: float, deadline: float) -> int:
    """Wait until no task is pending, delayed or working; returns the dead letters."""
    while True:
        stats = [await q.stats() for q in queues]
        if all(s.pending == s.delayed == s.working == 0 for s in stats):
            return sum(s.failed for s in stats)
        if time.perf_counter() - started > deadline:
            raise SystemExit(f"not drained after {deadline} s: {stats}")
        await asyncio.sleep(0.05)


async def one_run(urls: list[str], options: argparse.Namespace) -> dict[str, Any]:
    client = client_for(urls, options.cluster > 0)
    queues = queues_of(client, options.queues)
    try:
        for url in urls:
            node = aioredis.Redis.from_url(url)
            await node.flushall()
            await node.aclose()
        ready, delayed = plan(options, len(queues))
        await fill(queues, ready, delayed=False)
        procs = start_workers(urls, options)
        await fill(queues, delayed, delayed=True)  # due from the go on, not before
        await reset_nodes(urls)
        before = await node_info(urls)
        started = time.perf_counter()
        tell(procs, "go")
        dead = await drained(queues, started, options.deadline)
        elapsed = time.perf_counter() - started
        after = await node_info(urls)
        tell(procs, "stop")
        results = [json.loads(proc.stdout.readline()) for proc in procs if proc.stdout]
        for proc in procs:
            proc.wait(30)
    finally:
        await client.aclose()
    n = options.tasks
    cpu = [a["cpu"] - b["cpu"] for a, b in zip(after, before)]
    over, worst, what, by_script = _slowest([e for node in after for e in node["slow"]])
    commands = {}
    for node in after:
        for name, calls in node["by_command"].items():
            commands[name] = commands.get(name, 0) + calls
    return {
        "tasks_per_s": n / elapsed, "seconds": elapsed,
        "redis_cpu_us_per_task": sum(cpu) / n * 1e6,
        "cpu_s_per_master": [round(c, 2) for c in cpu],
        "commands_per_task": sum(a["calls"] for a in after) / n,
        "scripts_per_task": sum(a["evalsha"] for a in after) / n,
        "us_per_script_call": sum(a["evalsha_usec"] for a in after) / max(1, sum(a["evalsha"] for a in after)),
        "calls_over_1ms": over, "slowest_us": worst, "slowest": what,
        "over_1ms_us_by_script": {name: sorted(us) for name, us in by_script.items()},
        "handled": sum(r["handled"] for r in results),
        "failed_first": sum(r["failed"] for r in results), "dead": dead,
        "top_commands_per_task": {k: round(v / n, 3) for k, v in
                                  sorted(commands.items(), key=lambda kv: -kv[1])[:8]},
    }


async def give_redis_a_core(urls: list[str], core: int) -> str:
    """Pin each server to ``core`` and this benchmark (its workers inherit it) to the others.

    Each server also gets the real-time policy SCHED_FIFO when the system allows it, so
    nothing else on its core takes the CPU from it in the middle of a script: SLOWLOG
    times calls by the wall clock. Returns what was done, for the report.
    """
    others = os.sched_getaffinity(0) - {core}
    if core not in os.sched_getaffinity(0) or not others:
        raise SystemExit(f"--redis-core {core}: needs that core and another one to run on")
    os.sched_setaffinity(0, others)
    policy = "SCHED_FIFO"
    for url in urls:
        node = aioredis.Redis.from_url(url)
        try:
            pid = int((await node.info("server"))["process_id"])
        finally:
            await node.aclose()
        for task in os.listdir(f"/proc/{pid}/task"):  # every thread of the server
            os.sched_setaffinity(int(task), {core})
        try:
            os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(1))
        except PermissionError:
            policy = "the default policy (SCHED_FIFO not permitted)"
    return f"Redis alone on core {core} with {policy}, the benchmark and workers on {sorted(others)}"


def loadavg() -> str:
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, (int, float)):
            out[key] = statistics.median(r[key] for r in runs)
        elif isinstance(value, list):
            out[key] = [statistics.median(r[key][i] for r in runs) for i in range(len(value))]
    out["slowest"] = max(runs, key=lambda r: r["slowest_us"])["slowest"]
    out["slowest_us"] = max(r["slowest_us"] for r in runs)
    out["calls_over_1ms"] = max(r["calls_over_1ms"] for r in runs)
    return out


async def driver(options: argparse.Namespace) -> None:
    server: Any = RedisCluster(options.cluster) if options.cluster else RedisServer()
    with server:
        urls = server.urls if options.cluster else [server.url]
        pinned = "" if options.redis_core is None else "; " + await give_redis_a_core(
            urls, options.redis_core)
        load = loadavg()
        where = f"cluster of {options.cluster} masters" if options.cluster else "one server"
        print(f"{options.processes} processes x concurrency {options.concurrency}, "
              f"{options.tasks:,} tasks over {options.queues} queue(s), "
              f"{options.failing:.0%} failing once, {options.delayed:.0%} delayed; "
              f"{where}{pinned}; "
              f"load average at start {load}", flush=True)
        runs = []
        expected = sum(t["f"] for tasks in plan(options, options.queues) for q in tasks for t in q)
        for run in range(options.runs):
            result = await one_run(urls, options)
            print(f"run {run + 1}: " + json.dumps(result), flush=True)
            assert result["dead"] == 0, "a task was dead-lettered"
            assert result["failed_first"] == expected, "not every planned failure happened once"
            assert result["handled"] == options.tasks + expected, "a task ran twice or never"
            runs.append(result)
        load = loadavg()
        print(f"median of {len(runs)}: {json.dumps(summary(runs))}; load average at end {load}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", default="driver", choices=["driver", "worker"])
    parser.add_argument("--tasks", type=int, default=100000)
    parser.add_argument("--processes", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--queues", type=int, default=1)
    parser.add_argument("--failing", type=float, default=0.05)
    parser.add_argument("--delayed", type=float, default=0.10)
    parser.add_argument("--cluster", type=int, default=0,
                        help="masters of a Redis Cluster (0: one server)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis-core", type=int, default=None,
                        help="pin Redis to this core (SCHED_FIFO when permitted), all else to the others")
    parser.add_argument("--deadline", type=float, default=600)
    parser.add_argument("--urls", default="", help=argparse.SUPPRESS)
    parser.add_argument("--cluster-mode", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(worker_role(options) if options.role == "worker" else driver(options))
    if options.role == "worker":
        os._exit(0)


if __name__ == "__main__":
    main()
