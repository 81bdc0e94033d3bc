"""Consumer processes SIGKILLed at random moments: nothing is lost, nothing left behind.

Three consumer processes (``crash_consumer.py``) drain a queue while the test
kills one of them at random moments and starts a replacement; the test
process sweeps, so the leases of killed consumers (task_timeout 1 s) come
back. At the end every task was done at least once, none is in dead letters,
the queue is empty and keeps no key. Tasks done twice (a kill between "done"
and the release) are legal at-least-once redelivery: they are counted.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from arque import Arque
from helpers import EMPTY, queue_keys_left, seeded, sweeping

CONSUMER = Path(__file__).with_name("crash_consumer.py")
RESULTS = Path(__file__).with_name(".results") / "crash_consumers.json"
TASKS = 1200
CONSUMERS = 3
MIN_KILLS = 10
MAX_KILLS = 40
REQUEUE_LIMIT = 10  # as in crash_consumer.py: high enough that no task runs out of attempts
TASK_TIMEOUT = 1.0
DRAIN_BOUND = 50.0


class Consumers:
    """The consumer processes, each with its own log file."""

    def __init__(self, url: str, queue: str, log_dir: Path, rng: random.Random) -> None:
        self.url, self.queue, self.log_dir, self.rng = url, queue, log_dir, rng
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def spawn(self) -> subprocess.Popen[bytes]:
        number = self.started
        self.started += 1
        log = self.log_dir / f"consumer-{number}"
        args = [sys.executable, str(CONSUMER), self.url, self.queue, f"{log}.log",
                str(self.rng.randrange(1 << 30))]
        if number % 2:
            args.append("--bytes")  # both client modes take part
        with open(f"{log}.err", "wb") as err:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        self.procs.append(proc)
        return proc

    def kill_one(self) -> None:
        victim = self.rng.choice([p for p in self.procs if p.poll() is None])
        victim.kill()
        victim.wait()
        self.procs.remove(victim)

    def stop_all(self) -> list[str]:
        """SIGTERM every consumer; returns the unexpected exits and tracebacks."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        errors = []
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.returncode != 0:
                errors.append(f"consumer {proc.args[4]} exited with {proc.returncode}")
        self.procs.clear()
        for path in sorted(self.log_dir.glob("consumer-*.err")):
            text = path.read_text(errors="replace")
            if "Traceback" in text:
                errors.append(f"{path.name}: {text}")
        return errors


def _read_logs(log_dir: Path) -> tuple[dict[str, list[int]], dict[str, list[int]], Counter[str], int]:
    """Per task id: attempts done, attempts whose release was applied; refused releases; starts."""
    done: dict[str, list[int]] = defaultdict(list)
    released: dict[str, list[int]] = defaultdict(list)
    refused: Counter[str] = Counter()
    starts = 0
    for path in sorted(log_dir.glob("consumer-*.log")):
        for line in path.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["started"] and len(parts) == 3:
                starts += 1
            elif parts[:1] == ["done"] and len(parts) == 4:
                task_id, attempt, index = parts[1], int(parts[2]), int(parts[3])
                assert task_id == f"task-{index}", line  # the payload is the task's own
                done[task_id].append(attempt)
            elif parts[:1] == ["released"] and len(parts) == 4:
                if parts[3] == "1":
                    released[parts[1]].append(int(parts[2]))
                else:
                    refused[parts[1]] += 1
    return done, released, refused, starts


@pytest.mark.slow
async def test_sigkilled_consumers_lose_nothing(
    redis_url: str, redis_version: tuple[int, int, int], queue_name: str, tmp_path: Path
) -> None:
    began = time.monotonic()
    rng, seed = seeded("crash consumers")
    client = aioredis.Redis.from_url(redis_url)
    queue = Arque(client, queue=queue_name, requeue_limit=REQUEUE_LIMIT, task_timeout=TASK_TIMEOUT)
    consumers = Consumers(redis_url, queue_name, tmp_path, rng)
    kills = 0
    errors: list[str] = []
    try:
        ids = [f"task-{i}" for i in range(TASKS)]
        for start in range(0, TASKS, 200):
            await queue.enqueue_many([{"index": i} for i in range(start, start + 200)],
                                     ids[start : start + 200])
        assert (await queue.get_stats())["pending"] == TASKS

        try:
            async with sweeping(queue, every=0.2):
                for _ in range(CONSUMERS):
                    consumers.spawn()
                # Kill at random moments while work remains, then let the rest drain.
                while kills < MAX_KILLS and (await queue.get_stats())["tasks"] > 0:
                    await asyncio.sleep(rng.uniform(0.15, 0.5))
                    consumers.kill_one()
                    kills += 1
                    consumers.spawn()
                deadline = time.monotonic() + DRAIN_BOUND
                while (await queue.get_stats())["tasks"] > 0:
                    assert time.monotonic() < deadline, await queue.get_stats()
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # idle consumers look once more, then stop
        finally:
            errors = consumers.stop_all()

        stats = await queue.get_stats()
        dead = await queue.list_failed(limit=TASKS)
        leftover = await queue_keys_left(client, queue)
    finally:
        for proc in consumers.procs:  # only left when the test failed early
            proc.kill()
            proc.wait()
        await client.aclose()
    runtime = time.monotonic() - began

    done, released, refused, starts = _read_logs(tmp_path)
    dead_ids = {d.task_id for d in dead if d.reason in ("lease_expired", "poison_pill")}
    lost = sorted(set(ids) - set(done) - dead_ids)
    duplicates = sorted(t for t, attempts in done.items() if len(attempts) > 1)
    figures = {
        "redis": ".".join(map(str, redis_version)), "seed": seed, "tasks": TASKS,
        "consumers_started": consumers.started, "kills": kills, "lost": len(lost),
        "duplicates": len(duplicates), "dead_letters": len(dead), "hand_outs": starts,
        "refused_releases": sum(refused.values()), "runtime_s": round(runtime, 2),
    }
    print(f"\ncrash consumers: {json.dumps(figures)}")
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(json.dumps(figures) + "\n")

    assert errors == []
    assert kills >= MIN_KILLS, "the queue drained before enough kills: make the work longer"
    assert lost == []
    assert dead == [], [(d.task_id, d.reason, d.attempts) for d in dead]
    assert set(done) == set(ids)
    # Fencing: one applied release per task, and never by an earlier hand-out than the last.
    assert all(len(r) == 1 for r in released.values()), {t: r for t, r in released.items() if len(r) > 1}
    for task_id, (attempt,) in released.items():
        assert attempt == max(done[task_id]), (task_id, attempt, done[task_id])
    assert all(max(a) <= REQUEUE_LIMIT for a in done.values())
    assert stats == EMPTY
    # Only the owner's settings (requeue_limit) stay: configuration, not task data.
    assert leftover == [queue.keys.config]
