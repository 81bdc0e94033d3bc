"""Schedules: upserts that never duplicate, each run enqueued exactly once, catch-up once."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from arque import Arque, InvalidArgument, MissingDependency, Worker
from arque.schedules import next_run, task_id_of
from arque.worker import TaskContext
from helpers import running, wait_until

ROOT = Path(__file__).resolve().parents[1]
SCHEDULE_WORKER = ROOT / "tests" / "schedule_worker.py"


def run_ms(task_id: str) -> int:
    return int(task_id.rsplit(":", 1)[1])


async def test_upsert_list_and_unschedule(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    before = datetime.now(timezone.utc)
    made = await queue.schedule("report", {"kind": "daily"}, every=60, task_timeout=30)
    assert (made.name, made.every, made.cron, made.version) == ("report", 60.0, None, 1)
    assert made.task_timeout == 30 and made.data == {"kind": "daily"}
    assert before < made.next_run <= before.replace(microsecond=0).astimezone(timezone.utc) \
        .__add__(__import__("datetime").timedelta(seconds=61))
    assert made.next_run.timestamp() * 1000 % 60_000 == 0  # runs fall on whole minutes
    # The same definition again (an app declaring it at each start): nothing changes.
    again = await queue.schedule("report", {"kind": "daily"}, every=60, task_timeout=30)
    assert (again.version, again.next_run) == (1, made.next_run)
    changed = await queue.schedule("report", {"kind": "weekly"}, every=60, task_timeout=30)
    assert changed.version == 2
    listed = await queue.schedules()
    assert [(s.name, s.data, s.version) for s in listed] == [("report", {"kind": "weekly"}, 2)]
    assert await queue.unschedule("report")
    assert not await queue.unschedule("report")
    assert await queue.schedules() == []
    assert await redis.exists(queue.keys.schedules, queue.keys.schedules_due,
                              queue.keys.schedule_payloads) == 0


async def test_concurrent_upserts_leave_one_schedule(redis: aioredis.Redis, queue_name: str) -> None:
    queues = [Arque(redis, queue=queue_name) for _ in range(20)]
    await asyncio.gather(*(q.schedule("one", {"i": i}, every=i + 1) for i, q in enumerate(queues)))
    listed = await queues[0].schedules()
    assert len(listed) == 1 and listed[0].name == "one"
    assert await redis.hlen(queues[0].keys.schedules) == 1
    assert await redis.zcard(queues[0].keys.schedules_due) == 1
    assert await redis.hlen(queues[0].keys.schedule_payloads) == 1
    assert listed[0].version == 20  # each distinct definition replaced the one before
    # What is stored is one whole definition: data and interval of the same upsert.
    assert listed[0].every == listed[0].data["i"] + 1


async def test_each_run_fires_once_however_many_firers(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    # Every 0.4 s: runs that all firers reach late (a stalled process) are collapsed into
    # one by design, and a loaded machine can stall this one for 0.1 s.
    await queue.schedule("fast", "tick", every=0.4)
    firers = [Arque(redis, queue=queue_name) for _ in range(5)]
    seen: list[str] = []
    stop = time.monotonic() + 4.0

    async def fire(q: Arque) -> None:
        while time.monotonic() < stop:
            await q.fire_schedules()
            await asyncio.sleep(0.01)

    async def consume() -> None:  # release at once: a second enqueue of a run would show
        while time.monotonic() < stop + 0.5:
            task_id, _ = await queue.dequeue(timeout=0.2)
            if task_id is not None:
                seen.append(str(task_id))
                assert await queue.release(task_id)

    await asyncio.gather(*(fire(q) for q in firers), consume())
    assert len(seen) == len(set(seen)) >= 8
    runs = sorted(run_ms(t) for t in seen)
    assert all(b - a == 400 for a, b in itertools.pairwise(runs)), "a run was skipped"
    assert all(t == task_id_of("fast", run_ms(t)) for t in seen)


async def test_missed_runs_catch_up_once(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    # Runs every 0.4 s, so the calls below fit well inside one period on a loaded machine.
    await queue.schedule("often", "x", every=0.4)
    await asyncio.sleep(2.0)  # about five runs missed: no worker ran
    fired, wait = await queue.fire_schedules()
    assert fired == 1
    assert wait is not None and wait <= 0.4
    assert (await queue.stats()).pending == 1
    (schedule,) = await queue.schedules()
    assert schedule.next_run > datetime.now(timezone.utc).replace(microsecond=0)
    fired, _ = await queue.fire_schedules()
    assert fired == 0  # the next run is not due yet


async def test_scheduled_runs_keep_their_priority_and_group(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    made = await queue.schedule("urgent", "u", every=0.05, priority=7)
    assert (made.priority, made.group) == (7, None)
    made = await queue.schedule("tenant", "t", every=0.05, priority=-3, group="acme")
    assert (made.priority, made.group) == (-3, "acme")
    await queue.enqueue("plain", task_id="plain")
    await asyncio.sleep(0.1)
    fired, _ = await queue.fire_schedules()
    assert fired == 2
    taken = [await queue.dequeue() for _ in range(3)]
    order = [data for _, data in taken]
    # Without a group, the priority-7 run passes the plain task enqueued before it.
    assert sorted(order) == ["plain", "t", "u"] and order.index("u") < order.index("plain")
    expected = {"u": (7, None), "plain": (0, None), "t": (-3, "acme")}
    for task_id, data in taken:
        stats = await queue.get_task_stats(str(task_id))
        assert stats is not None
        assert (stats["priority"], stats["group"]) == expected[data]


async def test_removed_or_replaced_schedule_does_not_fire_its_old_run(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.schedule("s", "old", every=0.05)
    await asyncio.sleep(0.1)
    # A firer read the due run, then the schedule was replaced before it fired.
    reply = await queue._scripts.call("schedule_due", [10])
    read = json.loads(reply[3])
    await queue.schedule("s", "new", every=0.05)
    status, _ = await queue._scripts.call(
        "schedule_fire", ["s", read["v"], read["n"], read["n"] + 50, task_id_of("s", read["n"])])
    assert status == 0
    assert (await queue.stats()).pending == 0
    await queue.unschedule("s")
    await asyncio.sleep(0.1)
    assert await queue.fire_schedules() == (0, None)


async def test_worker_fires_and_runs_schedules(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.schedule("beat", {"n": 1}, every=0.25)
    ran: list[str] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        ran.append(str(ctx.task_id))

    async with running(Worker(queue, handler, sweep_interval=None)):
        await wait_until(lambda: len(ran) >= 4, 10)
    assert len(ran) == len(set(ran))
    assert all(t.startswith("schedule:beat:") for t in ran)


def test_cron_runs_in_its_time_zone() -> None:
    paris = {"cron": "0 9 * * *", "tz": "Europe/Paris", "every": None}
    winter = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)
    summer = datetime(2026, 7, 10, 12, 0, tzinfo=timezone.utc)
    for after, utc_hour in ((winter, 8), (summer, 7)):
        run = datetime.fromtimestamp(next_run(paris, int(after.timestamp() * 1000)) / 1000,
                                     timezone.utc)
        assert (run.day, run.hour, run.minute) == (after.day + 1, utc_hour, 0)
        assert run.astimezone(ZoneInfo("Europe/Paris")).hour == 9
    # Strictly after: a run at the very instant given is not returned again.
    five = {"cron": "*/5 * * * *", "tz": "UTC", "every": None}
    at = int(datetime(2026, 1, 1, 0, 5, tzinfo=timezone.utc).timestamp() * 1000)
    assert next_run(five, at) == at + 300_000
    assert next_run({"every": 1000}, 5_500) == 6_000


async def test_cron_schedule_is_stored(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    made = await queue.schedule("nightly", "x", cron="30 2 * * *", timezone="America/New_York")
    assert (made.cron, made.timezone, made.every) == ("30 2 * * *", "America/New_York", None)
    local = made.next_run.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (2, 30) or local.hour == 3  # 3:30 on a spring-forward day


@pytest.mark.parametrize("kwargs", [
    {}, {"cron": "* * * * *", "every": 5}, {"cron": "not a cron"}, {"cron": "61 * * * *"},
    {"every": 0}, {"every": -1}, {"every": True}, {"every": 5, "timezone": "Mars/Olympus"},
    {"every": 5, "priority": 1001}, {"every": 5, "priority": True}, {"every": 5, "group": ""},
    {"every": 5, "group": "a\0b"}, {"every": 5, "task_timeout": 0},
])
async def test_bad_schedules_are_refused_and_nothing_written(
    redis: aioredis.Redis, queue_name: str, kwargs: dict[str, Any]
) -> None:
    queue = Arque(redis, queue=queue_name)
    with pytest.raises(InvalidArgument):
        await queue.schedule("bad", "x", **kwargs)
    with pytest.raises(InvalidArgument):
        await queue.schedule("", "x", every=1)
    with pytest.raises(InvalidArgument):  # its runs' ids would be over the task id limit
        await queue.schedule("n" * 1010, "x", every=1)
    assert await redis.keys(f"arque:{{{queue_name}}}:*") == []


async def test_cron_without_the_extra_says_what_to_install(
    redis: aioredis.Redis, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cronsim", None)  # as if it were not installed
    queue = Arque(redis, queue=queue_name)
    with pytest.raises(MissingDependency, match=r"arque\[cron\]"):
        await queue.schedule("c", "x", cron="* * * * *")
    await queue.schedule("e", "x", every=1)  # every= needs no extra


@pytest.mark.slow
async def test_three_workers_one_killed_fire_each_run_once(
    redis_url: str, queue_name: str
) -> None:
    """3 worker processes fire an every=2 schedule for 10 s; one is SIGKILLed and restarted.

    Every 2 s, not 1: a firer that reads a run as due and is then stalled past the next
    one fires once and skips to the run after (a missed run fires once), which a loaded
    machine can cause at 1 s.
    """
    ran_key = f"ran-{uuid.uuid4().hex}"
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = Arque(client, queue=queue_name)
        await queue.schedule("tick", {"n": 1}, every=2, task_timeout=2)
        workers = [_start_worker(redis_url, queue_name, ran_key) for _ in range(3)]
        try:
            started = time.monotonic()
            await _until_half_second(client)  # runs fall on whole seconds: none is running now
            await asyncio.sleep(3)
            os.kill(workers[0].pid, signal.SIGKILL)
            workers[0].wait(10)
            assert workers[0].stdout is not None
            workers[0].stdout.close()
            await asyncio.sleep(2)
            workers[0] = _start_worker(redis_url, queue_name, ran_key)
            await asyncio.sleep(max(0.0, 10 - (time.monotonic() - started)))
            await _until_half_second(client)
        finally:
            for proc in workers:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in workers:
                proc.wait(30)
                if proc.stdout is not None:
                    proc.stdout.close()
        counts = {k.decode(): int(v) for k, v in (await client.hgetall(ran_key)).items()}
        await client.delete(ran_key)
        stats = await queue.stats()
    runs = sorted(run_ms(t) for t in counts)
    assert len(runs) >= 4, counts
    assert all(count == 1 for count in counts.values()), f"a run ran twice: {counts}"
    assert all(b - a == 2000 for a, b in itertools.pairwise(runs)), f"a run was missed: {runs}"
    assert (stats.pending, stats.working, stats.delayed, stats.failed) == (0, 0, 0, 0)


def _start_worker(url: str, queue_name: str, ran_key: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(SCHEDULE_WORKER), url, queue_name, ran_key],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


async def _until_half_second(client: aioredis.Redis) -> None:
    """Sleep until the Redis clock is half way between two whole seconds."""
    _, micros = await client.time()
    await asyncio.sleep(((500_000 - micros) % 1_000_000) / 1e6)


def test_cli_schedules_add_list_remove(redis_url: str, queue_name: str) -> None:
    from test_cli import cli, ok, on, one_line_error

    added = json.loads(ok(*on(redis_url, queue_name, "schedules", "add", "cleanup",
                                '{"days": 30}', "--every", "3600", "--json")))
    assert (added["name"], added["every"], added["version"]) == ("cleanup", 3600.0, 1)
    assert "report: cron '0 9 * * 1-5' (Europe/Paris), next run" in ok(
        *on(redis_url, queue_name, "schedules", "add", "report", "{}", "--cron", "0 9 * * 1-5",
            "--timezone", "Europe/Paris"))
    listed = json.loads(ok(*on(redis_url, queue_name, "schedules", "list", "--json")))
    assert [s["name"] for s in listed["schedules"]] == ["cleanup", "report"]
    assert listed["schedules"][0]["data"] == {"days": 30}
    text = ok(*on(redis_url, queue_name, "schedules", "list"))
    assert "cleanup  next " in text and "every 3600 s" in text
    assert "removed schedule 'cleanup'" in ok(*on(redis_url, queue_name, "schedules", "remove",
                                                   "cleanup"))
    one_line_error(cli(*on(redis_url, queue_name, "schedules", "remove", "cleanup")), 1)
    assert cli(*on(redis_url, queue_name, "schedules", "add", "x", "{}")).returncode == 2
    one_line_error(cli(*on(redis_url, queue_name, "schedules", "add", "x", "{}", "--cron",
                           "nonsense")), 2)


@pytest.mark.cluster
async def test_schedules_on_a_cluster(cluster_client: Any) -> None:
    queue = Arque(cluster_client, queue=f"cluster-{uuid.uuid4().hex}")
    await queue.schedule("c", {"n": 1}, every=0.1)
    await asyncio.sleep(0.25)
    fired, _ = await queue.fire_schedules()
    assert fired == 1
    task_id, data = await queue.dequeue()
    assert str(task_id).startswith("schedule:c:") and data == {"n": 1}
    assert [s.name for s in await queue.schedules()] == ["c"]
    assert await queue.unschedule("c")


def test_cli_worker_can_leave_schedules_to_others() -> None:
    from test_cli import ok

    assert "--schedules / --no-schedules" in ok("worker", "--help")
