"""What a dequeue took is never lost to its lease: not by one bad task of a batch, not by a cancel.

Failures are provoked for real: an ACL change refuses the dead-lettering of an
undecodable task, a killed server refuses it in a running worker, and a
dequeue is cancelled after its script ran (the event loop is held, so the
reply cannot be read before the cancel lands).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis as redis_py
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from arque import Arque, TaskContext, Worker
from arque.handouts import CancelSafe
from arque.testing import RedisServer
from helpers import set_payload, wait_until

CORRUPT = b"\xff{not json"


class Tripwire:
    """JSON that calls ``trip()`` when it meets a payload it cannot decode (then fails)."""

    binary = False

    def __init__(self, trip: Any) -> None:
        self._trip = trip

    def dumps(self, obj: Any) -> str:
        return json.dumps(obj)

    def loads(self, data: str | bytes) -> Any:
        try:
            return json.loads(data)
        except ValueError:
            self._trip()
            raise


@pytest.fixture
def admin(redis_url: str) -> Iterator[redis_py.Redis]:
    with redis_py.Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture
def user(admin: redis_py.Redis) -> Iterator[str]:
    """An ACL user of its own, so a test can take its rights away."""
    name = f"consumer-{uuid.uuid4().hex[:8]}"
    admin.acl_setuser(name, enabled=True, passwords=["+pw"], keys=["*"], channels=["*"],
                      commands=["+@all"])
    yield name
    admin.acl_deluser(name)


@pytest.fixture
async def consumer(redis_url: str, user: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, username=user, password="pw")
    yield client
    await client.aclose()


async def _five_tasks_one_corrupt(queue: Arque, redis: Any) -> None:
    await queue.enqueue_many([{"n": n} for n in range(5)], task_ids=[f"t{n}" for n in range(5)])
    await set_payload(redis, queue, "t2", CORRUPT)


async def test_a_batch_is_handed_out_when_its_bad_task_cannot_be_dead_lettered(
    consumer: aioredis.Redis, admin: redis_py.Redis, user: str, queue_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse_scripts() -> None:  # between the dequeue and the fail of the bad task
        admin.acl_setuser(user, enabled=True, commands=["-evalsha", "-eval"])

    queue = Arque(consumer, queue=queue_name, serializer=Tripwire(refuse_scripts))
    await _five_tasks_one_corrupt(queue, consumer)
    got = await queue.dequeue_many(5)
    assert sorted(task_id for task_id, _ in got) == ["t0", "t1", "t3", "t4"]
    assert "t2 cannot be decoded" in caplog.text and "nor dead-lettered" in caplog.text
    admin.acl_setuser(user, enabled=True, commands=["+@all"])
    assert await queue.release_many([task_id for task_id, _ in got]) == [True] * 4
    stats = await queue.stats()
    assert (stats.working, stats.failed) == (1, 0)  # t2: its lease brings it back


async def test_a_single_bad_task_that_cannot_be_dead_lettered_is_a_sentinel(
    consumer: aioredis.Redis, admin: redis_py.Redis, user: str, queue_name: str,
) -> None:
    def refuse_scripts() -> None:
        admin.acl_setuser(user, enabled=True, commands=["-evalsha", "-eval"])

    queue = Arque(consumer, queue=queue_name, serializer=Tripwire(refuse_scripts))
    await queue.enqueue("x", task_id="bad")
    await set_payload(consumer, queue, "bad", CORRUPT)
    assert await queue.dequeue() == ("__marked_as_failed___", None)


@pytest.mark.parametrize("many", [False, True], ids=["dequeue", "dequeue_many"])
async def test_a_dequeue_cancelled_after_its_script_ran_hands_the_task_back(
    redis_url: str, admin: redis_py.Redis, queue_name: str, many: bool
) -> None:
    client = aioredis.Redis.from_url(redis_url, client_name=queue_name)
    queue = Arque(client, queue=queue_name, task_timeout=120)
    producer = Arque(admin, queue=queue_name)
    try:
        taking = asyncio.ensure_future(
            queue.dequeue_many(3, timeout=20) if many else queue.dequeue(timeout=20))
        await wait_until(lambda: any(c["name"] == queue_name and c["cmd"] == "bzpopmin"
                                     for c in admin.client_list()))
        # The loop is held from here on: the reply waits unread in the socket.
        producer.enqueue_sync({"n": 1}, task_id="t")
        deadline = time.monotonic() + 10
        while not admin.zcard(queue.keys.working):  # the dequeue script ran
            assert time.monotonic() < deadline
            time.sleep(0.005)  # noqa: ASYNC251 - holding the loop is the point
        taking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await taking
        await wait_until(lambda: admin.llen(queue.keys.pending) == 1, timeout=10)
        stats = await queue.get_task_stats("t")
        assert stats is not None and stats["state"] == "pending"
        assert stats["dequeue_count"] == 0  # the attempt was not counted
        task_id, data = await queue.dequeue()
        assert (task_id, data) == ("t", {"n": 1}) and task_id.attempt == 1
    finally:
        await client.aclose()


async def test_a_dequeue_cancelled_while_it_dead_letters_a_bad_task_hands_the_rest_back(
    consumer: aioredis.Redis, admin: redis_py.Redis, queue_name: str,
) -> None:
    def cancel_the_caller() -> None:
        # The dead-lettering that follows waits on the paused server; the cancel lands then.
        admin.client_pause(500, all=False)
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().call_later(0.1, task.cancel)

    queue = Arque(consumer, queue=queue_name, task_timeout=120,
                  serializer=Tripwire(cancel_the_caller))
    await _five_tasks_one_corrupt(queue, consumer)
    with pytest.raises(asyncio.CancelledError):
        await queue.dequeue_many(5)
    await wait_until(lambda: _pending(queue, 4), timeout=10)
    for n in (0, 1, 3, 4):
        stats = await queue.get_task_stats(f"t{n}")
        assert stats is not None and stats["dequeue_count"] == 0
    assert (await queue.stats()).working == 1  # t2: its lease brings it back


async def _pending(queue: Arque, count: int) -> bool:
    return (await queue.stats()).pending == count


async def test_a_worker_runs_the_rest_of_a_batch_when_redis_dies_under_its_bad_task(
    own_redis_server: RedisServer, queue_name: str,
) -> None:
    """Redis dies just after a fetch; dead-lettering the bad task fails; the others still run."""
    restarted = threading.Event()

    def crash() -> None:
        if restarted.is_set() or not own_redis_server.running:
            return
        own_redis_server.kill()
        threading.Timer(1.0, lambda: (own_redis_server.start(), restarted.set())).start()

    client = aioredis.Redis.from_url(own_redis_server.url, retry=Retry(NoBackoff(), 0))
    queue = Arque(client, queue=queue_name, task_timeout=120, serializer=Tripwire(crash))
    done: list[Any] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        await asyncio.sleep(2)  # Redis is back by then: the releases go through
        done.append(data["n"])

    worker = Worker(queue, handler, concurrency=5, sweep_interval=None)
    try:
        await _five_tasks_one_corrupt(queue, client)
        running = asyncio.ensure_future(worker.run())
        await wait_until(lambda: len(done) == 4, timeout=20)
        await wait_until(lambda: restarted.is_set())
        await wait_until(lambda: _working(queue, 1), timeout=20)  # t2 alone, left to its lease
        worker.stop()
        await asyncio.wait_for(running, 30)
        assert sorted(done) == [0, 1, 3, 4]
        assert (await queue.get_failed("t2")) is None
        assert (await queue.sweep()) == 0  # its lease is long: not expired
        assert (await queue.stats()).pending == 0
    finally:
        await client.aclose()


async def _working(queue: Arque, count: int) -> bool:
    try:
        return (await queue.stats()).working == count
    except Exception:  # noqa: BLE001 - still coming back
        return False


class _Answers:
    """Stands in for the script layer in the tests of ``CancelSafe`` alone: each call
    runs ``before_reply`` (if set), then answers ``reply`` (or raises it)."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.before_reply: Any = None
        self.wire = asyncio.Event()  # the reply comes when this is set
        self.wire.set()

    async def call(self, name: str, args: Any) -> Any:
        await asyncio.sleep(0)  # on the wire for a turn at least, as a real call is
        await self.wire.wait()
        if self.before_reply is not None:
            self.before_reply()
        if isinstance(self.reply, BaseException):
            raise self.reply
        return self.reply


async def test_a_reply_reaches_its_caller_one_turn_after_it_lands() -> None:
    """No turn of the event loop is spent between the reply and its caller (a shield spent one)."""
    answers = _Answers([1, -1, 0, 0])
    calls = CancelSafe(answers, on_lost=lambda reply: None)  # type: ignore[arg-type]
    turns = [0]

    def count() -> None:
        turns[0] += 1
        asyncio.get_running_loop().call_soon(count)

    answers.before_reply = lambda: asyncio.get_running_loop().call_soon(count)
    assert await calls.call("dequeue", []) == [1, -1, 0, 0]
    assert turns[0] == 1


async def test_a_reply_that_lands_just_before_its_caller_is_cancelled_is_handed_back() -> None:
    """The cancel comes after the reply landed, before the caller resumed: nothing is dropped."""
    answers = _Answers([1, -1, 0, 0, "t"])
    lost: list[Any] = []
    calls = CancelSafe(answers, on_lost=lost.append)  # type: ignore[arg-type]
    caller = asyncio.ensure_future(calls.call("dequeue", []))
    # Runs before the caller resumes: the cancel finds the reply already there.
    answers.before_reply = lambda: asyncio.get_running_loop().call_soon(caller.cancel)
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert lost == [[1, -1, 0, 0, "t"]]


async def test_a_reply_that_lands_after_its_caller_was_cancelled_is_handed_back() -> None:
    answers = _Answers([1, -1, 0, 0, "t"])
    lost: list[Any] = []
    calls = CancelSafe(answers, on_lost=lost.append)  # type: ignore[arg-type]
    answers.wire.clear()
    caller = asyncio.ensure_future(calls.call("dequeue", []))
    await asyncio.sleep(0)  # the call is on the wire
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert lost == []
    answers.wire.set()
    await wait_until(lambda: lost == [[1, -1, 0, 0, "t"]], timeout=5)


async def test_a_failed_call_raises_in_its_caller_and_hands_nothing_back() -> None:
    answers = _Answers(ConnectionError("gone"))
    lost: list[Any] = []
    calls = CancelSafe(answers, on_lost=lost.append)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError, match="gone"):
        await calls.call("dequeue", [])
    caller = asyncio.ensure_future(calls.call("dequeue", []))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    for _ in range(5):
        await asyncio.sleep(0)
    assert lost == []
