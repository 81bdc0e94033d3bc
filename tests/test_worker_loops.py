"""No loop of a worker dies: supervision, episodes, backoff, held outcomes, heartbeat stop.

The pieces that fail here are injected (a queue subclass whose method raises);
everything else runs against a real redis-server.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque
from arque.errors import PermissionDenied, RedisUnavailable, ServerError, ServerUnavailable
from arque.queue import TaskId
from arque.worker import TaskContext, Worker, state, supervise
from arque.worker.heartbeat import Heartbeat
from arque.worker.outage import Episodes, Outage
from arque.worker.state import InFlight, Record
from helpers import wait_until


async def nothing(data: Any, ctx: TaskContext) -> None:
    pass


class SweepFails(Arque):
    """A real queue whose sweeps raise ``errors`` in turn (None: a real sweep)."""

    def __init__(self, *args: Any, errors: list[BaseException | None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.errors = errors
        self.calls = 0

    async def sweep(self) -> int:
        self.calls += 1
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        return await super().sweep()


async def test_a_loop_that_raises_is_restarted(
    redis_url: str, queue_name: str, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervise, "_PAUSE", 0.05)
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = SweepFails(client, queue=queue_name,
                           errors=[RuntimeError("a bug"), KeyError("another")])
        worker = Worker(queue, nothing, sweep_interval=0.1)
        run = asyncio.ensure_future(worker.run())
        try:
            await wait_until(lambda: worker.stats().sweeps >= 2)
            ids = await queue.enqueue_many([{}] * 5)  # and the worker still works
            await wait_until(lambda: worker.stats().released == len(ids))
        finally:
            worker.stop()
            await asyncio.wait_for(run, 30)
    assert worker.stats().restarts == 2
    crashes = [r for r in caplog.records if "failed unexpectedly; restarting" in r.getMessage()]
    assert len(crashes) == 2
    assert all(r.exc_info is not None for r in crashes)  # with its traceback
    assert "sweep of" in crashes[0].getMessage()


async def test_a_loop_that_keeps_raising_stops_the_worker_with_status_1(
    redis_url: str, queue_name: str, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervise, "_PAUSE", 0.01)
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = SweepFails(client, queue=queue_name,
                           errors=[RuntimeError("always")] * 1000)
        worker = Worker(queue, nothing, sweep_interval=0.05, grace_period=1)
        status = await asyncio.wait_for(worker.serve(), 60)
    assert status == 1  # the orchestrator restarts it: never alive and idle
    assert worker.stats().state == "stopped"
    assert queue.calls == supervise.MAX_RESTARTS + 1
    assert any(r.levelno == logging.CRITICAL and "giving up" in r.getMessage()
               for r in caplog.records)


async def test_scheduled_sweeps_ride_out_every_error(
    redis_url: str, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with aioredis.Redis.from_url(redis_url) as client:
        busy = ServerUnavailable("BUSY Redis is busy running a script.", "BUSY")
        queue = SweepFails(client, queue=queue_name, sweep_interval=0.05,
                           errors=[busy, busy, busy, RuntimeError("a bug"), None, None])
        sweeping = asyncio.ensure_future(queue.schedule_sweep())
        try:
            await wait_until(lambda: queue.calls >= 7)
        finally:
            await queue.unschedule_sweep()
            await asyncio.wait_for(sweeping, 10)
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "retrying with backoff" in m and "BUSY" in m]) == 1
    assert len([m for m in messages if "answers again" in m]) == 1
    assert len([r for r in caplog.records if r.exc_info and "sweep failed" in r.getMessage()]) == 1


class ReleaseRefused(Arque):
    """A real queue whose releases always fail with an error reply."""

    async def release_many(self, task_ids: Any) -> list[bool]:
        raise ServerError("ERR injected: the release script is broken", "ERR")


async def test_a_finished_task_whose_release_keeps_failing_is_let_go(
    redis_url: str, queue_name: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(state, "FINISHED_HOLD", 1.0)
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = ReleaseRefused(client, queue=queue_name)
        await queue.enqueue_many([{}] * 2, task_timeout=1.0)
        worker = Worker(queue, nothing, concurrency=2, sweep_interval=0.3)
        run = asyncio.ensure_future(worker.run())
        try:
            await wait_until(lambda: worker.stats().abandoned >= 2)
            # Not held, no longer renewed: the leases lapse, a sweep hands the
            # tasks back, they run again (and are let go again).
            await wait_until(lambda: worker.stats().abandoned >= 4)
            assert worker.stats().recovered >= 2
        finally:
            worker.stop()
            await asyncio.wait_for(run, 30)
        assert worker.stats().processed >= 4
    assert any("giving them up" in r.getMessage() for r in caplog.records)


class SlowRenewals(Arque):
    """A real queue whose renewals take ``seconds`` (a heartbeat stuck in a call)."""

    seconds = 3.0
    started = threading.Event()

    def extend_many_sync(self, task_ids: Any, timeout: float | None = None) -> list[float]:
        self.started.set()
        time.sleep(self.seconds)
        return [0.0 for _ in task_ids]


async def test_stopping_the_heartbeat_does_not_block_the_event_loop(
    redis_url: str, queue_name: str
) -> None:
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = SlowRenewals(client, queue=queue_name)
        in_flight = InFlight()
        now = time.monotonic()
        record = Record(queue_index=0, queue=queue, task_id=TaskId("t", "tok", 1, 0.0),
                        data=None, lease=3.0, limit_at=now + 60, received_at=now)
        in_flight.add(record)
        heartbeat = Heartbeat(in_flight, [queue], lambda: 0.05, "test", Episodes(logging.getLogger()))
        heartbeat.start()
        await asyncio.to_thread(SlowRenewals.started.wait, 10)
        gaps: list[float] = []

        async def tick() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                gaps.append(time.monotonic() - last)
                last = time.monotonic()

        ticker = asyncio.ensure_future(tick())
        try:
            heartbeat.stop()  # returns at once
            assert await heartbeat.stopped(10)  # the beat in progress ends first
        finally:
            ticker.cancel()
        assert len(gaps) > 20 and max(gaps) < 1.0  # the loop turned all along


def test_an_episode_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.episodes")
    episodes = Episodes(logger, "worker w")
    fetch, release = Outage("fetch", logger, episodes=episodes), Outage("release", logger,
                                                                         episodes=episodes)
    busy = ServerUnavailable("BUSY Redis is busy", "BUSY")
    with caplog.at_level(logging.INFO, "test.episodes"):
        for _ in range(5):
            fetch.failed(busy)
            release.failed(RedisUnavailable("Connection closed by server."))
        fetch.ok()
        assert episodes.down  # the release has not succeeded yet
        release.ok()
        assert not episodes.down
        fetch.failed(busy)  # a new episode
        fetch.failed(PermissionDenied("NOPERM this user has no permissions to run the "
                                      "'evalsha' command"))  # an operator must hear this
        fetch.failed(PermissionDenied("NOPERM again"))
        fetch.ok()
    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert len(lines) == 5, lines
    assert lines[0][0] == logging.WARNING and "(BUSY)" in lines[0][1]
    assert "answers again" in lines[1][1] and "BUSY x5" in lines[1][1]
    assert "connection x5" in lines[1][1]
    assert lines[3][0] == logging.ERROR and "lacks 'evalsha'" in lines[3][1]
    assert "answers again" in lines[4][1]
    assert episodes.count == 2


def test_the_backoff_grows_with_jitter() -> None:
    logger = logging.getLogger("test.backoff")
    one, two = Outage("a", logger), Outage("b", logger)
    firsts = [one.failed(RedisUnavailable("down")) for _ in range(10)]
    seconds = [two.failed(RedisUnavailable("down")) for _ in range(10)]
    caps = [min(0.05 * 2**n, 2.0) for n in range(10)]
    for series in (firsts, seconds):
        assert all(cap / 2 <= d <= cap for d, cap in zip(series, caps)), series
    assert firsts != seconds  # two workers do not retry in step
    one.ok()
    assert one.failed(RedisUnavailable("down")) <= 0.05  # a new episode starts low


async def test_a_task_that_cannot_be_started_does_not_cost_a_slot(
    redis_url: str, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = Arque(client, queue=queue_name)
        await queue.enqueue({}, "bad", task_timeout=1.0)
        ids = ["bad", *await queue.enqueue_many([{}] * 4)]
        done: list[str] = []

        async def handler(data: Any, ctx: TaskContext) -> None:
            done.append(str(ctx.task_id))

        worker = Worker(queue, handler, concurrency=1, sweep_interval=0.2)
        accept = worker._accept
        failures: list[str] = []

        def accept_failing_once(index: int, task_id: TaskId, data: Any) -> None:
            if str(task_id) == "bad" and not failures:
                failures.append(str(task_id))
                raise RuntimeError("a bug while starting one task")
            accept(index, task_id, data)

        worker._accept = accept_failing_once  # type: ignore[method-assign]
        run = asyncio.ensure_future(worker.run())
        try:
            # With one slot, a slot lost to the failure would stop the worker for good.
            await wait_until(lambda: sorted(done) == sorted(ids))
        finally:
            worker.stop()
            await asyncio.wait_for(run, 30)
    assert failures == ["bad"]  # it was handed back at once, and ran
    assert any("could not start task bad" in r.getMessage() and r.exc_info
               for r in caplog.records)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # on purpose
async def test_a_dead_heartbeat_thread_stops_the_worker_with_status_1(
    redis_url: str, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with aioredis.Redis.from_url(redis_url) as client:
        worker = Worker(Arque(client, queue=queue_name), nothing, grace_period=1)
        calls: list[int] = []

        def interval() -> float:  # the thread's first look ends it (SystemExit passes through)
            calls.append(1)
            raise SystemExit

        worker._beat_interval = interval  # type: ignore[method-assign]
        status = await asyncio.wait_for(worker.serve(), 60)
    assert calls and status == 1  # leases would lapse unrenewed: a fresh worker is better
    assert any("heartbeat thread died" in r.getMessage() for r in caplog.records)
