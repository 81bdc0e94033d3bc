"""Groups: round-robin between them, FIFO within one, group_limit, exact working counts."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from arque import OVERLOADED, Arque, InvalidArgument
from arque.queue import TaskId
from helpers import drain_in_order

CONSUMER = Path(__file__).with_name("crash_consumer.py")


def _stamp(task_id: TaskId) -> int:
    """When the script that handed it out ran (µs of the Redis clock), from its token."""
    return int(task_id.token.split("-", 1)[1])


async def _keys(client: aioredis.Redis, queue: str) -> set[str]:
    return {k.decode() if isinstance(k, bytes) else k
            async for k in client.scan_iter(match=f"*{{{queue}}}*")}


async def test_round_robin_one_consumer(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue_many(range(5), task_ids=[f"a{i}" for i in range(5)], group="a")
    await queue.enqueue_many(range(3), task_ids=[f"b{i}" for i in range(3)], group="b")
    await queue.enqueue_many(range(2), task_ids=["p0", "p1"])  # no group: one group of its own
    assert await drain_in_order(queue) == ["a0", "b0", "p0", "a1", "b1", "p1", "a2", "b2", "a3", "a4"]
    assert await _keys(redis, queue_name) == set()  # empty groups leave nothing behind


async def test_fifo_and_priority_within_a_group(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("a0", task_id="a0", group="a")
    await queue.enqueue("a1", task_id="a1", group="a", priority=-1)
    await queue.enqueue("a2", task_id="a2", group="a", priority=5)
    await queue.enqueue("a3", task_id="a3", group="a")
    assert await drain_in_order(queue) == ["a2", "a0", "a3", "a1"]


async def test_new_group_waits_at_most_one_turn(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue_many(range(3000), task_ids=[f"big{i}" for i in range(3000)], group="big")
    assert await _drain_some(queue, 10) == [f"big{i}" for i in range(10)]
    await queue.enqueue("new", task_id="new", group="tenant-42")
    # The big group had its turn already: one more of it at most, then the newcomer.
    assert await _drain_some(queue, 3) == ["big10", "new", "big11"]


async def test_a_group_alone_takes_many_in_one_call_in_order(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """The only group with a turn is served as many rounds would serve it, limit included."""
    queue = Arque(redis, queue=queue_name, group_limit=4)
    await queue.enqueue_many(range(12), task_ids=[f"a{i:02d}" for i in range(12)], group="a")
    await queue.enqueue("a-first", task_id="a-first", group="a", priority=3)
    taken = [str(t) for t, _ in await queue.dequeue_many(10)]
    assert taken == ["a-first", "a00", "a01", "a02"]  # priority, then FIFO; group_limit holds
    assert await queue.dequeue() == (OVERLOADED, None)
    assert int(await redis.hget(queue.keys.group_working, "a")) == 4
    assert await queue.release("a-first")  # a slot frees: the group takes a turn again
    await queue.enqueue("b0", task_id="b0", group="b")
    # Two groups with a turn: one each per round again, the newcomer at once.
    assert [str(t) for t, _ in await queue.dequeue_many(3)] == ["a03", "b0"]
    assert int(await redis.hget(queue.keys.group_working, "a")) == 4
    await queue.configure(group_limit=100)
    assert await queue.release("a00")
    assert [str(t) for t, _ in await queue.dequeue_many(100)] == [f"a{i:02d}" for i in range(4, 12)]
    assert int(await redis.hget(queue.keys.group_working, "a")) == 11
    assert await redis.exists(queue.keys.groups) == 0


async def _drain_some(queue: Arque, n: int) -> list[str]:
    order = []
    for _ in range(n):
        task_id, _ = await queue.dequeue()
        order.append(str(task_id))
        assert await queue.release(task_id)
    return order


async def test_round_robin_several_consumers(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    for group in "abc":
        await queue.enqueue_many(range(20), task_ids=[f"{group}{i:02d}" for i in range(20)],
                                 group=group)
    handed: list[TaskId] = []

    async def consumer(seed: int) -> None:
        rng = random.Random(seed)
        own = Arque(redis, queue=queue_name)  # each consumer its own instance
        while True:
            task_id, _ = await own.dequeue(timeout=0.2)
            if task_id is None:
                return
            assert isinstance(task_id, TaskId)
            handed.append(task_id)
            await asyncio.sleep(rng.uniform(0, 0.003))
            assert await own.release(task_id)

    await asyncio.gather(*(consumer(seed) for seed in range(4)))
    # In the order the scripts ran, the groups took turns: a, b, c, a, b, c, ...
    ordered = sorted(handed, key=_stamp)
    assert [str(t)[0] for t in ordered] == list("abc" * 20)
    for group in "abc":  # FIFO within each
        assert [str(t) for t in ordered if str(t)[0] == group] == [
            f"{group}{i:02d}" for i in range(20)]


async def test_group_limit_holds_a_group_back_while_others_go_on(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, group_limit=2)
    await queue.enqueue_many(range(5), task_ids=[f"a{i}" for i in range(5)], group="a")
    await queue.enqueue_many(range(3), task_ids=[f"b{i}" for i in range(3)], group="b")
    taken = [str(t) for t, _ in await queue.dequeue_many(10)]
    assert taken == ["a0", "b0", "a1", "b1"]
    await queue.enqueue("p", task_id="p")  # no group: not held by group_limit
    assert str((await queue.dequeue())[0]) == "p"
    assert await queue.dequeue() == (OVERLOADED, None)  # only groups at their limit
    assert await queue.dequeue(timeout=0.2) == (None, None)
    groups = {g.group: (g.pending, g.working) for g in await queue.group_stats()}
    assert groups == {"a": (3, 2), "b": (1, 2)}

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        assert await queue.release("b0")

    began = time.monotonic()
    releasing = asyncio.create_task(release_later())
    task_id, _ = await queue.dequeue(timeout=10)  # waits in Redis for the freed slot
    await releasing
    assert task_id == "b2" and time.monotonic() - began < 1.5
    assert (await queue.group_stats()) and await redis.hgetall(queue.keys.group_working) in (
        {b"a": b"2", b"b": b"2"}, {"a": "2", "b": "2"})


async def test_working_counts_exact_through_every_transition(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, group_limit=1, requeue_limit=3)
    await queue.enqueue_many(range(6), task_ids=[f"a{i}" for i in range(6)], group="a",
                             task_timeout=0.2)

    async def take() -> TaskId:
        task_id, _ = await queue.dequeue(timeout=5)
        assert isinstance(task_id, TaskId)
        assert await queue.dequeue() == (OVERLOADED, None)  # group_limit=1 holds
        return task_id

    assert await queue.requeue(await take(), error="retry")          # requeue frees the slot
    assert await queue.requeue(await take(), delay=0.05)              # so does a delayed one
    assert await queue.fail(await take(), "bad")                      # and fail
    task_id = await take()
    assert await queue.extend(task_id, 0.3)                           # extend keeps it
    assert await queue.dequeue() == (OVERLOADED, None)
    await asyncio.sleep(0.4)
    assert await queue.sweep() >= 1                                   # an expired lease frees it
    while True:
        task_id, _ = await queue.dequeue(timeout=0.5)
        if task_id is None:
            break
        assert await queue.release(task_id)
    letter = await queue.get_failed("a2") or await queue.get_failed("a0")
    assert letter is not None and letter.group == "a"
    assert await queue.replay_failed() == 1                           # replay keeps the group
    stats = await queue.get_task_stats(letter.task_id)
    assert stats is not None and (stats["group"], stats["state"]) == ("a", "pending")
    assert (await queue.stats()).grouped == 1
    assert await drain_in_order(queue) == [letter.task_id]
    assert await _keys(redis, queue_name) == {queue.keys.config}  # counts back to zero: no key


async def test_group_name_is_checked_and_nothing_written(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    for bad in ("", "a\0b", "x" * 257, 5, b"bytes"):
        with pytest.raises(InvalidArgument):
            await queue.enqueue("x", group=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        Arque(redis, queue=queue_name, group_limit=-1)
    assert (await queue.stats()).tasks == 0


def _spawn(url: str, queue: str, log: Path, seed: int) -> subprocess.Popen[bytes]:
    with open(f"{log}.err", "wb") as err:
        return subprocess.Popen([sys.executable, str(CONSUMER), url, queue, f"{log}.log", str(seed)],
                                stdout=subprocess.DEVNULL, stderr=err)


@pytest.mark.slow
async def test_group_limit_never_exceeded_with_sigkilled_consumers(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    """Four consumer processes, killed at random; every sample of working holds the limit."""
    groups, limit, tasks = 3, 1, 300
    rng = random.Random()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    queue = Arque(client, queue=queue_name, group_limit=limit, requeue_limit=10, task_timeout=1.0)
    procs: list[subprocess.Popen[bytes]] = []
    samples, worst = 0, Counter[int]()
    try:
        for start in range(0, tasks, 100):
            indexes = range(start, start + 100)
            for g in range(groups):
                mine = [i for i in indexes if i % groups == g]
                await queue.enqueue_many([{"index": i} for i in mine],
                                         [f"task-{i}" for i in mine], group=f"g{g}")
        procs = [_spawn(redis_url, queue_name, tmp_path / f"c{n}", rng.randrange(1 << 30))
                 for n in range(4)]
        started = 4
        next_kill = time.monotonic() + rng.uniform(0.2, 0.5)
        kills = 0
        deadline = time.monotonic() + 60
        while (await queue.stats()).tasks > 0:
            assert time.monotonic() < deadline, await queue.stats()
            async with client.pipeline(transaction=True) as pipe:
                pipe.zrange(queue.keys.working, 0, -1)
                pipe.hgetall(queue.keys.group_working)
                working, counts = await pipe.execute()
            per_group = Counter(int(t.split("-")[1]) % groups for t in working)
            assert all(n <= limit for n in per_group.values()), per_group
            # The stored counts are exactly the working tasks of each group.
            assert {f"g{g}": str(n) for g, n in per_group.items()} == counts
            worst.update(per_group)
            samples += 1
            if time.monotonic() > next_kill and kills < 12:
                victim = rng.choice([p for p in procs if p.poll() is None])
                victim.kill()
                victim.wait()
                procs.remove(victim)
                kills += 1
                procs.append(_spawn(redis_url, queue_name, tmp_path / f"c{started}",
                                    rng.randrange(1 << 30)))
                started += 1
                next_kill = time.monotonic() + rng.uniform(0.2, 0.5)
            await queue.sweep()
            await asyncio.sleep(0.005)
        assert kills >= 3 and samples > 50
        assert await queue.list_failed() == []
        assert await client.exists(queue.keys.group_working) == 0  # counts back to zero
        assert await _keys(client, queue_name) == {queue.keys.config}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        await client.aclose()
    for err in tmp_path.glob("*.err"):
        assert "Traceback" not in err.read_text(errors="replace"), err.read_text()


async def test_group_names_that_json_escapes(redis: aioredis.Redis, queue_name: str) -> None:
    """A name with quotes, backslashes or non-ASCII keeps its count exact on release."""
    queue = Arque(redis, queue=queue_name, group_limit=1)
    names = ['say "hi"', "back\\slash", "tenant/é", "plain"]
    for name in names:
        await queue.enqueue_many(range(2), task_ids=[f"{name}-0", f"{name}-1"], group=name)
    first = await queue.dequeue_many(10)
    assert [str(t) for t, _ in first] == [f"{name}-0" for name in names]
    assert {g.group: g.working for g in await queue.group_stats()} == dict.fromkeys(names, 1)
    assert all(await queue.release_many([t for t, _ in first]))
    second = await queue.dequeue_many(10)  # every group's slot came back
    assert [str(t) for t, _ in second] == [f"{name}-1" for name in names]
    assert all(await queue.release_many([t for t, _ in second]))
    assert await _keys(redis, queue_name) == {queue.keys.config}


async def test_many_groups_leaving_the_turn_take_bounded_calls(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """1,500 groups reach a lowered group_limit at once: looked at over two calls, not one."""
    queue = Arque(redis, queue=queue_name, working_limit=0)
    for n in range(1500):
        await queue.enqueue_many(range(2), group=f"g{n}")
    # One of each group working (a call looks at 1,000 turns at most).
    assert len(await queue.dequeue_many(1000)) + len(await queue.dequeue_many(500)) == 1500
    await queue.configure(group_limit=1)
    calls = (await redis.info("commandstats"))["cmdstat_evalsha"]["calls"]
    assert await queue.dequeue() == (OVERLOADED, None)
    assert (await redis.info("commandstats"))["cmdstat_evalsha"]["calls"] - calls == 2
    assert await redis.exists(queue.keys.groups) == 0  # every group left the turn
    assert (await queue.stats()).grouped == 1500
