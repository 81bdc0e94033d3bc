"""No polling when idle: blocked consumers wake on enqueue, due time and freed slot.

Bounds are generous (the benchmarks measure latency); each is well under
the 2 s a blocked consumer waits before it looks again by itself, so a
missing wake-up fails the test.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from arque import OVERLOADED, Arque, DeadReason
from arque.scripts import sha1
from arque.testing import RedisServer
from helpers import EMPTY, record, wait_until

WAKE_BOUND = 1.0  # seconds; the block cap is 2 s
BLOCK_CAP = 2.0  # an idle consumer looks again by itself after this long


async def test_wakes_on_enqueue(redis: aioredis.Redis, queue_name: str) -> None:
    consumer, producer = Arque(redis, queue=queue_name), Arque(redis, queue=queue_name)
    waiter = asyncio.create_task(consumer.dequeue(timeout=30))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await producer.enqueue("now")
    assert (await asyncio.wait_for(waiter, 5))[1] == "now"
    assert time.monotonic() - started < WAKE_BOUND


async def test_wakes_when_an_earlier_delayed_task_arrives(
    redis: aioredis.Redis, queue_name: str
) -> None:
    consumer = Arque(redis, queue=queue_name, sweep_interval=60)
    producer = Arque(redis, queue=queue_name)
    await producer.enqueue("late", delay=1.8)
    waiter = asyncio.create_task(consumer.dequeue(timeout=30))
    await asyncio.sleep(0.2)  # blocked until the first task is due
    started = time.monotonic()
    await producer.enqueue("early", delay=0.3)
    assert (await asyncio.wait_for(waiter, 5))[1] == "early"
    assert 0.25 <= time.monotonic() - started < 0.3 + WAKE_BOUND


async def test_wakes_when_a_slot_frees(redis: aioredis.Redis, queue_name: str) -> None:
    consumer = Arque(redis, queue=queue_name, working_limit=1)
    await consumer.enqueue_many(["a", "b"])
    first, _ = await consumer.dequeue()
    waiter = asyncio.create_task(Arque(redis, queue=queue_name, working_limit=1).dequeue(timeout=30))
    await asyncio.sleep(0.3)
    assert not waiter.done()
    started = time.monotonic()
    await consumer.release(first)
    assert (await asyncio.wait_for(waiter, 5))[1] == "b"
    assert time.monotonic() - started < WAKE_BOUND


async def test_burst_wakes_every_idle_consumer(redis: aioredis.Redis, queue_name: str) -> None:
    consumers = [Arque(redis, queue=queue_name) for _ in range(5)]
    waiters = [asyncio.create_task(c.dequeue(timeout=30)) for c in consumers]
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await consumers[0].enqueue_many(range(5))
    got = await asyncio.wait_for(asyncio.gather(*waiters), 5)
    assert sorted(data for _, data in got) == [0, 1, 2, 3, 4]
    assert time.monotonic() - started < WAKE_BOUND


async def test_lost_wakeup_costs_at_most_the_block_cap(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """A consumer that pops the marker and dies before its hand-out loses nothing."""
    consumer = Arque(redis, queue=queue_name)
    waiter = asyncio.create_task(consumer.dequeue(timeout=30))
    await asyncio.sleep(0.3)
    # Enqueue without the wake-up, as if a dead consumer had taken the marker.
    started = time.monotonic()
    await redis.hset(consumer.keys.tasks, "ghost", record('{"t":1000,"e":0}', '"boo"'))
    await redis.lpush(consumer.keys.pending, "ghost")
    task_id, data = await asyncio.wait_for(waiter, 10)
    assert (task_id, data) == ("ghost", "boo")
    # Found when the block times out by itself: within the block cap (and a loaded
    # machine's margin), not after the 30 s the caller was ready to wait.
    assert time.monotonic() - started < BLOCK_CAP + WAKE_BOUND


async def test_consumer_cancelled_while_blocked_loses_nothing(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """A cancel may land after the hand-out: the lease brings that task back."""
    consumer = Arque(redis, queue=queue_name)
    producer = Arque(redis, queue=queue_name, task_timeout=0.5)  # the lease is set at enqueue
    released = 0
    for i in range(20):
        waiter = asyncio.create_task(consumer.dequeue(timeout=30))
        await asyncio.sleep(0.005 * (i % 4))
        await producer.enqueue(i)
        waiter.cancel()
        try:
            task_id, _ = await waiter
        except asyncio.CancelledError:
            continue
        released += await consumer.release(task_id)
    await asyncio.sleep(0.6)
    await consumer.sweep()
    while True:
        task_id, _ = await consumer.dequeue(timeout=0.3)
        if task_id is None:
            break
        released += await consumer.release(task_id)
    assert released == 20, await producer.get_stats()
    assert await producer.get_stats() == EMPTY


@pytest.fixture
def quiet_server() -> Iterator[RedisServer]:
    """A private server, so command counts see only this test."""
    with RedisServer() as server:
        yield server


class RoundTrips:
    """Counts the commands clients send, from MONITOR (commands run by scripts left out)."""

    def __init__(self, url: str) -> None:
        self._client = sync_redis.Redis.from_url(url)
        self._monitor = self._client.monitor()
        self._monitor.__enter__()
        self.commands: list[str] = []
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        for event in self._monitor.listen():
            if event.get("client_type") == "lua":
                continue
            if event["command"] == "ECHO monitor-stop":
                return
            self.lines.append(event["command"])
            self.commands.append(event["command"].split()[0].upper())

    def scripts(self, name: str) -> int:
        """How many calls of script ``name`` were seen."""
        return sum(1 for line in self.lines if line.startswith(f"EVALSHA {sha1(name)} "))

    async def close(self, client: aioredis.Redis) -> None:
        await client.echo("monitor-stop")  # on the measured client: no new connection
        self._thread.join(5)
        self._monitor.__exit__()
        self._client.close()


async def test_one_round_trip_per_transition(quiet_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(quiet_server.url)
    queue = Arque(client, queue="rt")
    await queue.enqueue("warm-up")  # scripts loaded (a lone task's and a batch's), connection open
    await queue.enqueue_many(["warm-up too"])
    assert await queue.release_many([t for t, _ in await queue.dequeue_many(2)]) == [True] * 2
    trips = RoundTrips(quiet_server.url)
    try:
        marks = [len(trips.commands)]
        task_id = await queue.enqueue("x")
        await asyncio.sleep(0.1)
        marks.append(len(trips.commands))
        task_id, _ = await queue.dequeue()
        await asyncio.sleep(0.1)
        marks.append(len(trips.commands))
        assert await queue.release(task_id)
        # A batch of 8: no call reads the clock before it is past 8 tasks (a dequeue's
        # first chunk; more for an enqueue or a release), so however slow the server
        # (MONITOR, other tests), none of the three can run out of its time and go in
        # more calls (tests/test_budget.py).
        await queue.enqueue_many(range(8))
        batch = await queue.dequeue_many(8)
        assert await queue.release_many([t for t, _ in batch]) == [True] * 8
        await asyncio.sleep(0.1)
    finally:
        await trips.close(client)
        await client.aclose()
    # A consumer whose last look found nothing ready waits for the marker first:
    # BZPOPMIN and the dequeue go in one pipeline, one round trip.
    # enqueue; dequeue; release; enqueue_many; dequeue_many; release_many
    assert trips.commands == [
        "EVALSHA", "BZPOPMIN", "EVALSHA", "EVALSHA", "EVALSHA", "BZPOPMIN", "EVALSHA", "EVALSHA",
    ]
    assert marks == [0, 1, 3]



async def _commands_run(client: aioredis.Redis) -> dict[str, int]:
    """How many times each command ran since the last CONFIG RESETSTAT, scripts' own included."""
    stats = await client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}


async def test_an_idle_consumers_wake_up_reads_little(quiet_server: RedisServer) -> None:
    """The dequeue a wake-up runs (one task ready, no delay, priority, group or limit in
    use) does not read the keys of those features: it found them absent at its start."""
    client = aioredis.Redis.from_url(quiet_server.url)
    queue = Arque(client, queue="lean")
    try:
        await queue.enqueue("warm-up")  # scripts loaded, connection open
        task_id, _ = await queue.dequeue()
        assert await queue.release(task_id)
        consumer = asyncio.ensure_future(queue.dequeue())  # nothing ready: it blocks
        await wait_until(lambda: _blocked_clients(client, 1))
        await client.config_resetstat()
        await queue.enqueue("x")
        task_id, data = await asyncio.wait_for(consumer, WAKE_BOUND)
        assert data == "x"
        ran = await _commands_run(client)
    finally:
        await client.aclose()
    # enqueue_one: TIME, HSETNX, LPUSH, ZADD. The dequeue: EXISTS and TYPE twice
    # (ensure_types: pending and tasks), TIME, RPOP, HMGET (the record), HSET (the
    # lease), ZADD (working) and LLEN (what is left ready).
    for unused in ("zrangebyscore", "zrange", "zcard", "get", "set", "del"):
        assert unused not in ran, sorted(ran.items())
    inner = sum(n for name, n in ran.items()
                if name not in ("evalsha", "bzpopmin", "info") and not name.startswith("config"))
    assert inner <= 4 + 9, sorted(ran.items())


# -- one wake-up per event ---------------------------------------------------------


async def _consume_forever(queue: Arque, got: list[tuple[str, float]]) -> None:
    """The README's consumer loop."""
    while True:
        task_id, data = await queue.dequeue()
        got.append((data, time.time()))
        await queue.release(task_id)


async def _blocked_clients(client: aioredis.Redis, expected: int) -> bool:
    return int((await client.info("clients"))["blocked_clients"]) >= expected


@pytest.mark.parametrize("shared", [True, False], ids=["20-coroutines", "20-instances"])
async def test_a_due_task_runs_about_one_dequeue(
    quiet_server: RedisServer, shared: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 idle consumers (coroutines of one Arque, or one Arque each, as processes are):
    each due task runs about one dequeue script, not one per consumer."""
    # A long block cap: a loaded machine stretching the test past 2 s must not add the
    # idle consumers' own periodic looks to the count.
    monkeypatch.setattr("arque.wakeups.BLOCK_CAP", 30.0)
    client = aioredis.Redis.from_url(quiet_server.url, max_connections=100)
    one = Arque(client, queue="due")
    queues = [one if shared else Arque(client, queue="due") for _ in range(20)]
    got: list[tuple[str, float]] = []
    consumers = [asyncio.create_task(_consume_forever(q, got)) for q in queues]
    trips = RoundTrips(quiet_server.url)
    try:
        blocked = 1 if shared else len(queues)  # one Arque blocks one connection in Redis
        await wait_until(lambda: _blocked_clients(client, blocked), timeout=20)
        # On a loaded machine the last consumers may still be making their first look
        # once the first one blocks: count from when no look came for a while.
        before = -1
        while before != trips.scripts("dequeue"):
            before = trips.scripts("dequeue")
            await asyncio.sleep(0.3)
        dues = []
        for i in range(5):  # due 0.2 s apart, all within the 2 s block
            await one.enqueue(f"t{i}", delay=0.2 + 0.2 * i)
            dues.append(time.time() + 0.2 + 0.2 * i)
        await wait_until(lambda: len(got) == 5, timeout=5)
        await asyncio.sleep(0.05)
        ran = trips.scripts("dequeue") - before
    finally:
        for consumer in consumers:
            consumer.cancel()
        await asyncio.gather(*consumers, return_exceptions=True)
        await trips.close(client)
        await client.aclose()
    assert sorted(data for data, _ in got) == [f"t{i}" for i in range(5)]
    # One per due task and one for the first enqueue (a new earliest due time): 6 here.
    # When every idle consumer timed each due time itself, this measured 22.
    assert ran <= 2 * 5, ran
    assert max(at - due for (_, at), due in zip(sorted(got), dues)) < WAKE_BOUND


async def test_the_timer_is_the_instances_not_the_callers(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """The consumer granted the time-keeping leaves; its Arque's timer still wakes another."""
    keeper, other = Arque(redis, queue=queue_name), Arque(redis, queue=queue_name)
    await keeper.enqueue("due", delay=0.8)
    due = time.time() + 0.8
    leaving = asyncio.create_task(keeper.dequeue(timeout=30))
    await wait_until(lambda: redis.exists(keeper.keys.timer))
    await asyncio.sleep(0.1)  # the reply read and the timer armed: the caller is blocked now
    leaving.cancel()
    waiter = asyncio.create_task(other.dequeue(timeout=30))  # not the keeper: blocks 2 s
    _, data = await asyncio.wait_for(waiter, 5)
    assert data == "due"
    assert time.time() - due < 0.5  # not the 2 s block of ``other``


async def test_stop_timers_leaves_the_marker_down(redis: aioredis.Redis, queue_name: str) -> None:
    """A time-keeper that stops consuming raises no marker afterwards, and hands its task on."""
    keeper = Arque(redis, queue=queue_name)
    await keeper.enqueue("due", delay=0.6)
    assert await keeper.dequeue(timeout=0.1) == (None, None)  # granted the time-keeping, armed
    assert await redis.exists(keeper.keys.timer)
    await redis.delete(keeper.keys.marker)
    await keeper.stop_timers()
    await asyncio.sleep(0.9)  # past the due time: the timer would have raised the marker
    assert await redis.zcard(keeper.keys.marker) == 0
    other = Arque(redis, queue=queue_name)
    assert (await other.dequeue(timeout=5))[1] == "due"  # the grant expired: another keeps time


async def test_a_stopped_worker_keeps_no_time(redis: aioredis.Redis, queue_name: str) -> None:
    from arque import Worker

    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("later", delay=3.0)  # due after the worker's stop (its block is 2 s)
    due = time.monotonic() + 3.0

    async def handler(data: Any, ctx: Any) -> None:
        pass

    worker = Worker(queue, handler, concurrency=1, sweep_interval=None, grace_period=0)
    running = asyncio.create_task(worker.run())
    await wait_until(lambda: redis.exists(queue.keys.timer))
    worker.stop()
    await asyncio.wait_for(running, 10)
    assert time.monotonic() < due - 0.3, "the worker took too long to stop for this test"
    await redis.delete(queue.keys.marker)
    await asyncio.sleep(due + 0.3 - time.monotonic())
    assert await redis.zcard(queue.keys.marker) == 0
    assert (await queue.stats()).delayed == 1


async def test_a_killed_time_keeper_costs_at_most_the_block_cap(
    redis: aioredis.Redis, redis_url: str, queue_name: str
) -> None:
    producer = Arque(redis, queue=queue_name)
    keeper = await asyncio.create_subprocess_exec(sys.executable, "-c", _KEEPER, redis_url,
                                                  queue_name)
    try:
        # The keeper blocks first (a slow start must not let it simply take the task once
        # due); the delayed task then wakes it, and it is granted the time-keeping.
        await wait_until(lambda: _keeper_blocked(redis), timeout=30)
        await producer.enqueue("due", delay=1.0)
        due = time.time() + 1.0
        await wait_until(lambda: redis.exists(producer.keys.timer), timeout=20)
        waiter = asyncio.create_task(Arque(redis, queue=queue_name).dequeue(timeout=30))
        await asyncio.sleep(0.1)
    finally:
        keeper.kill()
        await keeper.wait()
    _, data = await asyncio.wait_for(waiter, 10)
    assert data == "due"
    assert time.time() - due < 2.0 + WAKE_BOUND  # the waiter's block cap, then it looks


async def _keeper_blocked(redis: aioredis.Redis) -> bool:
    clients = await redis.client_list()
    return any(c.get("name") == "arque-keeper" and c.get("cmd") == "bzpopmin" for c in clients)


# A consumer in its own process: it takes the time-keeping of the queue, then waits.
_KEEPER = """
import asyncio, sys
import redis.asyncio as aioredis
from arque import Arque

async def main() -> None:
    client = aioredis.Redis.from_url(sys.argv[1], client_name="arque-keeper")
    await Arque(client, queue=sys.argv[2]).dequeue(timeout=60)

asyncio.run(main())
"""


# -- a freed slot wakes a consumer waiting at working_limit ------------------------


async def _free_by_fail(queue: Arque, task_id: str) -> None:
    assert await queue.fail(task_id, "no")


async def _free_by_delayed_requeue(queue: Arque, task_id: str) -> None:
    assert await queue.requeue(task_id, delay=60)


async def _free_by_last_requeue(queue: Arque, task_id: str) -> None:
    assert await Arque(queue.redis, queue=queue.queue, requeue_limit=1).requeue(task_id)


async def _free_by_sweep(queue: Arque, task_id: str) -> None:
    await asyncio.sleep(0.4)  # the lease (0.3 s) expires
    sweeper = Arque(queue.redis, queue=queue.queue, requeue_limit=1)
    assert await sweeper.sweep() == 0  # its one attempt used: dead-lettered, not recovered
    assert await queue.get_failed(task_id) is not None


# A cancel of a working task only marks it (cancel.lua frees no slot): the slot
# frees when its holder's late call, or the sweep after the holder died, makes
# it a dead letter 'cancelled', and that wakes a waiter like any freed slot.


async def _assert_cancelled(queue: Arque, task_id: str) -> None:
    dead = await queue.get_failed(task_id)
    assert dead is not None and dead.reason == DeadReason.CANCELLED


async def _free_by_cancel_then_release(queue: Arque, task_id: str) -> None:
    assert await queue.cancel(task_id)
    assert not await queue.release(task_id)  # refused: dead-lettered 'cancelled'
    await _assert_cancelled(queue, task_id)


async def _free_by_cancel_then_requeue(queue: Arque, task_id: str) -> None:
    assert await queue.cancel(task_id)
    assert not await queue.requeue(task_id)
    await _assert_cancelled(queue, task_id)


async def _free_by_cancel_then_fail(queue: Arque, task_id: str) -> None:
    assert await queue.cancel(task_id)
    assert await queue.fail(task_id, "stopped")  # what the Worker does for a cancelled handler
    await _assert_cancelled(queue, task_id)


async def _free_by_cancel_then_sweep(queue: Arque, task_id: str) -> None:
    assert await queue.cancel(task_id)
    await asyncio.sleep(0.4)  # the holder is gone: its lease (0.3 s) expires
    await queue.sweep()
    await _assert_cancelled(queue, task_id)


@pytest.mark.parametrize(
    "free", [_free_by_fail, _free_by_delayed_requeue, _free_by_last_requeue, _free_by_sweep,
             _free_by_cancel_then_release, _free_by_cancel_then_requeue,
             _free_by_cancel_then_fail, _free_by_cancel_then_sweep],
    ids=["fail", "delayed-requeue", "requeue-to-dead-letters", "sweep-dead-letters",
         "cancel-then-release", "cancel-then-requeue", "cancel-then-fail", "cancel-then-sweep"],
)
async def test_a_freed_slot_wakes_a_waiter_at_the_limit(
    redis: aioredis.Redis, queue_name: str, free: Any
) -> None:
    queue = Arque(redis, queue=queue_name, working_limit=1)
    await queue.enqueue("a", task_id="a", task_timeout=0.3)
    await queue.enqueue("b", task_id="b")
    first, _ = await queue.dequeue()
    assert first == "a"
    waiter = asyncio.create_task(Arque(redis, queue=queue_name, working_limit=1).dequeue(30))
    await asyncio.sleep(0.2)
    assert not waiter.done()  # at the limit, blocked
    await free(queue, first)
    started = time.monotonic()
    _, data = await asyncio.wait_for(waiter, 5)
    assert data == "b"
    assert time.monotonic() - started < WAKE_BOUND  # not the 2 s block cap


async def test_overloaded_comes_once_woken_or_after_the_cap(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """A dequeue() without a timeout whose last look left nothing ready waits for the
    marker first; at working_limit it still answers OVERLOADED, not never."""
    queue = Arque(redis, queue=queue_name, working_limit=1)
    await queue.enqueue_many(["a", "b"])
    first, data = await queue.dequeue()
    assert data == "a"  # the reply left one task ready: the next call blocks first
    await redis.delete(queue.keys.marker)  # no wake-up will come: only the cap ends it
    started = time.monotonic()
    second, _ = await asyncio.wait_for(queue.dequeue(), 5)
    assert second == OVERLOADED
    assert time.monotonic() - started < 2.0 + WAKE_BOUND
    # With a timeout it waits at the limit, and a freed slot wakes it with the task.
    waiter = asyncio.create_task(queue.dequeue(timeout=30))
    await asyncio.sleep(0.2)
    assert await queue.release(first)
    started = time.monotonic()
    _, data = await asyncio.wait_for(waiter, 5)
    assert data == "b" and time.monotonic() - started < WAKE_BOUND
