"""The seed API and the SPEC §2 guarantees, against a real Redis."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis.asyncio as aioredis

import arque
from arque import (
    MARKED_AS_FAILED,
    OVERLOADED,
    Arque,
    DeadReason,
    InvalidArgument,
    PayloadTooLarge,
    SerializationError,
    TaskId,
    WrongKeyType,
)
from arque.scripts import sha1, source
from helpers import (
    EMPTY,
    drain_in_order,
    needs_private_server,
    queue_keys_left,
    script_calls,
    set_payload,
    split_record,
)


@pytest.fixture
def queue(redis: aioredis.Redis, queue_name: str) -> Arque:
    return Arque(redis, queue=queue_name)


async def test_lifecycle_leaves_no_key(redis: aioredis.Redis, queue: Arque) -> None:
    task_id = await queue.enqueue({"n": 1}, task_id="a", task_timeout=10)
    assert task_id == "a"
    assert await queue.get_stats() == {
        "tasks": 1, "pending": 1, "working": 0, "delayed": 0, "failed": 0,
    }
    got, data = await queue.dequeue()
    assert (got, data) == ("a", {"n": 1})
    assert isinstance(got, TaskId) and got.token and got.attempt == 1
    assert (await queue.get_stats())["working"] == 1
    assert await queue.release(got) is True
    assert await queue.get_stats() == EMPTY
    assert await queue_keys_left(redis, queue) == []
    assert await queue.get_task_stats("a") is None


async def test_sentinels_are_the_seed_strings() -> None:
    assert arque.NOT_FOUND == "__not_found__"
    assert arque.OVERLOADED == "__overloaded__"
    assert arque.MARKED_AS_FAILED == "__marked_as_failed___"


# Redis ends a blocking command on its cron, 10 Hz by default: up to one tick late.
SERVER_TICK = 0.1
# An idle consumer looks again by itself after this long (queue._BLOCK_CAP).
BLOCK_CAP = 2.0
# What a loaded 2-core machine may add to a wait: bounds stay between the behaviour
# under test and the one that would betray a bug (e.g. waiting out the block cap).
LOAD_MARGIN = 1.0


async def test_dequeue_times_out_with_none(queue: Arque) -> None:
    timeout = 0.2
    started = time.monotonic()
    assert await queue.dequeue(timeout=timeout) == (None, None)
    elapsed = time.monotonic() - started
    assert elapsed >= timeout  # never early
    # Late by at most a server tick, plus load; a timeout ignored would wait the block cap.
    assert elapsed < timeout + SERVER_TICK + LOAD_MARGIN < BLOCK_CAP


async def test_fifo_order(queue: Arque) -> None:
    for i in range(5):
        await queue.enqueue(i)
    got = [(await queue.dequeue())[1] for _ in range(5)]
    assert got == [0, 1, 2, 3, 4]


async def test_overloaded_at_once_without_timeout(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, working_limit=2)
    for i in range(3):
        await queue.enqueue(i)
    first, _ = await queue.dequeue()
    await queue.dequeue()
    started = time.monotonic()
    assert await queue.dequeue() == (OVERLOADED, None)
    # At once: one round trip. Waiting for a slot would take a whole block cap at least.
    assert time.monotonic() - started < BLOCK_CAP
    # With a timeout it waits for a slot, and a release frees one.
    waiter = asyncio.create_task(queue.dequeue(timeout=10))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    await queue.release(first)
    _, data = await asyncio.wait_for(waiter, 5)
    assert data == 2


async def test_working_limit_is_global(redis: aioredis.Redis, queue_name: str) -> None:
    consumers = [Arque(redis, queue=queue_name, working_limit=3) for _ in range(4)]
    await consumers[0].enqueue_many(range(10))
    taken = [await c.dequeue() for c in consumers]
    assert sum(1 for t, _ in taken if t == OVERLOADED) == 1
    assert (await consumers[0].get_stats())["working"] == 3


async def test_stale_release_is_refused(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, task_timeout=0.2)
    await queue.enqueue("x", task_id="t")
    first, _ = await queue.dequeue()
    await asyncio.sleep(0.3)
    assert await queue.sweep() == 1
    second, _ = await queue.dequeue()
    assert second == first and second.token != first.token
    assert await queue.release(first) is False
    assert await queue.requeue(first) is False
    assert await queue.extend(first) is False
    assert (await queue.get_task_stats("t"))["state"] == "working"
    assert await queue.release(second) is True
    assert await queue.release(second) is False


async def test_plain_id_acts_on_current_delivery(queue: Arque) -> None:
    await queue.enqueue("x", task_id="t")
    await queue.dequeue()
    assert await queue.release("t") is True
    assert await queue.release("t") is False
    assert await queue.release("unknown") is False


async def test_requeue_limit_dead_letters(queue: Arque) -> None:
    await queue.enqueue({"k": "v"}, task_id="t")
    for attempt in (1, 2, 3):
        task_id, _ = await queue.dequeue()
        assert task_id.attempt == attempt
        assert await queue.requeue(task_id, error=f"boom {attempt}") is True
    # The requeue after the last attempt moved it to dead letters: never handed out again.
    assert await queue.dequeue(timeout=0.3) == (None, None)
    stats = await queue.get_stats()
    assert stats == {"tasks": 0, "pending": 0, "working": 0, "delayed": 0, "failed": 1}
    record = await queue.get_failed("t")
    assert record is not None
    assert record.data == {"k": "v"} and record.attempts == 3
    assert record.error == "boom 3" and record.reason == DeadReason.RETRIES_EXHAUSTED
    assert record.failed_at == pytest.approx(time.time(), abs=5)
    assert record.requeues == 3 and record.recoveries == 0


async def test_requeue_with_delay(queue: Arque) -> None:
    await queue.enqueue("x", task_id="t")
    task_id, _ = await queue.dequeue()
    delay = 0.3
    started = time.monotonic()  # before the requeue: the delay counts from the script
    assert await queue.requeue(task_id, delay=delay) is True
    assert (await queue.get_stats())["delayed"] == 1
    again, _ = await queue.dequeue(timeout=5)
    # Not before the delay (the wake-up is raised half a millisecond early, delays
    # are rounded to the millisecond).
    assert again == "t" and time.monotonic() - started >= delay - 0.002


async def test_recoveries_counted_apart_and_poison_pill(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, task_timeout=0.1, requeue_limit=10, recovery_limit=2)
    await queue.enqueue("pill", task_id="p")
    task_id, _ = await queue.dequeue()
    await queue.requeue(task_id, error="handled")  # a handled failure: not a recovery
    for _ in range(2):  # two hand-outs whose holder "dies"
        await queue.dequeue()
        await asyncio.sleep(0.15)
        await queue.sweep()
    record = await queue.get_failed("p")
    assert record is not None
    assert record.reason == DeadReason.POISON_PILL
    assert (record.attempts, record.recoveries, record.requeues) == (3, 2, 1)


async def test_last_lease_expiry_dead_letters(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, task_timeout=0.1, requeue_limit=2, recovery_limit=5)
    await queue.enqueue("x", task_id="t")
    task_id, _ = await queue.dequeue()
    await queue.requeue(task_id)
    await queue.dequeue()
    await asyncio.sleep(0.15)
    assert await queue.sweep() == 0
    record = await queue.get_failed("t")
    assert record is not None and record.reason == DeadReason.LEASE_EXPIRED


async def test_duplicate_enqueue_changes_nothing(queue: Arque) -> None:
    assert await queue.enqueue("first", task_id="t") == "t"
    assert await queue.enqueue("second", task_id="t", delay=5) == "t"
    assert await queue.get_stats() == {
        "tasks": 1, "pending": 1, "working": 0, "delayed": 0, "failed": 0,
    }
    task_id, data = await queue.dequeue()
    assert data == "first"
    await queue.enqueue("third", task_id="t")  # still live while working
    assert (await queue.get_stats())["pending"] == 0
    await queue.fail(task_id, "bad")
    await queue.enqueue("fourth", task_id="t")  # dead letters count as live
    assert (await queue.get_failed("t")).data == "first"
    assert (await queue.get_stats())["tasks"] == 0
    await queue.purge_failed("t")
    await queue.enqueue("fifth", task_id="t")  # gone: a new task
    assert (await queue.dequeue())[1] == "fifth"


async def test_undecodable_task_dead_letters_and_consumer_goes_on(
    redis: aioredis.Redis, queue: Arque
) -> None:
    await queue.enqueue("bad", task_id="bad")
    await queue.enqueue("good", task_id="good")
    await set_payload(redis, queue, "bad", b"\xff{not json")
    assert await queue.dequeue() == (MARKED_AS_FAILED, None)
    record = await queue.get_failed("bad")
    assert record is not None and record.reason == DeadReason.UNDECODABLE
    assert "decode" in (record.error or "")
    assert (await queue.dequeue())[1] == "good"


async def test_bad_input_writes_nothing(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, max_payload_size=100)
    with pytest.raises(SerializationError):
        await queue.enqueue({"x": object()})
    with pytest.raises(PayloadTooLarge):
        await queue.enqueue("x" * 200)
    with pytest.raises(ValueError):
        await queue.enqueue("x" * 200)
    for kwargs in ({"delay": -1}, {"task_timeout": 0}, {"task_timeout": -1},
                   {"task_timeout": float("nan")}, {"delay": "1"}, {"task_id": ""}):
        with pytest.raises(InvalidArgument):
            await queue.enqueue("x", **kwargs)
    with pytest.raises(ValueError):
        await queue.enqueue("x", delay=-0.5)
    with pytest.raises(InvalidArgument):
        await queue.enqueue("x", at=datetime.now())  # naive: ambiguous
    with pytest.raises(SerializationError):
        await queue.enqueue_many(["ok", {"bad": object()}])
    with pytest.raises(PayloadTooLarge):
        await queue.enqueue_many(["ok", "x" * 200])
    for timeout in (0, -1):
        with pytest.raises(InvalidArgument):
            await queue.dequeue(timeout=timeout)
    with pytest.raises(InvalidArgument):
        await queue.requeue("t", delay=-1)
    assert await queue_keys_left(redis, queue) == []


async def test_wrong_key_type_raises_and_writes_nothing(redis: aioredis.Redis, queue: Arque) -> None:
    await redis.set(queue.keys.delayed, "not a zset")
    with pytest.raises(WrongKeyType) as caught:
        await queue.enqueue("x", delay=60)  # a task that goes to delayed
    assert queue.keys.delayed in str(caught.value)
    assert await redis.exists(queue.keys.pending, queue.keys.tasks) == 0
    with pytest.raises(WrongKeyType):
        await queue.dequeue(timeout=0.1)
    with pytest.raises(arque.ArqueError):
        await queue.sweep()
    await redis.delete(queue.keys.delayed)


@pytest.mark.parametrize("bad", [{"constructor": {"requeue_limit": 0}},
                                 {"constructor": {"working_limit": -1}},
                                 {"constructor": {"queue": "a{b}"}},
                                 {"constructor": {"prefix": ""}}])
async def test_bad_options_raise(redis: aioredis.Redis, bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        Arque(redis, **bad["constructor"])


async def test_delayed_task_fires_without_sweep(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, sweep_interval=60)
    delay = 0.4
    started = time.monotonic()
    await queue.enqueue("later", delay=delay)
    assert await queue.dequeue(timeout=0.1) == (None, None)
    _, data = await queue.dequeue(timeout=5)
    elapsed = time.monotonic() - started
    assert data == "later"
    assert elapsed >= delay - 0.002  # not early
    # Without the timed wake-up it would come after the block cap (> 2.1 s); the
    # benchmarks measure lateness.
    assert elapsed < delay + LOAD_MARGIN < 0.1 + BLOCK_CAP


async def test_a_dequeue_promotes_a_bounded_number_of_due_tasks_in_due_order(
    queue: Arque,
) -> None:
    """At most max(asked, 25) due tasks per dequeue, oldest due first: a burst that comes
    due at once is spread over calls, and comes out in the order it was due."""
    due = datetime.now(timezone.utc) + timedelta(seconds=2)  # generous: 60 enqueues first
    ids = [f"d{i:02}" for i in range(60)]
    for i, task_id in enumerate(ids):  # due a millisecond apart
        await queue.enqueue(task_id, task_id=task_id, at=due + timedelta(milliseconds=i))
    assert (await queue.get_stats())["delayed"] == 60
    await asyncio.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()) + 0.2)
    taken, _ = await queue.dequeue(timeout=1)
    stats = await queue.get_stats()
    assert (str(taken), stats["delayed"], stats["pending"]) == ("d00", 35, 24)
    batch = await queue.dequeue_many(30)  # asks more than 25: promotes as many as it asks
    stats = await queue.get_stats()
    assert [str(t) for t, _ in batch] == ids[1:31]
    # (5, 24) from one call; a call that ran out of its time (a loaded machine) is
    # followed by another, which promotes more.
    assert stats["delayed"] <= 5 and stats["delayed"] + stats["pending"] == 29
    order = [str(taken), *(str(t) for t, _ in batch), *await drain_in_order(queue)]
    assert order == ids


async def test_enqueue_at_absolute_time(queue: Arque) -> None:
    await queue.enqueue("past", at=datetime.now(timezone.utc) - timedelta(seconds=5))
    await queue.enqueue("future", at=datetime.now(timezone.utc) + timedelta(seconds=30))
    assert (await queue.get_stats())["delayed"] == 1
    assert (await queue.dequeue())[1] == "past"
    with pytest.raises(InvalidArgument):
        await queue.enqueue("x", delay=1, at=datetime.now(timezone.utc))


async def test_idle_consumer_wakes_on_enqueue_without_polling(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """Reads the server's global INFO commandstats: skipped on a shared ``$REDIS_URL``."""
    needs_private_server()
    queue = Arque(redis, queue=queue_name)
    producer = Arque(redis, queue=queue_name)
    await queue.get_stats()  # an instance's first call also reads the queue's settings
    await redis.script_load(source("dequeue"))  # no NOSCRIPT round below
    before = await script_calls(redis)
    idle = asyncio.create_task(queue.dequeue(timeout=1.5))
    # Idle for 1.5 s: one look, then blocked in Redis (a block lasts up to 2 s).
    assert await idle == (None, None)
    assert await script_calls(redis) - before <= 2
    waiter = asyncio.create_task(queue.dequeue(timeout=30))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await producer.enqueue("wake")
    _, data = await asyncio.wait_for(waiter, 5)
    # A missed wake-up would cost the rest of the block cap: 1.7 s or more.
    assert data == "wake" and time.monotonic() - started < BLOCK_CAP - 0.3 - 0.2


async def test_get_task_stats(queue: Arque) -> None:
    await queue.enqueue("x", task_id="t", delay=30)
    stats = await queue.get_task_stats("t")
    assert stats is not None
    assert stats["state"] == "delayed" and stats["dequeue_count"] == 0
    assert stats["enqueue_time"] == pytest.approx(time.time(), abs=5)
    assert stats["delayed_pop_count"] == 0


async def test_dead_letter_admin(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=1)
    for i in range(4):
        await queue.enqueue({"i": i}, task_id=f"t{i}")
        task_id, _ = await queue.dequeue()
        if i < 3:
            await queue.requeue(task_id, error=f"e{i}")
        else:
            await queue.fail(task_id, "permanent")
    listed = await queue.list_failed()
    assert [r.task_id for r in listed] == ["t3", "t2", "t1", "t0"]  # newest first
    assert [r.task_id for r in await queue.list_failed(limit=2, offset=1)] == ["t2", "t1"]
    by_reason = await queue.list_failed(reason=DeadReason.RETRIES_EXHAUSTED, offset=1)
    assert [r.task_id for r in by_reason] == ["t1", "t0"]
    assert [r.task_id for r in await queue.list_failed(reason="rejected")] == ["t3"]
    assert await queue.list_failed(reason="poison_pill") == []
    assert await queue.replay_failed("nope") == 0
    assert await queue.replay_failed(reason=DeadReason.REJECTED) == 1
    assert (await queue.dequeue())[0] == "t3"
    assert await queue.replay_failed("t0") == 1
    task_id, data = await queue.dequeue()
    assert (task_id, data, task_id.attempt) == ("t0", {"i": 0}, 1)  # fresh attempts
    assert await queue.purge_failed("t1") == 1
    assert await queue.get_failed("t1") is None
    assert await queue.replay_failed() == 1
    assert await queue.purge_failed() == 0
    assert (await queue.get_stats())["failed"] == 0


async def test_dead_letter_retention(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=1, max_failed=3, failed_ttl=0.3)
    for i in range(5):
        await queue.enqueue(i, task_id=f"t{i}")
        await queue.requeue((await queue.dequeue())[0])
    assert [r.task_id for r in await queue.list_failed()] == ["t4", "t3", "t2"]
    await asyncio.sleep(0.4)
    await queue.sweep()
    assert await queue.list_failed() == []
    # Only the owner's settings stay: they are the queue's configuration, not task data.
    assert await queue_keys_left(redis, queue) == [queue.keys.config]


async def test_defaults_bound_dead_letters(queue: Arque) -> None:
    assert Arque.max_failed == 10_000
    assert queue.failed_ttl == Arque.stats_ttl == 7 * 24 * 3600
    assert queue.requeue_limit == 3 and queue.recovery_limit == 3 and queue.working_limit == 1000


async def test_time_comes_from_the_server(
    redis: aioredis.Redis, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = Arque(redis, queue=queue_name, task_timeout=10)
    monkeypatch.setattr(time, "time", lambda: 0.0)  # a client clock 56 years behind
    await queue.enqueue("x", task_id="t", delay=1)
    seconds, micros = await redis.time()
    server_ms = seconds * 1000 + micros // 1000
    assert await redis.zscore(queue.keys.delayed, "t") == pytest.approx(server_ms + 1000, abs=500)
    _task_id, _ = await queue.dequeue(timeout=5)
    seconds, micros = await redis.time()
    deadline = await redis.zscore(queue.keys.working, "t")
    assert deadline == pytest.approx(seconds * 1000 + micros // 1000 + 10_000, abs=500)


async def test_batches(queue: Arque) -> None:
    ids = await queue.enqueue_many([{"i": i} for i in range(10)])
    assert len(set(ids)) == 10
    taken = await queue.dequeue_many(4)
    assert [data["i"] for _, data in taken] == [0, 1, 2, 3]
    assert await queue.release_many([t for t, _ in taken] + ["unknown"]) == [True] * 4 + [False]
    assert await queue.enqueue_many(["x"], task_ids=["a"]) == ["a"]
    with pytest.raises(InvalidArgument):
        await queue.enqueue_many(["x", "y"], task_ids=["a"])
    assert await queue.enqueue_many([]) == []


async def test_extend_renews_lease(redis: aioredis.Redis, queue_name: str) -> None:
    lease = 1.0  # long enough that a loaded machine renews in time
    queue = Arque(redis, queue=queue_name, task_timeout=lease)
    await queue.enqueue("x")
    task_id, _ = await queue.dequeue()
    for _ in range(3):  # 1.5 s in all: past the first lease, which must have been renewed
        await asyncio.sleep(lease / 2)
        assert await queue.extend(task_id) is True
        assert await queue.sweep() == 0
    assert await queue.release(task_id) is True


async def test_enqueue_sync(sync_redis: Any, redis: aioredis.Redis, queue_name: str) -> None:
    producer = Arque(sync_redis, queue=queue_name)
    assert producer.enqueue_sync({"a": 1}, task_id="s") == "s"
    assert producer.enqueue_sync({"a": 2}, task_id="s") == "s"
    consumer = Arque(redis, queue=queue_name)
    assert await consumer.dequeue() == ("s", {"a": 1})


async def test_custom_serializer_module(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, serializer=json)  # the seed passed the json module
    await queue.enqueue({"a": [1, 2]})
    assert (await queue.dequeue())[1] == {"a": [1, 2]}


async def test_schedule_sweep_recovers(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, sweep_interval=0.1, task_timeout=0.1)
    await queue.enqueue("x")
    await queue.dequeue()
    sweeper = asyncio.create_task(queue.schedule_sweep())
    try:
        task_id, _ = await queue.dequeue(timeout=5)
        assert task_id is not None and task_id.attempt == 2
    finally:
        await queue.unschedule_sweep()
        await asyncio.wait_for(sweeper, 2)


# -- the layout of a pending task -----------------------------------------------

async def test_only_a_plain_ready_task_keeps_the_compact_metadata(
    redis: aioredis.Redis, queue: Arque
) -> None:
    forms = {
        "plain": {}, "delayed": {"delay": 60}, "priority": {"priority": 5}, "group": {"group": "g"},
    }
    for task_id, options in forms.items():
        await queue.enqueue(task_id, task_id=task_id, task_timeout=7, **options)
    for task_id in forms:
        meta = json.loads(split_record(await redis.hget(queue.keys.tasks, task_id))[0])
        if task_id == "plain":
            assert meta == [7000, pytest.approx(time.time() * 1000, abs=60_000)]
        else:
            assert isinstance(meta, dict) and meta["t"] == 7000, meta
    # Read back alike, whichever the form.
    for task_id in forms:
        stats = await queue.get_task_stats(task_id)
        assert stats is not None and stats["enqueue_time"] == pytest.approx(time.time(), abs=60)
    # Handed out, each ready task's lease is its own timeout of 7 s.
    for _ in range(3):
        task_id, data = await queue.dequeue(timeout=5)
        assert task_id is not None and str(task_id) == data != "delayed"
        assert task_id.deadline == pytest.approx(time.time() + 7, abs=3)


@pytest.mark.parametrize("call", ["enqueue", "enqueue_sync"])
async def test_a_lone_ready_task_goes_by_the_three_key_script(
    redis: aioredis.Redis, sync_redis: Any, queue_name: str, call: str
) -> None:
    """enqueue_one takes a lone plain task; enqueue (thirteen keys) every other kind."""
    needs_private_server()
    queue = Arque(redis if call == "enqueue" else sync_redis, queue=queue_name)
    add = queue.enqueue if call == "enqueue" else queue.enqueue_sync

    async def sends(options: dict[str, Any]) -> list[str]:
        await redis.script_flush()  # then each script is loaded when first called
        result = add("x", **options)
        if asyncio.iscoroutine(result):
            await result
        loaded = await redis.script_exists(sha1("enqueue_one"), sha1("enqueue"))
        return [name for name, there in zip(["enqueue_one", "enqueue"], loaded) if there]

    assert await sends({}) == ["enqueue_one"]
    assert await sends({"delay": 0}) == ["enqueue_one"]
    for options in ({"delay": 60}, {"priority": 1}, {"group": "g"},
                    {"at": datetime.now(timezone.utc) - timedelta(seconds=1)}):
        assert await sends(options) == ["enqueue"], options
    stats = await Arque(redis, queue=queue_name).get_stats()
    assert (stats["pending"], stats["delayed"]) == (5, 1)


async def test_a_pending_task_is_an_id_in_pending_and_one_compact_record(
    redis: aioredis.Redis, queue: Arque
) -> None:
    """One hash entry per task (no second hash of payloads), counters left out while 0."""
    n = 2000
    ids = await queue.enqueue_many([{"i": i, "ts": time.time()} for i in range(n)])
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{14}", task_id) for task_id in ids)
    assert len(set(ids)) == n
    keys = queue.keys
    assert await queue_keys_left(redis, queue) == sorted([keys.pending, keys.tasks, keys.marker])
    assert await redis.hlen(keys.tasks) == n
    record_before = await redis.hget(keys.tasks, ids[0])
    meta, payload = split_record(record_before)
    # Ready, plain and untraced: the compact form [t, e] (includes/record.lua).
    timeout_ms, enqueued_ms = json.loads(meta)
    assert timeout_ms == round(queue.task_timeout * 1000)
    assert enqueued_ms / 1000 == pytest.approx(time.time(), abs=60)
    assert json.loads(payload) == {"i": 0, "ts": pytest.approx(time.time(), abs=60)}
    # A behaviour bound, not a benchmark (the old layout took ~360 B; the new one ~180 B).
    used = sum([await redis.memory_usage(k, samples=0) or 0 for k in (keys.pending, keys.tasks)])
    assert used / n < 260, f"{used / n:.0f} bytes per pending task"
    stats = await queue.get_task_stats(ids[0])
    assert stats is not None
    assert (stats["dequeue_count"], stats["requeue_count"], stats["recoveries"]) == (0, 0, 0)
    assert stats["enqueue_time"] == enqueued_ms / 1000
    task_id, _ = await queue.dequeue()
    assert task_id is not None and task_id.deadline is not None
    # The lease is the task's own timeout, read from the compact form.
    assert task_id.deadline == pytest.approx(time.time() + queue.task_timeout, abs=30)
    # A hand-out leaves the record as it was: its attempt and time are in the token.
    assert await redis.hget(keys.tasks, str(task_id)) == record_before
    stats = await queue.get_task_stats(str(task_id))
    assert stats is not None and stats["dequeue_count"] == 1 and stats["state"] == "working"
    assert stats["last_dequeue_time"] == pytest.approx(time.time(), abs=60)


class _Raw:
    """Payloads are the bytes given: the record's split is tested on exactly these."""

    binary = True

    def dumps(self, obj: bytes) -> bytes:
        return obj

    def loads(self, data: bytes) -> bytes:
        return data


@pytest.mark.parametrize("payload", [
    b"\n", b"\n\n{\"t\":1,\"a\":9}\n\x00\xff", b"line one\r\nline two\n", b"",
    bytes(range(256)) * 4,
], ids=["newline", "json-after-newlines", "lines", "empty", "all-bytes"])
async def test_a_payload_with_newlines_and_any_bytes_comes_back_intact(
    redis: aioredis.Redis, queue_name: str, payload: bytes
) -> None:
    queue = Arque(redis, queue=queue_name, serializer=_Raw(), requeue_limit=5)
    await queue.enqueue(payload, task_id="t")
    task_id, data = await queue.dequeue()
    assert data == payload
    assert await queue.progress(task_id, {"step": "a\nb"})  # rewrites the metadata only
    assert await queue.requeue(task_id, error="first\nsecond")
    task_id, data = await queue.dequeue()
    assert data == payload
    assert await queue.fail(task_id, "no\nway")
    letter = await queue.get_failed("t")
    assert letter is not None and letter.data == payload and letter.error == "no\nway"
    assert (letter.attempts, letter.requeues) == (2, 1)
    assert await queue.replay_failed("t") == 1
    task_id, data = await queue.dequeue()
    assert (task_id, data) == ("t", payload) and task_id.attempt == 1
    assert await queue.release(task_id)
    assert await queue.get_stats() == EMPTY


async def test_a_str_payload_with_newlines_survives_a_recovery(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, task_timeout=0.05)
    text = "first line\nsecond line\n\n\"quoted\"\n"
    await queue.enqueue({"text": text}, task_id="t")
    await queue.dequeue()
    await asyncio.sleep(0.1)
    assert await queue.sweep() == 1  # the lease expired: back to pending
    task_id, data = await queue.dequeue()
    assert data == {"text": text} and task_id.attempt == 2
    stats = await queue.get_task_stats("t")
    assert stats is not None and stats["recoveries"] == 1
