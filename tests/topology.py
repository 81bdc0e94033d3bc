"""Helpers shared by the TLS, ACL, durability and Sentinel tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from arque import Arque
from arque.worker import TaskContext, Worker

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m arque ARGS`` as a process, without $REDIS_URL."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return subprocess.run(
        [sys.executable, "-m", "arque", *args], cwd=ROOT, env=env, text=True, input=stdin,
        capture_output=True, timeout=60, check=False,
    )


def ok(*args: str, stdin: str = "") -> str:
    done = cli(*args, stdin=stdin)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


async def run_worker_until_done(
    queue: Arque, count: int, sleep: float = 0.0, producer: Arque | None = None
) -> list[float]:
    """Enqueue ``count`` tasks that sleep ``sleep`` s, run a Worker until all are released.

    Returns, per handler run, how far the heartbeat moved its lease deadline
    meanwhile (seconds): about ``sleep`` when it renews, 0 when it cannot
    reach Redis. ``producer`` (default: ``queue``) enqueues them.
    """
    renewed: list[float] = []
    done = asyncio.Event()

    async def handler(data: Any, ctx: TaskContext) -> None:
        first = ctx.deadline
        await asyncio.sleep(data["sleep"])
        renewed.append(ctx.deadline - first)
        if len(renewed) >= count:
            done.set()

    await (producer or queue).enqueue_many([{"sleep": sleep}] * count, task_timeout=5.0)
    worker = Worker(queue, handler, concurrency=count, heartbeat_interval=0.2)
    serving = asyncio.ensure_future(worker.serve())
    try:
        await asyncio.wait_for(done.wait(), 60)
        while (await queue.stats()).tasks:  # the last releases are on their way
            await asyncio.sleep(0.05)
    finally:
        worker.stop()
        assert await asyncio.wait_for(serving, 30) == 0
    return renewed
