"""Scenario driver shared by every adapter in this folder.

Each adapter script runs inside its own peer's virtualenv and only uses the
standard library plus that peer.  It defines an ``Adapter`` subclass and calls
``main(AdapterClass)``.  The driver implements the scenarios once, so every
peer is measured by the same code:

* ``drain``    enqueue N no-op tasks (untimed), start one worker with
               concurrency 100 in this process, time it until the N-th
               handler has finished; then residue (DBSIZE, used_memory delta).
* ``enqueue``  one at a time, 50 concurrent producers, batched (if the peer has
               a batch API); plus Redis memory per queued task (no worker).
* ``pickup``   a worker in a separate process sits idle; tasks are enqueued one
               at a time and the handler reports ``time.time() - payload['t']``.
               Before the first sample, the idle worker's CPU use (% of a core,
               from /proc) over one second.
* ``delayed``  same worker set-up; tasks enqueued with a 0.2..1.0 s delay and the
               handler reports ``time.time() - payload['due']``.
* ``footprint`` Redis memory per pending task: ``used_memory`` before and after
               N tasks from 20 concurrent producers (no worker), for each N in
               ``--footprint-tasks``, small ``{"i", "ts"}`` and 1 KiB-padded payloads.

Results go to stdout as JSON lines: ``{"scenario": ..., "metric": ..., "value": ...}``.
Everything else (logs, warnings) goes to stderr.

The Redis helpers below speak RESP over a plain socket, so no adapter depends
on a particular Redis client for the bookkeeping (FLUSHALL, INFO, DBSIZE).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

CONCURRENCY = 100
PRODUCERS = 50
FOOTPRINT_PRODUCERS = 20
PAD = "x" * 1024
BATCH_SIZE = 500
IDLE_WINDOW = 1.0  # seconds: the idle worker's CPU is measured over this

Handler = Callable[[dict], Awaitable[None]]


# --------------------------------------------------------------------------- RESP


class Resp:
    """A minimal blocking RESP2 client for bookkeeping commands."""

    def __init__(self, url: str) -> None:
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout=30)
        self.buf = self.sock.makefile("rb")

    def close(self) -> None:
        try:
            self.buf.close()
            self.sock.close()
        except OSError:
            pass

    def __call__(self, *args: Any) -> Any:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self) -> Any:
        line = self.buf.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.buf.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"unexpected RESP reply {line!r}")

    def info(self, section: str = "memory") -> dict[str, str]:
        text = self("INFO", section).decode()
        out = {}
        for ln in text.splitlines():
            if ":" in ln and not ln.startswith("#"):
                k, v = ln.split(":", 1)
                out[k] = v
        return out

    def used_memory(self) -> int:
        return int(self.info("memory")["used_memory"])

    def data_memory(self) -> int:
        """``used_memory`` less the normal clients' buffers (``mem_clients_normal``).

        Twenty producers leave each connection's query buffer grown for a
        while (at N = 20,000 with the 1 KiB pad, about 24 B per task): memory
        of the connections, not of the tasks.
        """
        info = self.info("memory")
        return int(info["used_memory"]) - int(info["mem_clients_normal"])

    def dbsize(self) -> int:
        return int(self("DBSIZE"))


def resp_call(url: str, *args: Any) -> Any:
    r = Resp(url)
    try:
        return r(*args)
    finally:
        r.close()


# --------------------------------------------------------------------------- adapter


class Adapter:
    """What a peer adapter implements.  Methods are all async.

    ``run_worker`` must run the peer's own worker/consumer loop with the given
    concurrency, call ``handler(payload)`` at the start of each task, and return
    after ``stop_worker`` is called (or when cancelled).
    """

    name = "?"
    #: distribution names whose versions are reported
    dists: tuple[str, ...] = ()
    #: free text recorded next to the figures (how the peer is used)
    notes = ""
    #: set to False when the peer has no delayed-task feature to measure
    supports_delay = True
    #: why delayed tasks are not measured (shown in the table)
    delay_note = ""

    def __init__(self, url: str, variant: str = "") -> None:
        self.url = url
        u = urlparse(url)
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 6379
        self.variant = variant

    async def setup(self) -> None:  # open clients / declare queues
        pass

    async def close(self) -> None:
        pass

    async def enqueue(self, payload: dict, delay: float | None = None) -> None:
        raise NotImplementedError

    # Set to an async callable (payloads: list[dict]) -> None where the peer has a batch API.
    enqueue_batch: Callable[[list[dict]], Awaitable[None]] | None = None

    async def run_worker(self, handler: Handler, concurrency: int) -> None:
        raise NotImplementedError

    async def stop_worker(self) -> None:
        """Ask the worker to stop gracefully; raising NotImplementedError means
        "cancel the run_worker task" instead."""
        raise NotImplementedError


def emit(scenario: str, metric: str, value: Any, **extra: Any) -> None:
    rec = {"scenario": scenario, "metric": metric, "value": value, **extra}
    sys.stdout.write(json.dumps(rec) + "\n")
    sys.stdout.flush()


def versions(dists: tuple[str, ...]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for d in dists:
        try:
            out[d] = version(d)
        except PackageNotFoundError:
            out[d] = "?"
    out["python"] = sys.version.split()[0]
    return out


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, round(q / 100 * len(s) + 0.5) - 1))
    return s[k]


async def _stop(adapter: Adapter, worker: asyncio.Task, timeout: float = 10.0) -> None:
    try:
        await asyncio.wait_for(adapter.stop_worker(), timeout)
    except NotImplementedError:
        worker.cancel()  # the peer's documented way to stop is cancelling its run task
    except Exception as e:  # noqa: BLE001
        print(f"stop_worker: {e!r}", file=sys.stderr)
    try:
        await asyncio.wait_for(asyncio.shield(worker), timeout)
    except BaseException:  # noqa: BLE001
        worker.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(worker, 2)


# --------------------------------------------------------------------------- scenarios


async def _fill(adapter: Adapter, payloads: list[dict]) -> None:
    """Enqueue quickly, untimed: batch API if any, else 50 concurrent producers."""
    if adapter.enqueue_batch is not None:
        for i in range(0, len(payloads), BATCH_SIZE):
            await adapter.enqueue_batch(payloads[i : i + BATCH_SIZE])
        return
    it = iter(payloads)

    async def producer() -> None:
        for p in it:
            await adapter.enqueue(p)

    await asyncio.gather(*(producer() for _ in range(PRODUCERS)))


async def scenario_drain(cls: type[Adapter], a: argparse.Namespace) -> None:
    n = a.n
    r = Resp(a.redis_url)
    r("FLUSHALL")
    adapter = cls(a.redis_url, a.variant)
    await adapter.setup()
    mem0, keys0 = r.used_memory(), r.dbsize()
    await _fill(adapter, [{"i": i, "t": 0.0} for i in range(n)])
    mem_q = r.used_memory()
    emit("drain", "queued_bytes_per_task", (mem_q - mem0) / n)

    done = asyncio.Event()
    state = {"count": 0, "first": 0.0, "last": 0.0}

    async def handler(payload: dict) -> None:
        now = time.perf_counter()
        if state["count"] == 0:
            state["first"] = now
        state["count"] += 1
        state["last"] = now
        if state["count"] >= n:
            done.set()

    t0 = time.perf_counter()
    worker = asyncio.create_task(adapter.run_worker(handler, CONCURRENCY))
    waiter = asyncio.create_task(done.wait())
    await asyncio.wait({worker, waiter}, timeout=a.deadline, return_when=asyncio.FIRST_COMPLETED)
    if not done.is_set():
        if worker.done() and worker.exception() is not None:
            raise RuntimeError(f"worker died: {worker.exception()!r}")
        raise RuntimeError(f"drain incomplete: {state['count']}/{n} handled")
    # Give the worker a moment to acknowledge the last tasks before stopping it.
    await asyncio.sleep(0.2)
    await _stop(adapter, worker)
    waiter.cancel()
    await adapter.close()
    await asyncio.sleep(0.5)
    elapsed = state["last"] - t0
    emit("drain", "tasks_per_s", n / elapsed, seconds=elapsed)
    span = state["last"] - state["first"]
    emit("drain", "tasks_per_s_first_to_last", n / span if span > 0 else float("nan"))
    emit("drain", "residue_keys", r.dbsize() - keys0)
    emit("drain", "residue_bytes", r.used_memory() - mem0)
    r.close()


async def scenario_enqueue(cls: type[Adapter], a: argparse.Namespace) -> None:
    n = a.n
    r = Resp(a.redis_url)

    async def fresh() -> Adapter:
        r("FLUSHALL")
        ad = cls(a.redis_url, a.variant)
        await ad.setup()
        # one warm-up call (script loading, connection set-up), then flush its task
        await ad.enqueue({"i": -1, "t": 0.0})
        await ad.close()
        r("FLUSHALL")
        ad = cls(a.redis_url, a.variant)
        await ad.setup()
        return ad

    # one at a time
    ad = await fresh()
    mem0 = r.used_memory()
    t0 = time.perf_counter()
    for i in range(n):
        await ad.enqueue({"i": i, "t": 0.0})
    dt = time.perf_counter() - t0
    emit("enqueue", "sequential_per_s", n / dt)
    emit("enqueue", "memory_bytes_per_task", (r.used_memory() - mem0) / n)
    emit("enqueue", "keys_per_task", r.dbsize() / n)
    await ad.close()

    # 50 concurrent producers
    ad = await fresh()
    per = n // PRODUCERS

    async def producer(k: int) -> None:
        for i in range(per):
            await ad.enqueue({"i": k * per + i, "t": 0.0})

    t0 = time.perf_counter()
    await asyncio.gather(*(producer(k) for k in range(PRODUCERS)))
    dt = time.perf_counter() - t0
    emit("enqueue", "concurrent50_per_s", per * PRODUCERS / dt)
    await ad.close()

    # batched
    ad = await fresh()
    if ad.enqueue_batch is not None:
        payloads = [{"i": i, "t": 0.0} for i in range(n)]
        t0 = time.perf_counter()
        for i in range(0, n, BATCH_SIZE):
            await ad.enqueue_batch(payloads[i : i + BATCH_SIZE])
        dt = time.perf_counter() - t0
        emit("enqueue", "batched_per_s", n / dt)
    else:
        emit("enqueue", "batched_per_s", None, note="no batch API")
    await ad.close()
    r.close()


async def _produce_footprint(ad: Adapter, n: int, pad: str | None) -> None:
    """N tasks from FOOTPRINT_PRODUCERS concurrent producers, ``{"i", "ts"}`` (+ ``pad``)."""
    it = iter(range(n))

    async def producer() -> None:
        for i in it:
            task: dict[str, Any] = {"i": i, "ts": time.time()}
            if pad is not None:
                task["pad"] = pad
            await ad.enqueue(task)

    await asyncio.gather(*(producer() for _ in range(FOOTPRINT_PRODUCERS)))


async def scenario_footprint(cls: type[Adapter], a: argparse.Namespace) -> None:
    """Bytes of Redis memory per pending task, by N and payload size."""
    r = Resp(a.redis_url)
    for n in (int(x) for x in a.footprint_tasks.split(",")):
        for size, pad in (("small", None), ("1k", PAD)):
            r("FLUSHALL")
            ad = cls(a.redis_url, a.variant)
            await ad.setup()
            await ad.enqueue({"i": -1, "ts": 0.0})  # warm-up: scripts loaded, connections open
            await ad.close()
            r("FLUSHALL")
            ad = cls(a.redis_url, a.variant)
            await ad.setup()
            mem0 = r.data_memory()
            await _produce_footprint(ad, n, pad)
            emit("footprint", f"bytes_{size}_{n}", (r.data_memory() - mem0) / n)
            emit("footprint", f"keys_{size}_{n}", r.dbsize() / n)
            await ad.close()
    r.close()


async def _latency(cls: type[Adapter], a: argparse.Namespace, delayed: bool) -> None:
    scen = "delayed" if delayed else "pickup"
    adapter = cls(a.redis_url, a.variant)
    if delayed and not adapter.supports_delay:
        emit(scen, "p50_ms", None, note=adapter.delay_note or "no delayed tasks")
        return
    resp_call(a.redis_url, "FLUSHALL")
    cmd = [sys.executable, sys.argv[0], "--role", "worker", "--redis-url", a.redis_url]
    if a.variant:
        cmd += ["--variant", a.variant]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None
    )
    samples: dict[str, list[float]] = {"warm": [], "s": []}
    got = {"warm": asyncio.Event(), "all": asyncio.Event()}
    want = a.samples

    async def reader() -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            k = rec.get("k")
            if k == "warm":
                got["warm"].set()
            elif k == "s":
                samples["s"].append(rec["lat"] if not delayed else rec["late"])
                if len(samples["s"]) >= want:
                    got["all"].set()

    rd = asyncio.create_task(reader())
    await adapter.setup()
    try:
        # wait until the worker actually consumes
        t_end = time.time() + 40
        while not got["warm"].is_set():
            if time.time() > t_end or proc.returncode is not None:
                raise RuntimeError("worker never picked up the warm-up task")
            await adapter.enqueue({"k": "warm", "t": time.time(), "due": time.time()})
            try:
                await asyncio.wait_for(got["warm"].wait(), 1.0)
            except asyncio.TimeoutError:
                pass
        await asyncio.sleep(1.0)  # let it go idle (and drain extra warm-ups)
        # What the idle worker costs: its process's CPU time over a second with no tasks.
        cpu_before, idle_from = process_cpu(proc.pid), time.perf_counter()
        await asyncio.sleep(IDLE_WINDOW)
        idle_cpu = (process_cpu(proc.pid) - cpu_before) / (time.perf_counter() - idle_from) * 100
        spacing = a.spacing
        nxt = time.perf_counter()
        last_due = time.time()
        for i in range(want):
            now = time.time()
            if delayed:
                d = 0.2 + (i % 9) * 0.1
                due = now + d
                last_due = max(last_due, due)
                await adapter.enqueue({"k": "s", "t": now, "due": due}, delay=d)
            else:
                await adapter.enqueue({"k": "s", "t": now, "due": now})
            nxt += spacing
            await asyncio.sleep(max(0.0, nxt - time.perf_counter()))
        wait = max(5.0, last_due - time.time() + 5.0)
        try:
            await asyncio.wait_for(got["all"].wait(), wait)
        except asyncio.TimeoutError:
            pass
    finally:
        await adapter.close()
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
        rd.cancel()
    vals = [v * 1000 for v in samples["s"]]
    if not vals:
        raise RuntimeError(f"{scen}: no samples came back")
    emit(scen, "p50_ms", pct(vals, 50))
    emit(scen, "p99_ms", pct(vals, 99))
    emit(scen, "mean_ms", statistics.fmean(vals))
    emit(scen, "received", len(vals), sent=want)
    emit(scen, "idle_cpu_pct", idle_cpu)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def worker_role(cls: type[Adapter], a: argparse.Namespace) -> None:
    """Child process for the latency scenarios: run the worker until stdin closes."""
    adapter = cls(a.redis_url, a.variant)
    out = sys.stdout

    async def handler(payload: dict) -> None:
        now = time.time()
        out.write(
            json.dumps(
                {"k": payload.get("k"), "lat": now - payload["t"], "late": now - payload.get("due", now)}
            )
            + "\n"
        )
        out.flush()

    loop = asyncio.get_running_loop()
    eof = loop.create_future()

    def watch_stdin() -> None:
        try:
            sys.stdin.buffer.read()
        finally:
            loop.call_soon_threadsafe(lambda: eof.done() or eof.set_result(None))

    threading.Thread(target=watch_stdin, daemon=True).start()
    await adapter.setup()
    worker = asyncio.create_task(adapter.run_worker(handler, CONCURRENCY))
    await asyncio.wait({worker, eof}, return_when=asyncio.FIRST_COMPLETED)
    if worker.done() and worker.exception() is not None:
        print(f"worker died: {worker.exception()!r}", file=sys.stderr)
        os._exit(3)
    await _stop(adapter, worker, 5)
    await adapter.close()
    os._exit(0)  # some peers leave non-daemon threads behind


def main(cls: type[Adapter]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--redis-url", required=True)
    p.add_argument("--scenario", choices=["drain", "enqueue", "pickup", "delayed", "footprint", "info"])
    p.add_argument("--role", default="driver", choices=["driver", "worker"])
    p.add_argument("--variant", default="")
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--spacing", type=float, default=0.015)
    p.add_argument("--footprint-tasks", default="20000,100000", help="N values of the footprint scenario")
    p.add_argument("--deadline", type=float, default=100.0, help="drain must finish within this")
    a = p.parse_args()
    if a.role == "worker":
        coro = worker_role(cls, a)
        a.scenario = "worker"
    elif a.scenario == "info":
        emit("info", "versions", versions(cls.dists), notes=cls.notes)
        return
    else:
        emit("info", "versions", versions(cls.dists), notes=cls.notes)
    if a.scenario == "worker":
        pass
    elif a.scenario == "drain":
        coro = scenario_drain(cls, a)
    elif a.scenario == "enqueue":
        coro = scenario_enqueue(cls, a)
    elif a.scenario == "footprint":
        coro = scenario_footprint(cls, a)
    else:
        coro = _latency(cls, a, delayed=a.scenario == "delayed")
    # No asyncio.run(): its clean-up waits for every leftover task, and a peer whose
    # tasks swallow cancellation would hang the run.  Exit hard once done.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coro)
    except BaseException:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # don't hang on a peer's leftover threads or unclosed pools
