"""The Lua scripts: headers agree with the wrappers, and a flushed cache is survived."""

from __future__ import annotations

import asyncio
import re
from importlib import resources

import pytest
import redis.asyncio as aioredis

from arque import Arque
from arque.errors import WrongKeyType
from arque.keys import SCHED_ROLES, QueueKeys
from arque.scripts import KEYS, source

SCRIPT_FILES = sorted(
    p.name[:-4] for p in resources.files("arque.scripts").iterdir() if p.name.endswith(".lua")
)


def test_every_script_file_has_a_wrapper() -> None:
    assert SCRIPT_FILES == sorted(KEYS)


@pytest.mark.parametrize("name", SCRIPT_FILES)
def test_header_names_the_keys_in_wrapper_order(name: str) -> None:
    text = source(name)
    header = re.findall(r"^-- KEYS\[(\d+)\]\s+(\w+)", text, flags=re.MULTILINE)
    assert [int(i) for i, _ in header] == list(range(1, len(header) + 1))
    assert tuple(role for _, role in header) == KEYS[name]
    assert set(KEYS[name]) <= set(QueueKeys.for_queue("p", "q").names())
    assert re.search(r"^-- ARGV", text, flags=re.MULTILINE), "the header must describe ARGV"
    assert re.search(r"^-- returns ", text, flags=re.MULTILINE), "the header must describe the reply"
    # Scripts build no key names: all come in KEYS (Redis Cluster).
    assert "..':'.." not in text.replace(" ", "")


@pytest.mark.parametrize("name", SCRIPT_FILES)
def test_includes_are_resolved(name: str) -> None:
    assert "--@include" not in source(name)


async def test_survives_script_flush(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=1)
    await queue.enqueue("a", task_id="a")
    await redis.script_flush()
    task_id, _ = await queue.dequeue()
    await redis.script_flush()
    assert await queue.extend(task_id)
    await redis.script_flush()
    assert await queue.requeue(task_id)  # the last attempt: dead-lettered
    await redis.script_flush()
    assert await queue.replay_failed() == 1
    await redis.script_flush()
    task_id, _ = await queue.dequeue()
    await redis.script_flush()
    assert await queue.release(task_id)
    await redis.script_flush()
    assert await queue.sweep() == 0
    await redis.script_flush()
    assert await queue.purge_failed() == 0
    await redis.script_flush()
    await queue.enqueue("b", task_id="b")
    task_id, _ = await queue.dequeue()
    await redis.script_flush()
    assert await queue.fail(task_id, "no")
    assert (await queue.get_stats())["failed"] == 1


async def test_life_scripts_survive_script_flush(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name, result_ttl=60)
    await queue.schedule("s", "tick", every=0.05)
    await redis.script_flush()
    assert [s.name for s in await queue.schedules()] == ["s"]
    await asyncio.sleep(0.1)
    await redis.script_flush()
    assert (await queue.fire_schedules())[0] == 1
    await redis.script_flush()
    assert await queue.unschedule("s")
    task_id, _ = await queue.dequeue()
    await redis.script_flush()
    assert await queue.progress(task_id, 0.5)
    await redis.script_flush()
    assert await queue.release(task_id, result="r")
    await redis.script_flush()
    assert await queue.result(str(task_id)) == "r"
    await redis.script_flush()
    assert await queue.sweep() == 0  # expire_results too
    await queue.enqueue("c", task_id="c")
    await redis.script_flush()
    assert await queue.cancel("c")


def test_sched_keys_follow_the_roles_in_order() -> None:
    """includes/sched_keys.lua names the keys of what runs next in SCHED_ROLES order."""
    text = (resources.files("arque.scripts") / "includes" / "sched_keys.lua").read_text()
    table = re.search(r"return \{(.*?)\}", text, flags=re.DOTALL)
    assert table is not None
    pairs = re.findall(r"(\w+) = KEYS\[first(?: \+ (\d+))?\]", table.group(1))
    assert [(role, int(offset or 0)) for role, offset in pairs] == [
        (role, i) for i, role in enumerate(SCHED_ROLES)]
    for name, keys in KEYS.items():
        if "seq" in keys:  # the scripts that take the whole block
            assert keys[-len(SCHED_ROLES):] == SCHED_ROLES, name


async def _snapshot(redis: aioredis.Redis, queue: Arque) -> dict[str, bytes | None]:
    """Every key of the queue, dumped: equal snapshots mean nothing was written."""
    names = queue.keys.names().values()
    return {key: await redis.dump(key) for key in names}


# The operation under test, after a set-up that leaves ready, working and
# leased tasks behind (so the keys that usually exist do).
_CALLS = {
    # Two tasks: a lone plain task takes the path that writes three keys only
    # (test_a_lone_enqueue_writes_nothing_when_a_key_it_writes_is_wrong).
    "enqueue": lambda queue, held: queue.enqueue_many(["new", "newer"]),
    "dequeue": lambda queue, held: queue.dequeue(),
    "release": lambda queue, held: queue.release(held),
    "requeue": lambda queue, held: queue.requeue(held),
    "fail": lambda queue, held: queue.fail(held, "no"),
    "sweep": lambda queue, held: queue.sweep(),
}
# Keys a script is given (the whole block of what runs next) but never writes.
_RATE_WINDOWS = {"starts", "group_starts", "group_windows"}  # written by dequeue alone
_UNWRITTEN = {"enqueue": {"group_working", *_RATE_WINDOWS}, "release": _RATE_WINDOWS,
              "requeue": _RATE_WINDOWS, "fail": _RATE_WINDOWS, "sweep": _RATE_WINDOWS}


@pytest.mark.parametrize("name", sorted(_CALLS))
async def test_a_wrong_type_behind_existing_keys_writes_nothing(
    redis: aioredis.Redis, queue_name: str, name: str
) -> None:
    """Each key the script may write is checked, whichever keys exist before it.

    ensure_types asks TYPE only until it has found as many keys as EXISTS
    counted: a key of the wrong type after keys that exist must still be found.
    """
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue_many(["a", "b", "c"])
    held, _ = await queue.dequeue()
    names = queue.keys.names()
    absent = [role for role in KEYS[name]
              if role not in _UNWRITTEN.get(name, ()) and not await redis.exists(names[role])]
    assert len(absent) >= 5, absent  # the keys of features not in use
    for role in absent:
        key = names[role]
        if role in ("seq", "timer"):
            await redis.rpush(key, "wrong")
        else:
            await redis.set(key, "wrong")
        before = await _snapshot(redis, queue)
        with pytest.raises(WrongKeyType) as caught:
            await _CALLS[name](queue, held)
        # Named by ensure_types, or Redis's own reply to a read made before any write
        # (Redis 6.2 wraps it: "ERR Error running script ...: WRONGTYPE ...").
        assert key in str(caught.value) or "WRONGTYPE" in str(caught.value)
        assert await _snapshot(redis, queue) == before, f"{name} wrote with {role} of the wrong type"
        await redis.delete(key)


@pytest.mark.parametrize("others", ["absent", "present"])
@pytest.mark.parametrize("role", ["tasks", "pending", "marker"])
async def test_a_lone_enqueue_writes_nothing_when_a_key_it_writes_is_wrong(
    redis: aioredis.Redis, queue_name: str, role: str, others: str
) -> None:
    """One plain task checks each key by writing it, and takes back the writes before a refusal."""
    queue = Arque(redis, queue=queue_name)
    if others == "present":
        await queue.enqueue_many(["a", "b"])  # pending, tasks and marker exist
    key = queue.keys.names()[role]
    await redis.delete(key)
    await redis.set(key, "wrong")
    before = await _snapshot(redis, queue)
    with pytest.raises(WrongKeyType, match=re.escape(key)):
        await queue.enqueue("new")
    assert await _snapshot(redis, queue) == before
    await redis.delete(key)
    assert await queue.enqueue("new", task_id="n") == "n"
    kept = 2 if others == "present" and role != "pending" else 0  # the set-up's a and b
    assert (await queue.get_stats())["pending"] == kept + 1
