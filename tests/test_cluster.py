"""arque on a real Redis Cluster: one slot per queue, many queues over the nodes.

Every key of a queue carries the hash tag ``{queue}``, so each script and each
transaction touches a single slot; a CROSSSLOT error anywhere would surface
here as a ``ServerError``.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import redis as redis_py
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.crc import key_slot

from arque import Arque, DeadReason, QueueKeys, TaskId
from arque.keys import SCHED_ROLES
from arque.testing import RedisCluster
from helpers import queue_keys_left

pytestmark = pytest.mark.cluster


def _queue() -> str:
    return f"cluster-{uuid.uuid4().hex}"


def test_every_key_of_a_queue_hashes_to_one_slot() -> None:
    for prefix, queue in (("arque", "default"), ("app", "emails"), ("x", "a:b-c.d"), ("p", "é")):
        names = list(QueueKeys.for_queue(prefix, queue).names().values())
        # 7 task keys, config and timer, one dead-letter index per reason, 3 keys of
        # the workers, 8 of cancellation, results and schedules, and the keys of
        # what runs next (priorities, groups, rate windows).
        assert len(set(names)) == len(names) == 9 + len(DeadReason) + 3 + 8 + len(SCHED_ROLES)
        slots = {key_slot(name.encode()) for name in names}
        assert slots == {key_slot(queue.encode())}, (prefix, queue, slots)


async def test_keyslot_of_the_client_agrees(cluster_client: AsyncRedisCluster) -> None:
    keys = QueueKeys.for_queue("arque", "orders")
    assert {cluster_client.keyslot(name) for name in keys.names().values()} == {
        cluster_client.keyslot("orders")
    }


async def test_queues_spread_over_the_nodes(
    cluster_client: AsyncRedisCluster, redis_cluster: RedisCluster
) -> None:
    await cluster_client.initialize()  # load the slot map
    names = [f"queue-{i}" for i in range(10)]
    slots = {name: cluster_client.keyslot(QueueKeys.for_queue("arque", name).pending) for name in names}
    nodes = {
        name: cluster_client.get_node_from_key(QueueKeys.for_queue("arque", name).pending).name
        for name in names
    }
    print(f"\n10 queues over {len(set(nodes.values()))} nodes: {sorted(slots.values())}")
    assert len(set(slots.values())) == 10
    assert len(set(nodes.values())) >= 2

    # And the data really lands there: each node holds only its own queues' keys.
    prefix = f"spread-{uuid.uuid4().hex[:8]}"
    queues = [Arque(cluster_client, prefix=prefix, queue=name) for name in names]
    for queue in queues:
        await queue.enqueue({"q": queue.queue}, task_id="t")
    for host, port in redis_cluster.startup_nodes:
        node_name = f"{host}:{port}"
        with redis_py.Redis(host=host, port=port) as direct:
            held = {key.decode() for key in direct.scan_iter(match=f"{prefix}:*")}
        expected = {
            key for q in queues if nodes[q.queue] == node_name
            for key in (q.keys.pending, q.keys.tasks, q.keys.marker)
        }
        assert held == expected, node_name
    for queue in queues:
        (task_id, data) = await queue.dequeue(timeout=1)
        assert data == {"q": queue.queue}
        assert await queue.release(task_id)
        assert await queue_keys_left(cluster_client, queue) == []


async def test_every_operation_runs_on_one_slot(cluster_client: AsyncRedisCluster) -> None:
    queue = Arque(cluster_client, queue=_queue(), requeue_limit=2, task_timeout=5)

    # enqueue, enqueue_many, duplicate enqueue, get_stats, get_task_stats
    assert await queue.enqueue({"n": 0}, task_id="one") == "one"
    assert await queue.enqueue({"n": 0}, task_id="one") == "one"
    ids = await queue.enqueue_many([{"n": i} for i in range(1, 6)], [f"m{i}" for i in range(1, 6)])
    assert ids == [f"m{i}" for i in range(1, 6)]
    assert await queue.enqueue({"n": 9}, task_id="later", delay=2) == "later"
    stats = await queue.get_stats()
    assert stats == {"tasks": 7, "pending": 6, "working": 0, "delayed": 1, "failed": 0}
    task_stats = await queue.get_task_stats("later")
    assert task_stats is not None and task_stats["state"] == "delayed"

    # dequeue, dequeue_many, extend, requeue with a delay, release, fail
    task_id, data = await queue.dequeue(timeout=1)
    assert isinstance(task_id, TaskId) and data == {"n": 0}
    batch = sorted(await queue.dequeue_many(5, timeout=1))
    assert [t for t, _ in batch] == [f"m{i}" for i in range(1, 6)]
    assert await queue.extend(task_id, 10)
    assert await queue.extend_many([t for t, _ in batch]) == [True] * 5
    assert await queue.requeue(task_id, delay=0.2, error="try later")
    assert (await queue.get_task_stats("one") or {})["state"] == "delayed"
    assert await queue.release_many([t for t, _ in batch[:3]]) == [True] * 3
    assert await queue.fail(batch[3][0], "bad input")
    assert await queue.requeue(batch[4][0])  # straight back to pending

    # the delayed one comes back on time, through the blocking wait
    again, data = await queue.dequeue(timeout=3)
    assert (again, data) in [("one", {"n": 0}), ("m5", {"n": 5})]
    other, _ = await queue.dequeue(timeout=3)
    assert {again, other} == {"one", "m5"}

    # the last attempt of "one" and "m5": requeue dead-letters them
    assert await queue.requeue(again, error="still failing")
    assert await queue.requeue(other, error="still failing")
    assert (await queue.get_stats())["failed"] == 3

    # sweep recovers an expired lease
    short = Arque(cluster_client, queue=queue.queue, requeue_limit=2, task_timeout=0.1)
    await short.enqueue({"n": 7}, task_id="lease")
    held, _ = await short.dequeue(timeout=1)
    assert held == "lease"
    await asyncio.sleep(0.25)
    assert await short.sweep() == 1
    retaken, _ = await short.dequeue(timeout=1)
    assert retaken == "lease" and retaken.token != held.token
    assert not await short.release(held)
    assert await short.release(retaken)

    # dead letters: list, get, replay one, purge one, purge all
    failed = await queue.list_failed()
    assert sorted(r.task_id for r in failed) == ["m4", "m5", "one"]
    record = await queue.get_failed("m4")
    assert record is not None and record.reason == DeadReason.REJECTED
    assert record.error == "bad input"
    assert await queue.get_failed("nope") is None
    assert await queue.replay_failed("m4") == 1
    replayed, data = await queue.dequeue(timeout=1)
    assert replayed == "m4" and data == {"n": 4}
    assert await queue.release(replayed)
    assert await queue.replay_failed(reason="retries_exhausted") == 2
    for _ in range(2):
        task_id, _ = await queue.dequeue(timeout=1)
        assert await queue.fail(task_id, "for good")
    assert await queue.purge_failed("one") == 1
    assert await queue.purge_failed() == 1

    # the delayed task comes due last; then the queue is empty and keeps no key
    assert (await queue.get_stats())["delayed"] == 1
    late, data = await queue.dequeue(timeout=5)
    assert (late, data) == ("later", {"n": 9})
    assert await queue.release(late)
    assert await queue.get_stats() == {
        "tasks": 0, "pending": 0, "working": 0, "delayed": 0, "failed": 0
    }
    # The owner's settings stay (configuration, not task data), on the queue's slot too.
    assert await queue_keys_left(cluster_client, queue) == [queue.keys.config]
    assert (await queue.settings()).requeue_limit == 2


async def test_idle_consumer_wakes_on_a_new_task(cluster_client: AsyncRedisCluster) -> None:
    queue = Arque(cluster_client, queue=_queue())
    assert await queue.dequeue(timeout=0.2) == (None, None)
    waiter = asyncio.ensure_future(queue.dequeue(timeout=5))
    await asyncio.sleep(0.2)
    await queue.enqueue("ping", task_id="p")
    task_id, data = await asyncio.wait_for(waiter, 5)
    assert (task_id, data) == ("p", "ping")
    assert await queue.release(task_id)
    assert await queue_keys_left(cluster_client, queue) == []


def test_enqueue_sync_on_a_sync_cluster_client(redis_cluster: RedisCluster) -> None:
    host, port = redis_cluster.startup_nodes[0]
    with SyncRedisCluster(host=host, port=port) as client:
        queue = Arque(client, queue=_queue())
        assert queue.enqueue_sync({"x": 1}, task_id="s") == "s"
        assert client.llen(queue.keys.pending) == 1
        client.delete(queue.keys.pending)
        client.delete(queue.keys.tasks)
        client.delete(queue.keys.marker)


class _StrOnly:
    """A text serializer whose loads takes str only (arque 1.1.0 style)."""

    binary = False

    def dumps(self, obj: object) -> str:
        return json.dumps(obj)

    def loads(self, data: str | bytes) -> object:
        assert isinstance(data, str), f"loads got {type(data).__name__}"
        return json.loads(data)


async def test_decode_mode_is_read_from_a_cluster_client(redis_cluster: RedisCluster) -> None:
    """decode_responses lives off any connection pool in a cluster client."""
    host, port = redis_cluster.startup_nodes[0]
    client = AsyncRedisCluster(host=host, port=port, decode_responses=True)
    try:
        queue = Arque(client, queue=_queue(), serializer=_StrOnly())
        await queue.enqueue({"a": 1}, task_id="t")
        task_id, data = await queue.dequeue()
        assert (task_id, data) == ("t", {"a": 1})  # str mode seen: loads got str
        assert await queue.release(task_id)
    finally:
        await client.aclose()


async def test_socket_timeout_is_read_from_a_cluster_client(redis_cluster: RedisCluster) -> None:
    """An idle wait blocks in Redis below the client's socket timeout, so it ends cleanly."""
    host, port = redis_cluster.startup_nodes[0]
    client = AsyncRedisCluster(host=host, port=port, socket_timeout=1.0)
    try:
        queue = Arque(client, queue=_queue())
        assert await queue.dequeue(timeout=2.5) == (None, None)
        assert await queue.dequeue_many(5, timeout=2.5) == []
    finally:
        await client.aclose()


async def test_priorities_groups_and_limits_on_a_cluster(cluster_client: AsyncRedisCluster) -> None:
    queue = Arque(cluster_client, queue=_queue(), group_limit=1, rate_limit=(100, 1.0))
    await queue.enqueue_many(range(2), task_ids=["a0", "a1"], group="a")
    await queue.enqueue("b0", task_id="b0", group="b", priority=3)
    await queue.enqueue("p0", task_id="p0", priority=-1)
    taken = [str(t) for t, _ in await queue.dequeue_many(10)]
    assert taken == ["a0", "b0", "p0"]  # a1 waits for a's slot
    assert all(await queue.release_many(taken))
    assert [str(t) for t, _ in await queue.dequeue_many(10)] == ["a1"]
