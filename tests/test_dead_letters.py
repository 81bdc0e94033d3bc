"""Dead letters: the per-reason indexes stay in step, pages by cursor, work in chunks."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter

import pytest
import redis.asyncio as aioredis

from arque import Arque, DeadReason, FailedPage, InvalidArgument
from arque.dead_letters import CHUNK, decode_cursor, encode_cursor
from arque.keys import QueueKeys, index_roles
from arque.scripts import source
from helpers import needs_private_server, script_calls, split_record


async def warm(client: aioredis.Redis, *scripts: str) -> None:
    """Load scripts ahead, so that no NOSCRIPT round counts as a call."""
    for name in scripts:
        await client.script_load(source(name))


async def assert_indexes_agree(client: aioredis.Redis, queue: Arque) -> Counter[str]:
    """Every dead letter is in the index of its reason and in no other; returns the counts."""
    failed = {_text(m): s for m, s in await client.zrange(queue.keys.failed, 0, -1, withscores=True)}
    metas = await client.hmget(queue.keys.tasks, list(failed)) if failed else []
    reasons = {task_id: _reason(meta) for task_id, meta in zip(failed, metas)}
    for reason in DeadReason:
        index = await client.zrange(queue.keys.failed_of(reason), 0, -1, withscores=True)
        expected = {i: failed[i] for i, why in reasons.items() if why == reason.value}
        assert {_text(m): s for m, s in index} == expected, reason
    return Counter(reasons.values())


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _reason(raw: str | bytes | None) -> str:
    assert raw is not None, "a dead letter without metadata"
    return str(json.loads(split_record(raw)[0])["why"])


async def _dead(queue: Arque, reasons: list[DeadReason], prefix: str = "t") -> list[str]:
    """One dead letter per reason given (rejected or undecodable by fail), oldest first."""
    ids = await queue.enqueue_many(list(range(len(reasons))),
                                   task_ids=[f"{prefix}{i}" for i in range(len(reasons))])
    taken = {t: t for t, _ in await queue.dequeue_many(len(ids), timeout=5)}
    for task_id, reason in zip(ids, reasons):
        assert await queue.fail(taken[task_id], f"boom {task_id}", reason)
    return ids


async def _expire_leases(queue: Arque, count: int) -> list[str]:
    """``count`` dead letters of reason lease_expired, all written by one sweep call."""
    ids = await queue.enqueue_many(list(range(count)), task_timeout=0.01)
    assert len(await queue.dequeue_many(count, timeout=5)) == count
    await asyncio.sleep(0.05)
    await queue.sweep()
    return ids


def test_key_names_and_roles() -> None:
    keys = QueueKeys.for_queue("arque", "emails")
    assert keys.failed_of(DeadReason.POISON_PILL) == "arque:{emails}:failed:poison_pill"
    assert keys.failed_of("rejected") == "arque:{emails}:failed:rejected"
    assert index_roles() == tuple(f"failed_{r.value}" for r in DeadReason)
    with pytest.raises(InvalidArgument, match="reason must be one of"):
        keys.failed_of("bogus")


def test_lua_knows_the_reasons_in_order() -> None:
    text = source("fail")
    listed = text[text.index("local reasons = {") :].split("}", 1)[0]
    assert re.findall(r"'(\w+)'", listed) == [r.value for r in DeadReason]


def test_cursor_round_trip_and_garbage() -> None:
    for task_id in ("plain", "with:colons:and spaces", "ünïcode\n"):
        assert decode_cursor(encode_cursor(1_764_427_363_123, task_id)) == (
            1_764_427_363_123, task_id)
    for bad in ("", "!!!", encode_cursor(1, "x")[:-3] + "$$$", "bm8tY29sb24"):
        with pytest.raises(InvalidArgument, match="cursor"):
            decode_cursor(bad)


async def test_indexes_follow_every_transition(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=1, recovery_limit=5, max_failed=0)
    await _dead(queue, [DeadReason.REJECTED, DeadReason.UNDECODABLE, DeadReason.REJECTED])
    await queue.enqueue("again", task_id="r")
    assert await queue.requeue((await queue.dequeue())[0])  # its last attempt: dead-lettered
    await _expire_leases(queue, 3)
    assert await assert_indexes_agree(redis, queue) == {
        "rejected": 2, "undecodable": 1, "retries_exhausted": 1, "lease_expired": 3}

    assert await queue.replay_failed("t0") == 1
    assert await queue.purge_failed("t1") == 1
    assert await queue.purge_failed(reason=DeadReason.LEASE_EXPIRED) == 3
    assert await assert_indexes_agree(redis, queue) == {"rejected": 1, "retries_exhausted": 1}
    assert await queue.replay_failed(reason="retries_exhausted") == 1
    assert await queue.replay_failed() == 1
    assert await assert_indexes_agree(redis, queue) == {}
    for role in index_roles():
        assert not await redis.exists(getattr(queue.keys, role))


async def test_fail_refuses_free_text_reason(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    task_id = await queue.enqueue("x")
    taken, _ = await queue.dequeue()
    with pytest.raises(InvalidArgument, match="reason must be one of"):
        await queue.fail(taken, "boom", "my own words")
    assert (await queue.stats()).working == 1  # nothing written
    with pytest.raises(InvalidArgument, match="reason must be one of"):
        await queue.list_failed(reason="my own words")
    with pytest.raises(InvalidArgument):
        await queue.replay_failed(reason="my own words")
    with pytest.raises(InvalidArgument):
        await queue.purge_failed(task_id, reason=DeadReason.REJECTED)
    assert await queue.fail(taken, "boom", "poison_pill")  # a reason's value is fine
    assert (await queue.get_failed(task_id)).reason == "poison_pill"  # type: ignore[union-attr]


async def test_cursor_pages_cover_each_dead_letter_once(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=1, recovery_limit=5, max_failed=0)
    await _dead(queue, [DeadReason.REJECTED] * 5, prefix="early")
    await _expire_leases(queue, 12)  # twelve dead letters of the same millisecond
    await _dead(queue, [DeadReason.REJECTED, DeadReason.UNDECODABLE] * 3, prefix="late")
    everything = await queue.list_failed(limit=1000)
    assert isinstance(everything, FailedPage)
    assert everything.total == 23 and everything.next_cursor is None

    for reason, expected in ((None, everything),
                             ("rejected", [r for r in everything if r.reason == "rejected"])):
        seen, cursor = [], None
        while True:
            page = await queue.list_failed(limit=4, reason=reason, cursor=cursor)
            assert len(page) <= 4 and page.total == len(expected)
            seen += page
            if page.next_cursor is None:
                break
            assert len(page) == 4
            cursor = page.next_cursor
        assert [r.task_id for r in seen] == [r.task_id for r in expected]

    # The seed-compatible offset gives the same order.
    assert [r.task_id for r in await queue.list_failed(5, 3)] == [
        r.task_id for r in everything[3:8]]
    with pytest.raises(InvalidArgument, match="offset or cursor"):
        await queue.list_failed(offset=1, cursor=everything.next_cursor or "eA")


async def test_cursor_survives_its_dead_letter_going(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """Replayed or purged meanwhile, the cursor's dead letter still marks where to go on."""
    queue = Arque(redis, queue=queue_name, requeue_limit=1, recovery_limit=5, max_failed=0)
    await _dead(queue, [DeadReason.REJECTED] * 3, prefix="old")
    await _expire_leases(queue, 10)  # ties: the same time, ordered by id
    everything = [r.task_id for r in await queue.list_failed(limit=100)]
    for cut in (1, 3, 6, 8):  # the last one past the ties
        first = await queue.list_failed(limit=cut)
        assert first.next_cursor is not None
        gone = first[-1].task_id
        assert await queue.purge_failed(gone) == 1
        rest = await queue.list_failed(limit=100, cursor=first.next_cursor)
        assert [r.task_id for r in rest] == everything[everything.index(gone) + 1 :]
        everything.remove(gone)


async def test_trimming_goes_in_chunks(redis: aioredis.Redis, queue_name: str) -> None:
    """A lowered max_failed is reached a little per dead letter, then in chunks by sweep."""
    unbounded = Arque(redis, queue=queue_name, requeue_limit=1, recovery_limit=5, max_failed=0)
    await _expire_leases(unbounded, 40)
    bounded = Arque(redis, queue=queue_name, requeue_limit=1, recovery_limit=5, max_failed=10)
    await _dead(bounded, [DeadReason.REJECTED])
    assert (await bounded.stats()).failed == 41 - 2  # two oldest went with the new one
    await bounded.sweep()
    assert (await bounded.stats()).failed == 10
    assert await assert_indexes_agree(redis, bounded) == {"lease_expired": 9, "rejected": 1}
    assert [r.task_id for r in await bounded.list_failed(limit=1)] == ["t0"]


async def test_age_expiry_keeps_indexes(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=1, recovery_limit=5, max_failed=0, failed_ttl=0.2)
    await _dead(queue, [DeadReason.REJECTED, DeadReason.POISON_PILL], prefix="old")
    await asyncio.sleep(0.3)
    await _dead(queue, [DeadReason.REJECTED], prefix="new")
    await queue.sweep()
    assert await assert_indexes_agree(redis, queue) == {"rejected": 1}


async def test_dequeue_dead_letters_an_exhausted_backlog_over_calls(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """Tasks with no attempt left are dead-lettered a bounded number per dequeue script."""
    needs_private_server()  # counts calls in the server-global INFO commandstats
    generous = Arque(redis, queue=queue_name, requeue_limit=2, task_timeout=0.01,
                     working_limit=0, max_failed=0)
    await generous.enqueue_many(list(range(700)))
    assert len(await generous.dequeue_many(700, timeout=5)) == 700
    await asyncio.sleep(0.05)
    assert await generous.sweep() == 700  # back to pending, one attempt used
    await generous.enqueue("live", task_id="live")
    strict = Arque(redis, queue=queue_name, requeue_limit=1, recovery_limit=5, max_failed=0)
    before = await script_calls(redis)
    task_id, data = await strict.dequeue(timeout=10)
    assert (task_id, data) == ("live", "live")
    assert await script_calls(redis) - before >= 7  # 700 exhausted: at most 100 per call
    assert await assert_indexes_agree(redis, strict) == {"retries_exhausted": 700}


async def test_replay_and_purge_of_many_go_in_chunks(
    redis: aioredis.Redis, queue_name: str
) -> None:
    needs_private_server()  # counts calls in the server-global INFO commandstats
    queue = Arque(redis, queue=queue_name, requeue_limit=1, recovery_limit=5, working_limit=0, max_failed=0)
    await _expire_leases(queue, CHUNK + 30)
    await _dead(queue, [DeadReason.REJECTED] * 3)
    await warm(redis, "list_failed", "replay")
    before = await script_calls(redis)
    assert await queue.replay_failed(reason=DeadReason.LEASE_EXPIRED) == CHUNK + 30
    assert await script_calls(redis) - before == 1 + 2  # the count, then two chunks
    assert await assert_indexes_agree(redis, queue) == {"rejected": 3}
    assert (await queue.stats()).pending == CHUNK + 30
    assert await queue.purge_failed() == 3
    assert (await queue.stats()).failed == 0


async def test_enqueue_many_goes_in_chunks(redis: aioredis.Redis, queue_name: str) -> None:
    needs_private_server()  # counts calls in the server-global INFO commandstats
    queue = Arque(redis, queue=queue_name)
    with pytest.raises(InvalidArgument):  # checked before anything is sent
        await queue.enqueue_many([*range(2500), object()], task_ids=[
            *(f"t{i}" for i in range(2500)), ""])
    assert (await queue.stats()).pending == 0
    await warm(redis, "enqueue")
    before = await script_calls(redis)
    ids = await queue.enqueue_many(range(2500), task_ids=[f"t{i}" for i in range(2500)])
    # Chunks of 500, each in more calls when it outlasts a call's time (test_budget.py).
    assert await script_calls(redis) - before >= 5
    assert ids == [f"t{i}" for i in range(2500)]
    assert (await queue.stats()).pending == 2500
    # Again with the same ids (a retry after a failure midway): nothing is added twice.
    assert await queue.enqueue_many(range(2500), task_ids=ids) == ids
    assert (await queue.stats()).pending == 2500
    first = await queue.dequeue_many(3, timeout=5)
    assert [t for t, _ in first] == ["t0", "t1", "t2"]  # order kept across chunks


async def test_page_numbers_are_checked(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    for bad in ({"limit": 0}, {"limit": True}, {"offset": -1}, {"limit": 2.5}):
        with pytest.raises(InvalidArgument):
            await queue.list_failed(**bad)
    empty = await queue.list_failed()
    assert empty == [] and empty.total == 0 and empty.next_cursor is None


async def test_acting_on_many_stops_at_those_there_were(
    redis: aioredis.Redis, queue_name: str
) -> None:
    """A replay of all does not chase the dead letters that arrive while it runs."""
    queue = Arque(redis, queue=queue_name, requeue_limit=1, recovery_limit=5, max_failed=0)
    await _dead(queue, [DeadReason.REJECTED] * 6)
    chunks = queue.dead_letters.chunks("replay", at_most=4)
    assert [count async for count in chunks] == [4]
    assert [r.task_id for r in await queue.list_failed()] == ["t5", "t4"]  # the oldest went
    await asyncio.sleep(0.005)  # (dead letters of one millisecond go in id order)
    for task_id, _ in await queue.dequeue_many(4, timeout=5):
        assert await queue.fail(task_id, "again")  # newer than t4, t5 now
    assert [count async for count in queue.dead_letters.chunks("purge", at_most=2)] == [2]
    assert sorted(r.task_id for r in await queue.list_failed()) == ["t0", "t1", "t2", "t3"]
    assert await queue.replay_failed() == 4  # by default: as many as there are
    with pytest.raises(InvalidArgument):
        [count async for count in queue.dead_letters.chunks("delete")]
