"""Wake-ups of idle consumers: pickup and delayed lateness, and dequeue scripts per due task.

    .venv/bin/python benchmarks/wakeups.py [--runs 3] [--samples 200] [--modes loop,worker,procs]

Each mode runs its consumers in child processes against a private
``redis-server`` (no persistence):

* ``loop``   one process, one ``Arque``, 100 coroutines running the README's
             consumer loop (``dequeue()`` then ``release``);
* ``worker`` one process, ``Worker(queue, handler, concurrency=100)``;
* ``procs``  20 processes, each one ``Arque`` and one README loop coroutine.

Per run, after the consumers have gone idle:

* ``pickup``: tasks enqueued one at a time, ``--spacing`` apart; the figure is
  handler start minus enqueue time (host clock; one host);
* ``delayed``: tasks with a delay of 0.2..1.0 s; the figure is handler start
  minus the due time;
* ``scripts``: the delayed workload again (``--count`` tasks) under
  ``MONITOR``, counting the dequeue script's calls per due task; the idle
  rate of dequeue calls (consumers looking again after their 2 s block) over
  ``--idle`` seconds with nothing to do; and the calls per due task less
  that idle rate over the phase. (MONITOR slows the server, so it is on only
  in this phase.)

The median of the runs is printed, as a Markdown table, with every run's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from typing import Any

CONCURRENCY = 100
PROCS = 20


# -- the consumer side (a child process) -------------------------------------------


def stdin_closed() -> asyncio.Future[None]:
    """A future done when this process's stdin closes: its driver is done with it."""
    loop = asyncio.get_running_loop()
    eof: asyncio.Future[None] = loop.create_future()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(
        lambda: eof.done() or eof.set_result(None))), daemon=True).start()
    return eof


async def consumer(url: str, mode: str) -> None:
    """Consume until stdin closes; one JSON line per task on stdout."""
    import redis.asyncio as aioredis

    from arque import MARKED_AS_FAILED, NOT_FOUND, OVERLOADED, Arque
    from arque.worker import Worker

    client = aioredis.Redis.from_url(url)
    queue = Arque(client, queue="wake")

    def report(data: dict[str, Any]) -> None:
        now = time.time()
        sys.stdout.write(json.dumps({"k": data["k"], "t": data["t"], "due": data["due"],
                                     "at": now}) + "\n")
        sys.stdout.flush()

    async def readme_loop() -> None:
        while True:
            task_id, data = await queue.dequeue()
            if task_id in (NOT_FOUND, MARKED_AS_FAILED):
                continue
            if task_id == OVERLOADED:
                await asyncio.sleep(1)
                continue
            report(data)
            await queue.release(task_id)

    async def handler(data: dict[str, Any], ctx: Any) -> None:
        report(data)

    eof = stdin_closed()
    if mode == "worker":
        worker = Worker(queue, handler, concurrency=CONCURRENCY, sweep_interval=None)
        runs = [asyncio.ensure_future(worker.run())]
    else:
        worker = None
        runs = [asyncio.ensure_future(readme_loop())
                for _ in range(CONCURRENCY if mode == "loop" else 1)]
    print(json.dumps({"k": "ready"}), flush=True)
    await eof
    if worker is not None:
        worker.stop()
        await asyncio.wait(runs, timeout=10)
    for run in runs:
        run.cancel()
    await client.aclose()


# -- the driver --------------------------------------------------------------------


class Consumers:
    """The child processes of one mode, and the task reports they print."""

    def __init__(self, url: str, mode: str) -> None:
        self.url, self.mode = url, mode
        self.reports: list[dict[str, Any]] = []
        self.ready = 0
        self._procs: list[asyncio.subprocess.Process] = []
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        count = PROCS if self.mode == "procs" else 1
        for _ in range(count):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--role", "consumer", "--mode", self.mode,
                "--url", self.url, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            self._procs.append(proc)
            self._readers.append(asyncio.create_task(self._read(proc)))
        while self.ready < count:
            await asyncio.sleep(0.05)

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            record = json.loads(line)
            if record["k"] == "ready":
                self.ready += 1
            else:
                self.reports.append(record)

    async def wait_for(self, kind: str, count: int, timeout: float) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = [r for r in self.reports if r["k"] == kind]
            if len(got) >= count:
                return got
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{self.mode}: {kind}: only {len(got)} of {count} tasks came back")

    async def stop(self) -> None:
        for proc in self._procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in self._procs:
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        for reader in self._readers:
            reader.cancel()


class DequeueCounter:
    """Counts calls of the dequeue script, from MONITOR in a thread."""

    def __init__(self, url: str) -> None:
        import redis

        from arque.scripts import sha1

        self._prefix = f"EVALSHA {sha1('dequeue')} "
        self._url = url
        self._client = redis.Redis.from_url(url)
        self._monitor = self._client.monitor()
        self._monitor.__enter__()
        self.count = 0
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        for event in self._monitor.listen():
            command = event["command"]
            if command == "ECHO counter-stop":
                return
            if command.startswith(self._prefix):
                self.count += 1

    def close(self) -> None:
        import redis

        with redis.Redis.from_url(self._url) as other:
            other.echo("counter-stop")
        self._thread.join(10)
        self._monitor.__exit__()
        self._client.close()


async def _send(queue: Any, kind: str, count: int, spacing: float, delayed: bool) -> None:
    """Enqueue ``count`` tasks one at a time, ``spacing`` apart."""
    next_at = time.perf_counter()
    for i in range(count):
        now = time.time()
        delay = 0.2 + (i % 9) * 0.1 if delayed else None
        due = now + (delay or 0.0)
        await queue.enqueue({"k": kind, "t": now, "due": due}, task_timeout=30, delay=delay)
        next_at += spacing
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000


async def one_run(url: str, mode: str, args: argparse.Namespace) -> dict[str, float]:
    """One sitting of ``mode``: the consumers start idle, and each phase follows."""
    import redis.asyncio as aioredis

    from arque import Arque

    client = aioredis.Redis.from_url(url)
    await client.flushall()
    queue = Arque(client, queue="wake")
    consumers = Consumers(url, mode)
    await consumers.start()
    try:
        await _send(queue, "warm", 5, 0.05, delayed=False)
        await consumers.wait_for("warm", 5, 20)
        await asyncio.sleep(1.0)  # every consumer idle and blocked
        await _send(queue, "pickup", args.samples, args.spacing, delayed=False)
        picked = await consumers.wait_for("pickup", args.samples, 20)
        await _send(queue, "delayed", args.samples, args.spacing, delayed=True)
        late = await consumers.wait_for("delayed", args.samples, 20)
        await asyncio.sleep(1.0)
        counter = DequeueCounter(url)
        await asyncio.sleep(args.idle)
        idle_calls = counter.count
        started = time.monotonic()
        await _send(queue, "count", args.count, args.spacing, delayed=True)
        await consumers.wait_for("count", args.count, 20)
        await asyncio.sleep(0.05)
        due_calls = counter.count - idle_calls
        counted_for = time.monotonic() - started
        counter.close()
    finally:
        await consumers.stop()
        await client.aclose()
    pickups = [r["at"] - r["t"] for r in picked]
    lateness = [r["at"] - r["due"] for r in late]
    return {
        "pickup_p50": _ms(pickups, 50), "pickup_p99": _ms(pickups, 99),
        "late_p50": _ms(lateness, 50), "late_p99": _ms(lateness, 99),
        "scripts_per_due": due_calls / args.count, "idle_per_s": idle_calls / args.idle,
        # The same, less the looks the idle consumers take by themselves meanwhile.
        "net_per_due": (due_calls - idle_calls / args.idle * counted_for) / args.count,
    }


COLUMNS = [
    ("pickup_p50", "pickup p50 ms", "{:.2f}"), ("pickup_p99", "pickup p99 ms", "{:.2f}"),
    ("late_p50", "lateness p50 ms", "{:.2f}"), ("late_p99", "lateness p99 ms", "{:.2f}"),
    ("scripts_per_due", "dequeue scripts per due task", "{:.2f}"),
    ("net_per_due", "the same, less idle looks", "{:.2f}"),
    ("idle_per_s", "idle dequeue scripts /s", "{:.1f}"),
]
LABELS = {
    "loop": "README loop, 100 coroutines, 1 process",
    "worker": "Worker, concurrency 100, 1 process",
    "procs": "README loop, 20 processes x 1 coroutine",
}


async def drive(args: argparse.Namespace) -> None:
    from arque.testing import RedisServer

    results: dict[str, list[dict[str, float]]] = {}
    with RedisServer() as server:
        for run in range(args.runs):
            for mode in args.modes.split(","):
                figures = await one_run(server.url, mode, args)
                results.setdefault(mode, []).append(figures)
                print(f"run {run + 1} {mode}: " + ", ".join(
                    f"{key} {value:.2f}" for key, value in figures.items()), file=sys.stderr)
    print("| consumers | " + " | ".join(title for _, title, _ in COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for mode, runs in results.items():
        cells = [fmt.format(statistics.median(r[key] for r in runs)) for key, _, fmt in COLUMNS]
        print(f"| {LABELS[mode]} | " + " | ".join(cells) + " |")
    print("\nEvery run:\n")
    for mode, runs in results.items():
        for figures in runs:
            print(f"- {mode}: " + ", ".join(f"{key} {value:.2f}" for key, value in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--role", choices=["driver", "consumer"], default="driver")
    parser.add_argument("--mode", default="loop")
    parser.add_argument("--url", default="")
    parser.add_argument("--modes", default="loop,worker,procs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=200, help="pickup and delayed samples")
    parser.add_argument("--count", type=int, default=100, help="due tasks counted under MONITOR")
    parser.add_argument("--idle", type=float, default=4.0, help="seconds of idle counting")
    parser.add_argument("--spacing", type=float, default=0.02, help="seconds between enqueues")
    args = parser.parse_args()
    if args.role == "consumer":
        asyncio.run(consumer(args.url, args.mode))
    else:
        asyncio.run(drive(args))


if __name__ == "__main__":
    main()
