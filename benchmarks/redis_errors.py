"""How fast workers resume after Redis answers errors, and what they log.

    .venv/bin/python benchmarks/redis_errors.py [--rounds 5] [--episode 2.0]

Starts a private redis-server (arque.testing) and two ``Worker``s (one event
loop, each with its own client, concurrency 4) on a queue kept busy with
10 ms tasks. Each round makes the server answer an error for ``--episode``
seconds, 3 s apart: BUSY (a stray script, then SCRIPT KILL) or NOPERM (the
workers' ACL user loses ``evalsha``, then gets it back). Per kind it prints: the time from
the server answering again to the next completed task (p50 and max over the
rounds), the log lines per worker per episode, and whether every task
completed (none lost). Prints a Markdown table (for benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import platform
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio as aioredis

import arque
from arque import Arque
from arque.testing import RedisServer
from arque.worker import TaskContext, Worker

USER, PASSWORD = "worker", "secret"


class Lines(logging.Handler):
    """Counts the episode lines of the worker log."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.began = 0
        self.ended = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.began += "retrying with backoff" in message
        self.ended += "Redis answers again" in message


def busy(port: int) -> tuple[Callable[[], object], Callable[[], object]]:
    admin = redis.Redis(port=port)
    admin.config_set("lua-time-limit", 100)

    def run_script() -> None:
        with redis.Redis(port=port) as client, contextlib.suppress(redis.ResponseError):
            client.eval("while true do end", 0)

    thread: list[threading.Thread] = []

    def start() -> None:
        thread.append(threading.Thread(target=run_script))
        thread[-1].start()

    def end() -> None:
        while True:
            try:
                admin.script_kill()
                break
            except redis.ResponseError:  # NOTBUSY: not started yet
                time.sleep(0.01)
        thread.pop().join()

    return start, end


def noperm(port: int) -> tuple[Callable[[], object], Callable[[], object]]:
    admin = redis.Redis(port=port)
    def grant(change: str) -> Callable[[], object]:
        return lambda: admin.acl_setuser(USER, enabled=True, commands=[change])

    return grant("-evalsha"), grant("+evalsha")


async def measure(server: RedisServer, kind: str, rounds: int, episode: float) -> list[str]:
    admin = redis.Redis(port=server.port)
    admin.acl_setuser(USER, enabled=True, passwords=[f"+{PASSWORD}"], keys=["*"],
                      channels=["*"], commands=["+@all"])
    start, end = {"BUSY": busy, "NOPERM": noperm}[kind](server.port)
    done: list[float] = []
    ran: set[str] = set()

    async def handler(data: Any, ctx: TaskContext) -> None:
        await asyncio.sleep(0.01)
        done.append(time.monotonic())
        ran.add(str(ctx.task_id))

    lines = Lines()
    logging.getLogger("arque.worker").addHandler(lines)
    clients = [aioredis.Redis(port=server.port, username=USER, password=PASSWORD)
               for _ in range(2)]
    queues = [Arque(c, queue=kind) for c in clients]
    workers = [Worker(q, handler, concurrency=4, sweep_interval=1.0) for q in queues]
    runs = [asyncio.ensure_future(w.run()) for w in workers]
    resumes: list[float] = []
    enqueued = 0
    try:
        async with aioredis.Redis(port=server.port) as producer:
            queue = Arque(producer, queue=kind)
            for _ in range(rounds):
                await asyncio.sleep(3.0)  # every loop back to normal: episodes stay apart
                await queue.enqueue_many([{}] * 400)  # work left when the episode ends
                enqueued += 400
                await asyncio.to_thread(start)
                await asyncio.sleep(episode)
                await asyncio.to_thread(end)
                answered = time.monotonic()
                while not done or done[-1] <= answered:
                    await asyncio.sleep(0.001)
                resumes.append(min(t for t in done if t > answered) - answered)
            deadline = time.monotonic() + 60
            while len(ran) < enqueued and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            lost = enqueued - len(ran)
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.gather(*runs)
        for client in clients:
            await client.aclose()
        logging.getLogger("arque.worker").removeHandler(lines)
        admin.close()
    per_episode = (lines.began + lines.ended) / (2 * rounds)
    return [kind, str(rounds), f"{statistics.median(resumes) * 1000:.0f}",
            f"{max(resumes) * 1000:.0f}", f"{per_episode:g}", str(lost)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--episode", type=float, default=2.0)
    args = parser.parse_args()
    rows = []
    with RedisServer() as server:
        for kind in ("BUSY", "NOPERM"):
            rows.append(await measure(server, kind, args.rounds, args.episode))
    print(f"arque {arque.__version__}, redis-server {'.'.join(map(str, server.version))}, "
          f"Python {platform.python_version()}, {args.rounds} episodes of {args.episode:g} s, "
          "2 workers x concurrency 4, 10 ms tasks\n")
    print("| reply | episodes | resumed after p50 (ms) | max (ms) | log lines per worker "
          "per episode | tasks lost |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    asyncio.run(main())
