"""The worker runtime in-process: outcomes, time limits, heartbeat, stop, statistics."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque, InvalidArgument
from arque.worker import Backoff, Fail, Health, Retry, TaskContext, Worker, error_text
from helpers import EMPTY, running, split_record, sweeping_thread, wait_until

Handler = Callable[[Any, TaskContext], Awaitable[Any]]


async def drained(queue: Arque) -> bool:
    return (await queue.get_stats())["tasks"] == 0


# -- options -------------------------------------------------------------------


def test_backoff_grows_to_its_cap_with_full_jitter() -> None:
    plain = Backoff(base=0.5, factor=2.0, max=3.0, jitter=False)
    assert [plain.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert plain.delay(10_000) == 3.0  # no overflow
    jittered = Backoff(base=0.5, factor=2.0, max=3.0)
    rng = random.Random(7)
    for attempt in range(1, 8):
        delays = [jittered.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= plain.cap(attempt) for d in delays)
        assert max(delays) > plain.cap(attempt) / 2  # spread over the whole range
    with pytest.raises(InvalidArgument):
        Backoff(base=-1)
    with pytest.raises(InvalidArgument):
        Backoff(factor=0.5)
    with pytest.raises(TypeError):
        Backoff(bsae=1.0)  # type: ignore[call-arg]


async def test_worker_rejects_bad_options(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)

    async def handler(data: Any, ctx: TaskContext) -> None:
        pass

    for bad in ({"concurrency": 0}, {"task_timeout": -1}, {"grace_period": float("nan")},
                {"batch_size": 1.5}, {"heartbeat_interval": 0}):
        with pytest.raises(InvalidArgument):
            Worker(queue, handler, **bad)
    with pytest.raises(InvalidArgument):
        Worker([], handler)
    with pytest.raises(InvalidArgument):
        Health(port=70000)


def test_error_text_keeps_the_repr_and_the_traceback_tail() -> None:
    def inner() -> None:
        raise ValueError("boom")

    try:
        inner()
    except ValueError as exc:
        text = error_text(exc)
    assert text.startswith("ValueError('boom')")
    assert "inner" in text and len(text) <= 2000


# -- outcomes --------------------------------------------------------------------


async def test_success_releases_in_batches(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    ids = await queue.enqueue_many([{"n": n} for n in range(60)])
    seen: list[tuple[str, int, str]] = []
    releases: list[int] = []
    release_many = queue.release_many

    async def counting(task_ids: Any) -> list[bool]:
        releases.append(len(task_ids))
        return await release_many(task_ids)

    queue.release_many = counting  # type: ignore[method-assign]

    async def handler(data: Any, ctx: TaskContext) -> None:
        seen.append((str(ctx.task_id), ctx.attempt, ctx.queue))
        await asyncio.sleep(0.001)

    async with running(Worker(queue, handler, concurrency=10)) as worker:
        await wait_until(lambda: worker.stats().released == 60)
        stats = worker.stats()
    assert sorted(s[0] for s in seen) == sorted(ids)
    assert {s[1] for s in seen} == {1} and {s[2] for s in seen} == {queue_name}
    assert (stats.processed, stats.failed, stats.in_flight) == (60, 0, 0)
    assert stats.last_fetch_at is not None and stats.redis_ok
    assert sum(releases) == 60 and len(releases) < 30  # acks go in batches
    assert await queue.get_stats() == EMPTY
    assert worker.stats().state == "stopped"


async def test_exception_retries_with_growing_bounded_backoff(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=5)
    await queue.enqueue({"x": 1}, task_id="flaky")
    delays: list[float] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        raise ValueError(f"attempt {ctx.attempt} failed")

    backoff = Backoff(base=0.2, factor=2.0, max=0.5, jitter=False)
    async with running(Worker(queue, handler, backoff=backoff)) as worker:
        deadline = time.monotonic() + 30
        last = None
        while len(delays) < 4:  # each requeue records its time and the due time it set
            assert time.monotonic() < deadline, delays
            raw = await redis.hget(queue.keys.tasks, "flaky")
            meta = json.loads(split_record(raw)[0]) if raw is not None else {}
            if "dt" in meta and meta["dt"] != last:
                delays.append((meta["dt"] - meta["rt"]) / 1000)
                last = meta["dt"]
            await asyncio.sleep(0.005)
        await wait_until(lambda: queue.get_failed("flaky"))
        await wait_until(lambda: worker.stats().dead_lettered == 1)  # counted once the reply is in
        stats = worker.stats()
    caps = [0.2, 0.4, 0.5, 0.5]
    for delay, cap in zip(delays, caps):  # as Redis recorded them: exact to the ms
        assert cap - 0.002 <= delay <= cap + 0.002, (delays, caps)
    assert delays[1] > delays[0]
    dead = await queue.get_failed("flaky")
    assert dead is not None
    assert (dead.reason, dead.attempts) == ("retries_exhausted", 5)
    assert dead.error is not None and "ValueError('attempt 5 failed')" in dead.error
    assert "handler" in dead.error  # the traceback tail
    assert (stats.failed, stats.retried, stats.dead_lettered, stats.processed) == (5, 4, 1, 0)


async def test_retry_delay_is_respected(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("later", task_id="t")
    starts: list[float] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        starts.append(time.monotonic())
        if ctx.attempt == 1:
            raise Retry(delay=0.8)

    slow = Backoff(base=60, jitter=False)  # would be obvious if used instead
    async with running(Worker(queue, handler, backoff=slow)) as worker:
        await wait_until(lambda: worker.stats().released == 1)
    assert len(starts) == 2
    assert 0.75 <= starts[1] - starts[0] < 5.0
    assert await drained(queue)


async def test_fail_dead_letters_at_once(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=10)
    await queue.enqueue({"bad": True}, task_id="poison")

    async def handler(data: Any, ctx: TaskContext) -> None:
        raise Fail("payload makes no sense")

    async with running(Worker(queue, handler)) as worker:
        await wait_until(lambda: queue.get_failed("poison"))
        await wait_until(lambda: worker.stats().dead_lettered == 1)
    dead = await queue.get_failed("poison")
    assert dead is not None
    assert (dead.reason, dead.attempts, dead.data) == ("rejected", 1, {"bad": True})
    assert dead.error == "payload makes no sense"


async def test_timed_out_handler_is_cancelled_and_retried(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=3)
    await queue.enqueue("slow", task_id="t")
    await queue.enqueue("slow", task_id="lease-bound", task_timeout=0.4)
    cancelled: list[tuple[str, int]] = []
    done: list[tuple[str, int]] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        if ctx.attempt == 1:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.append((str(ctx.task_id), ctx.attempt))
                raise
        done.append((str(ctx.task_id), ctx.attempt))

    # "t" has the default lease (120 s): the worker's task_timeout limits it;
    # "lease-bound" would also get 0.6 s, but its own lease (0.4 s) is shorter.
    worker = Worker(queue, handler, task_timeout=0.6, backoff=Backoff(base=0.05))
    async with running(worker):
        await wait_until(lambda: worker.stats().released == 2)
    assert sorted(cancelled) == [("lease-bound", 1), ("t", 1)]
    assert sorted(done) == [("lease-bound", 2), ("t", 2)]
    assert worker.stats().timed_out == 2


async def test_limit_defaults_to_the_lease_and_is_kept_as_the_error(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=1)
    await queue.enqueue("slow", task_id="t", task_timeout=0.5)

    async def handler(data: Any, ctx: TaskContext) -> None:
        await asyncio.sleep(30)

    async with running(Worker(queue, handler)):
        await wait_until(lambda: queue.get_failed("t"))
    dead = await queue.get_failed("t")
    assert dead is not None and dead.error is not None
    assert dead.error.startswith("timed out after 0.")


async def test_extend_moves_the_limit_and_the_lease(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("long", task_id="t", task_timeout=0.5)
    results: list[bool] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        before = ctx.deadline
        results.append(await ctx.extend(3.0))
        assert ctx.deadline > before and ctx.time_left > 2.0
        await asyncio.sleep(1.0)

    worker = Worker(queue, handler, task_timeout=0.5, sweep_interval=0.1)
    async with running(worker):
        await wait_until(lambda: worker.stats().released == 1)
    assert results == [True]
    assert worker.stats().timed_out == 0


async def test_one_worker_consumes_several_queues(redis: aioredis.Redis, queue_name: str) -> None:
    queues = [Arque(redis, queue=f"{queue_name}-{n}") for n in range(2)]
    for q in queues:
        await q.enqueue_many([q.queue] * 5)
    seen: list[tuple[str, Any]] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        seen.append((ctx.queue, data))

    async with running(Worker(queues, handler, concurrency=3)) as worker:
        await wait_until(lambda: worker.stats().released == 10)
    assert all(name == data for name, data in seen) and len(seen) == 10
    for q in queues:
        assert await drained(q)


# -- heartbeat ---------------------------------------------------------------------


async def test_a_handler_blocking_the_loop_keeps_its_task(
    redis_url: str, queue_name: str
) -> None:
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = Arque(client, queue=queue_name)
        await queue.enqueue("cpu", task_id="cpu", task_timeout=1.0)
        attempts: list[int] = []

        async def handler(data: Any, ctx: TaskContext) -> None:
            attempts.append(ctx.attempt)
            time.sleep(3)  # noqa: ASYNC251 - CPU work blocks the loop; the heartbeat thread runs

        with sweeping_thread(redis_url, queue_name):
            worker = Worker(queue, handler, task_timeout=10, sweep_interval=0.1)
            async with running(worker):
                await wait_until(lambda: worker.stats().released == 1)
                await asyncio.sleep(1.5)  # a redelivery would show up by now
        stats = worker.stats()
        assert attempts == [1]
        assert (stats.released, stats.refused, stats.processed) == (1, 0, 1)
        assert await drained(queue) and await queue.get_failed("cpu") is None


async def test_a_hung_handler_past_its_limit_loses_its_lease(
    redis_url: str, queue_name: str
) -> None:
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = Arque(client, queue=queue_name, requeue_limit=5)
        await queue.enqueue("hang", task_id="hang", task_timeout=1.0)
        taken: list[int] = []

        async def handler(data: Any, ctx: TaskContext) -> None:
            time.sleep(5)  # noqa: ASYNC251 - hung past task_timeout: asyncio cannot cancel it

        def other_consumer() -> None:  # takes the task once its lease has expired
            async def take() -> None:
                async with aioredis.Redis.from_url(redis_url) as own:
                    other = Arque(own, queue=queue_name, requeue_limit=5)
                    deadline = time.monotonic() + 15
                    # Only once the worker holds it: never race the worker to the first hand-out.
                    while await own.zscore(queue.keys.working, "hang") is None:
                        assert time.monotonic() < deadline
                        await asyncio.sleep(0.01)
                    while time.monotonic() < deadline:
                        await other.sweep()
                        got = await other.dequeue_many(1, timeout=0.1)
                        if got:
                            taken.append(got[0][0].attempt)
                            await other.release(got[0][0])
                            return
            asyncio.run(take())

        thread = threading.Thread(target=other_consumer)
        thread.start()
        try:
            worker = Worker(queue, handler, task_timeout=1.0, sweep_interval=None)
            async with running(worker):
                await wait_until(lambda: worker.stats().refused == 1, 30)
        finally:
            thread.join()
        assert taken == [2]  # handed out again while the first holder hung
        assert await drained(queue)


# -- stop ------------------------------------------------------------------------


async def test_stop_finishes_short_tasks_and_hands_back_long_ones(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue_many([0.3] * 3 + [60] * 3, [f"short-{n}" for n in range(3)]
                             + [f"long-{n}" for n in range(3)])
    started: list[str] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        started.append(str(ctx.task_id))
        await asyncio.sleep(data)

    worker = Worker(queue, handler, concurrency=6, grace_period=1.0)
    task = asyncio.ensure_future(worker.run())
    await wait_until(lambda: len(started) == 6)
    began = time.monotonic()
    worker.stop()
    await asyncio.wait_for(task, 30)
    assert time.monotonic() - began < 10
    stats = worker.stats()
    assert (stats.released, stats.handed_back, stats.state) == (3, 3, "stopped")
    assert await queue.get_stats() == {"tasks": 3, "pending": 3, "working": 0, "delayed": 0,
                                       "failed": 0}
    for n in range(3):  # handed back unused: the attempt does not count
        task_stats = await queue.get_task_stats(f"long-{n}")
        assert task_stats is not None and task_stats["dequeue_count"] == 0


async def test_stop_before_run_returns_at_once(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)

    async def handler(data: Any, ctx: TaskContext) -> None:
        pass

    worker = Worker(queue, handler)
    worker.stop()
    await asyncio.wait_for(worker.run(), 10)
    with pytest.raises(RuntimeError):
        await worker.run()


@pytest.mark.cluster
async def test_the_heartbeat_renews_leases_on_a_cluster(cluster_client: Any, queue_name: str) -> None:
    queue = Arque(cluster_client, queue=queue_name)
    await queue.enqueue("long", task_id="long", task_timeout=1.0)
    attempts: list[int] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        attempts.append(ctx.attempt)
        await asyncio.sleep(2.5)  # past the lease: only the heartbeat keeps the task

    worker = Worker(queue, handler, task_timeout=10, sweep_interval=0.1)
    async with running(worker):
        await wait_until(lambda: worker.stats().released == 1)
    assert attempts == [1]
    assert worker.stats().refused == 0
    assert await drained(queue)
