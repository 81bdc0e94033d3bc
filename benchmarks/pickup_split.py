"""Where an idle pickup's time goes: the producer, the server and the wake-up, the consumer.

    .venv/bin/python benchmarks/pickup_split.py [--runs 3] [--samples 200] [--modes floor,loop,worker]

Each mode runs one consumer process and one producer process against a
private ``redis-server`` (no persistence). Once the consumer has gone idle,
the producer sends tasks one at a time, ``--spacing`` apart. Each pickup is
cut in three by timestamps from the host clock:

* **producer**: from the call (``enqueue``, or ``LPUSH``) to the moment its
  command is handed to the socket's writer;
* **server and wake-up**: from then until the reply reaches the consumer's
  socket reader. This covers the server's scripts or commands, and waking
  the server's and the consumer's processes;
* **consumer**: from then to the handler's first line.

The write and the arrival are read by wrapping asyncio's ``StreamWriter``
and ``StreamReader`` in the two processes of this benchmark only. For the
README loop and the ``Worker``, the consumer part is cut again at arque's
``_decode`` (the reply is back in the caller) and, for the ``Worker``, at
``_accept`` (the task is given its slot).

``INFO commandstats``, reset at the start of each phase, gives the server's
own time per call of each command. EVALSHA covers every script together
(enqueue, dequeue and release). The commands a script runs are counted under
their own names too (an ``LPUSH`` in a script mode is ``enqueue_one``'s).

Modes:

* ``floor``: ``LPUSH``, and 100 coroutines in ``BLMOVE``, on redis.asyncio
  alone (benchmarks/peers/floor.py);
* ``loop``: the README's consumer loop, run by 100 coroutines;
* ``worker``: ``Worker(queue, handler, concurrency=100)``.

The modes take turns within each run. For each mode, the medians are taken
over the samples of all runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

CONCURRENCY = 100
PENDING, PROCESSING = "floor:pending", "floor:processing"
MARKS: dict[str, float] = {}


def _stamp_streams() -> None:
    """Record when bytes reach a StreamReader, and when a StreamWriter is given bytes."""
    feed = asyncio.StreamReader.feed_data
    writelines = asyncio.StreamWriter.writelines
    write = asyncio.StreamWriter.write

    def feed_data(self: asyncio.StreamReader, data: bytes) -> None:
        MARKS["arrived"] = time.time()
        feed(self, data)

    def stamped_writelines(self: asyncio.StreamWriter, data: Any) -> None:
        MARKS["wrote"] = time.time()
        writelines(self, data)

    def stamped_write(self: asyncio.StreamWriter, data: Any) -> None:
        MARKS["wrote"] = time.time()
        write(self, data)

    asyncio.StreamReader.feed_data = feed_data  # type: ignore[method-assign]
    asyncio.StreamWriter.writelines = stamped_writelines  # type: ignore[method-assign]
    asyncio.StreamWriter.write = stamped_write  # type: ignore[method-assign]


def _stamp_calls() -> None:
    """Record when arque's consumer side decodes a reply, and when the Worker accepts a task."""
    from arque.queue import Arque
    from arque.worker.launcher import Worker

    decode, accept = Arque._decode, Worker._accept

    async def stamped_decode(self: Arque, reply: Any) -> Any:
        MARKS["decoded"] = time.time()
        return await decode(self, reply)

    def stamped_accept(self: Worker, *args: Any) -> None:
        MARKS["accepted"] = time.time()
        accept(self, *args)

    Arque._decode = stamped_decode  # type: ignore[method-assign]
    Worker._accept = stamped_accept  # type: ignore[method-assign]


# -- the two processes ---------------------------------------------------------------


async def consumer(url: str, mode: str) -> None:
    """Consume until stdin closes; one JSON line per task on stdout."""
    import redis.asyncio as aioredis
    from wakeups import stdin_closed  # beside this file

    from arque import Arque, Worker

    _stamp_streams()
    _stamp_calls()
    client = aioredis.Redis.from_url(url, max_connections=300)
    queue = Arque(client, queue="split", working_limit=None)

    def report(data: dict[str, Any]) -> None:
        now = time.time()
        sys.stdout.write(json.dumps({**MARKS, "t": data["t"], "at": now}) + "\n")
        sys.stdout.flush()

    async def readme_loop() -> None:
        while True:
            task_id, data = await queue.dequeue(timeout=1.0)
            if task_id is None:
                continue
            report(data)
            await queue.release(task_id)

    async def floor_loop() -> None:
        while True:
            raw = await client.blmove(PENDING, PROCESSING, 1, "RIGHT", "LEFT")
            if raw is None:
                continue
            report(json.loads(raw))
            await client.lrem(PROCESSING, 1, raw)

    async def handler(data: dict[str, Any], ctx: Any) -> None:
        report(data)

    eof = stdin_closed()
    if mode == "worker":
        running = asyncio.ensure_future(Worker(queue, handler, concurrency=CONCURRENCY).run())
    else:
        body = floor_loop if mode == "floor" else readme_loop
        running = asyncio.gather(*(body() for _ in range(CONCURRENCY)))
    await asyncio.wait({running, eof}, return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        running.result()  # it failed: say why
    # Done measuring: whatever is left (blocked calls, leases) goes with the process
    # and the server's data, flushed before the next phase.
    sys.stdout.flush()
    os._exit(0)


async def producer(url: str, mode: str, samples: int, spacing: float) -> None:
    """Send ``samples`` tasks ``spacing`` apart; print when each call began and wrote."""
    import redis.asyncio as aioredis

    from arque import Arque

    _stamp_streams()
    client = aioredis.Redis.from_url(url)
    queue = Arque(client, queue="split", working_limit=None)
    await client.ping()
    sent = []
    due = time.perf_counter()
    for _ in range(samples):
        began = time.time()
        task = {"t": began}
        if mode == "floor":
            await client.lpush(PENDING, json.dumps(task))
        else:
            await queue.enqueue(task, task_timeout=30)
        sent.append({"t": began, "wrote": MARKS["wrote"]})
        due += spacing
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
    print(json.dumps(sent))
    await client.aclose()


# -- the driver ----------------------------------------------------------------------


PARTS = ("producer", "server and wake-up", "consumer")


def split(sent: dict[float, float], line: dict[str, Any]) -> dict[str, float] | None:
    """One pickup's parts, in microseconds; None if its send was not seen."""
    wrote = sent.get(line["t"])
    if wrote is None:
        return None
    arrived, at = line["arrived"], line["at"]
    parts = {"producer": wrote - line["t"], "server and wake-up": arrived - wrote,
             "consumer": at - arrived, "total": at - line["t"]}
    if "decoded" in line:
        parts["reply to caller"] = line["decoded"] - arrived
        parts["caller to handler"] = at - line["decoded"]
    if "accepted" in line:
        parts["caller to accept"] = line["accepted"] - line["decoded"]
        parts["accept to handler"] = at - line["accepted"]
    return {name: value * 1e6 for name, value in parts.items()}


def one_phase(url: str, mode: str, args: argparse.Namespace
              ) -> tuple[list[dict[str, float]], dict[str, float]]:
    import redis

    admin = redis.Redis.from_url(url)
    admin.flushall()
    me = [sys.executable, __file__, "--url", url, "--mode", mode]
    consuming = subprocess.Popen([*me, "--role", "consumer"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
    time.sleep(args.settle)  # started, blocked, and idle
    admin.config_resetstat()
    produced = subprocess.run([*me, "--role", "producer", "--samples", str(args.samples),
                               "--spacing", str(args.spacing)],
                              capture_output=True, text=True, check=True)
    time.sleep(0.5)
    stats = admin.info("commandstats")
    try:
        out, _ = consuming.communicate(timeout=30)  # closes its stdin: it ends
    except subprocess.TimeoutExpired:
        consuming.kill()
        out, _ = consuming.communicate()
    lines = out.splitlines()
    admin.close()
    sent = {entry["t"]: entry["wrote"] for entry in json.loads(produced.stdout)}
    pickups = [p for p in (split(sent, json.loads(line)) for line in lines) if p is not None]
    per_call = {name.removeprefix("cmdstat_"): float(stat["usec_per_call"])
                for name, stat in stats.items()
                if name.removeprefix("cmdstat_") in ("evalsha", "lpush", "blmove", "bzpopmin",
                                                      "lrem")}
    return pickups, per_call


def report(modes: list[str], pickups: dict[str, list[dict[str, float]]],
           per_call: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    print(f"{args.runs} run(s) × {args.samples} pickups per mode, {args.spacing * 1000:.0f} ms "
          "apart; medians in µs over all runs\n")
    names = [*PARTS, "total"]
    print("| mode | pickups | " + " | ".join(names) + " | total p99 |")
    print("|---|---|" + "---|" * (len(names) + 1))
    for mode in modes:
        got = pickups[mode]
        if not got:
            print(f"| {mode} | 0 |" + " – |" * (len(names) + 1))
            continue
        cells = [f"{statistics.median(p[name] for p in got):,.0f}" for name in names]
        totals = sorted(p["total"] for p in got)
        p99 = totals[min(len(totals) - 1, int(len(totals) * 0.99))]
        print(f"| {mode} | {len(got)} | " + " | ".join(cells) + f" | {p99:,.0f} |")
    print("\nThe consumer part, cut again (medians, µs):\n")
    for mode in modes:
        got = pickups[mode]
        cuts = [name for name in ("reply to caller", "caller to accept", "accept to handler",
                                  "caller to handler") if got and name in got[0]]
        if cuts:
            print(f"- {mode}: " + ", ".join(
                f"{name} {statistics.median(p[name] for p in got):,.0f}" for name in cuts))
    print("\nServer time per call (INFO commandstats, µs; the runs' medians):\n")
    for mode in modes:
        commands = sorted({name for stats in per_call[mode] for name in stats})
        print(f"- {mode}: " + ", ".join(
            f"{name} {statistics.median(s[name] for s in per_call[mode] if name in s):.1f}"
            for name in commands))


def drive(args: argparse.Namespace) -> None:
    from arque.testing import RedisServer

    modes = args.modes.split(",")
    pickups: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    per_call: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    with RedisServer() as server:
        for run in range(args.runs):
            for mode in modes:
                got, stats = one_phase(server.url, mode, args)
                pickups[mode] += got
                per_call[mode].append(stats)
                print(f"[run {run + 1}/{args.runs}] {mode}: {len(got)} pickups, median "
                      f"{statistics.median(p['total'] for p in got):,.0f} µs"
                      if got else f"[run {run + 1}] {mode}: none", file=sys.stderr)
    report(modes, pickups, per_call, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=200, help="pickups per mode and run")
    parser.add_argument("--spacing", type=float, default=0.015, help="seconds between tasks")
    parser.add_argument("--modes", default="floor,loop,worker")
    parser.add_argument("--settle", type=float, default=1.5,
                        help="seconds the consumer is given to start and go idle")
    parser.add_argument("--role", choices=["consumer", "producer"], help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "consumer":
        asyncio.run(consumer(args.url, args.mode))
    elif args.role == "producer":
        asyncio.run(producer(args.url, args.mode, args.samples, args.spacing))
    else:
        drive(args)


if __name__ == "__main__":
    main()
