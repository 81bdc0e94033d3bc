"""A queue's settings live with the queue: callers built with defaults apply the owner's.

The mixed-defaults cases first (an owner with its limits, another client of
the same queue built without them), then the stored config itself, its
scripts, the number checks, and the ``arque config`` / ``arque sweep`` CLI.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis as redis_py
import redis.asyncio as aioredis

from arque import OVERLOADED, Arque, InvalidArgument, QueueSettings, RedisUnavailable, TaskId
from arque.scripts import Scripts
from arque.settings import DEFAULTS, check_integer, check_number
from arque.testing import RedisServer
from helpers import split_record

ROOT = Path(__file__).resolve().parents[1]
LEASE = 0.05


async def _expire_once(owner: Arque, sweeper: Arque) -> int:
    """The owner takes the task and lets its lease expire; the sweeper sweeps. Returns the attempt."""
    task_id, _ = await owner.dequeue(timeout=5)
    assert task_id == "t"
    await asyncio.sleep(LEASE * 2)
    await sweeper.sweep()
    return task_id.attempt


# -- mixed defaults: the owner's limits hold for a caller built without them ----

async def test_bare_sweeper_follows_the_owners_requeue_limit(
    redis: aioredis.Redis, queue_name: str
) -> None:
    owner = Arque(redis, queue=queue_name, requeue_limit=6, task_timeout=LEASE)
    sweeper = Arque(redis, queue=queue_name)  # an ops script: no limits given
    await owner.enqueue("x", task_id="t")
    for attempt in range(1, 6):
        assert await _expire_once(owner, sweeper) == attempt
        stats = await sweeper.stats()
        assert (stats.pending, stats.failed) == (1, 0), f"dead-lettered after {attempt} leases"
    assert await _expire_once(owner, sweeper) == 6
    letter = await sweeper.get_failed("t")
    # recovery_limit was not given: it follows the queue's requeue_limit, 6.
    assert letter is not None and letter.attempts == 6 and letter.reason == "poison_pill"


async def test_bare_sweeper_follows_the_owners_recovery_limit(
    redis: aioredis.Redis, queue_name: str
) -> None:
    owner = Arque(redis, queue=queue_name, requeue_limit=6, recovery_limit=4, task_timeout=LEASE)
    sweeper = Arque(redis, queue=queue_name)
    await owner.enqueue("x", task_id="t")
    for _ in range(3):
        await _expire_once(owner, sweeper)
    assert (await sweeper.stats()).failed == 0  # the built-in 3 does not apply
    await _expire_once(owner, sweeper)
    letter = await sweeper.get_failed("t")
    assert letter is not None and letter.reason == "poison_pill" and letter.recoveries == 4


async def test_bare_client_requeue_follows_the_owners_requeue_limit(
    redis: aioredis.Redis, queue_name: str
) -> None:
    owner = Arque(redis, queue=queue_name, requeue_limit=5)
    consumer = Arque(redis, queue=queue_name)
    await owner.enqueue("x", task_id="t")
    for attempt in range(1, 5):
        task_id, _ = await consumer.dequeue(timeout=5)
        assert task_id.attempt == attempt
        assert await consumer.requeue(task_id)
        assert (await consumer.stats()).pending == 1, f"dead-lettered after {attempt} attempts"
    task_id, _ = await consumer.dequeue(timeout=5)
    assert await consumer.requeue(task_id)
    assert (await consumer.stats()).failed == 1


async def test_default_client_does_not_trim_the_owners_dead_letters(
    redis: aioredis.Redis, queue_name: str
) -> None:
    class SmallDefault(Arque):
        """A client whose built-in max_failed is small (as 10,000 is small beside 20,000)."""

        max_failed = 5

    owner = Arque(redis, queue=queue_name, max_failed=50)
    other = SmallDefault(redis, queue=queue_name)
    ids = await owner.enqueue_many(range(22))
    for _ in ids[:20]:
        task_id, _ = await owner.dequeue(timeout=5)
        assert await owner.fail(task_id, "no")
    task_id, _ = await other.dequeue(timeout=5)
    assert await other.fail(task_id, "no")  # fail.lua
    task_id, _ = await other.dequeue(timeout=5)
    assert await other.requeue(task_id)
    assert (await other.stats()).failed == 21
    assert (await other.settings()).max_failed == 50
    assert other.max_failed == 50  # the attribute shows the queue's, as last read


async def test_owner_working_limit_holds_for_a_consumer_built_without_it(
    redis: aioredis.Redis, queue_name: str
) -> None:
    owner = Arque(redis, queue=queue_name, working_limit=2)
    await owner.enqueue_many(range(5))
    consumer = Arque(redis, queue=queue_name)
    taken = [await consumer.dequeue() for _ in range(3)]
    assert all(isinstance(t, TaskId) for t, _ in taken[:2])
    assert taken[2] == (OVERLOADED, None)
    assert len(await consumer.dequeue_many(10, timeout=0.2)) == 0
    assert await consumer.release(taken[0][0])
    assert len(await consumer.dequeue_many(10, timeout=5)) == 1


def _arque(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return subprocess.run([sys.executable, "-m", "arque", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=60, check=False)


async def test_bare_sweep_command_keeps_dead_letters_the_owner_keeps_forever(
    redis: aioredis.Redis, redis_url: str, queue_name: str
) -> None:
    owner = Arque(redis, queue=queue_name, failed_ttl=0)
    await owner.enqueue("x", task_id="old")
    task_id, _ = await owner.dequeue(timeout=5)
    assert await owner.fail(task_id, "kept for ever")
    # Dead-lettered 30 days ago, by the clock of its score.
    score = await redis.zscore(owner.keys.failed, "old")
    assert score is not None
    await redis.zadd(owner.keys.failed, {"old": score - 30 * 24 * 3600 * 1000})
    done = await asyncio.to_thread(_arque, "sweep", "--redis", redis_url, "--queue", queue_name)
    assert done.returncode == 0, done.stderr
    assert await owner.get_failed("old") is not None
    # Without the owner's setting, the built-in retention (7 days) applies.
    await Arque(redis, queue=queue_name).configure(failed_ttl=None)
    done = await asyncio.to_thread(_arque, "sweep", "--redis", redis_url, "--queue", queue_name)
    assert done.returncode == 0, done.stderr
    assert await owner.get_failed("old") is None


# -- the stored config -----------------------------------------------------------

async def _stored(redis: aioredis.Redis, queue: Arque) -> dict[str, str]:
    raw = await redis.hgetall(queue.keys.config)
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes)
                                                           else v) for k, v in raw.items()}


async def test_only_given_settings_are_stored(redis: aioredis.Redis, queue_name: str) -> None:
    bare = Arque(redis, queue=queue_name, task_timeout=5, sweep_interval=1)
    await bare.enqueue("x")
    assert await redis.exists(bare.keys.config) == 0
    assert await bare.settings() == DEFAULTS.resolved()

    owner = Arque(redis, queue=queue_name, requeue_limit=6, failed_ttl=1.5, working_limit=0)
    assert await redis.exists(owner.keys.config) == 0  # not before its first call
    await owner.stats()
    assert await _stored(redis, owner) == {
        "requeue_limit": "6", "failed_ttl": "1500", "working_limit": "0"}
    assert await bare.settings() == QueueSettings(
        working_limit=0, requeue_limit=6, recovery_limit=6, max_failed=10_000, failed_ttl=1.5)
    assert (bare.requeue_limit, bare.recovery_limit, bare.failed_ttl) == (6, 6, 1.5)


async def test_seed_stats_ttl_is_the_dead_letter_retention(
    redis: aioredis.Redis, queue_name: str
) -> None:
    owner = Arque(redis, queue=queue_name, stats_ttl=60)
    assert (await owner.settings()).failed_ttl == 60
    assert await _stored(redis, owner) == {"failed_ttl": "60000"}


async def test_the_last_owner_wins_and_configure_changes_or_removes(
    redis: aioredis.Redis, queue_name: str
) -> None:
    first = Arque(redis, queue=queue_name, requeue_limit=6)
    await first.settings()
    second = Arque(redis, queue=queue_name, requeue_limit=2)
    assert (await second.settings()).requeue_limit == 2
    assert (await first.settings()).requeue_limit == 2  # the queue's, not the instance's
    changed = await first.configure(max_failed=7, requeue_limit=None)
    # requeue_limit is no longer stored: each caller's own applies (first's is 6).
    assert (changed.max_failed, changed.requeue_limit) == (7, 6)
    assert await _stored(redis, first) == {"max_failed": "7"}
    await first.configure(max_failed=None)
    assert await redis.exists(first.keys.config) == 0  # nothing stored, no key


@pytest.mark.parametrize("changes", [
    {"requeue_limit": 0}, {"working_limit": -1}, {"max_failed": 1.5}, {"failed_ttl": -1},
    {"failed_ttl": float("nan")}, {"recovery_limit": True}, {"requeue_limt": 3},
])
async def test_bad_settings_are_refused_and_nothing_is_written(
    redis: aioredis.Redis, queue_name: str, changes: dict[str, object]
) -> None:
    queue = Arque(redis, queue=queue_name)
    with pytest.raises(InvalidArgument):
        await queue.configure(**changes)  # type: ignore[arg-type]
    assert await redis.exists(queue.keys.config) == 0
    known = {k: v for k, v in changes.items() if k in QueueSettings.names()}
    if known:
        with pytest.raises(InvalidArgument):
            Arque(redis, queue=queue_name, **known)  # type: ignore[arg-type]


async def test_a_restart_without_persistence_gets_the_owners_settings_again(
    queue_name: str,
) -> None:
    with RedisServer() as server:  # no AOF, no RDB: a restart forgets everything
        async with aioredis.Redis.from_url(server.url) as redis:
            owner = Arque(redis, queue=queue_name, requeue_limit=6)
            await owner.enqueue("x")
            server.kill()
            server.start()
            for _ in range(50):  # the pooled connection died with the server
                try:
                    await owner.enqueue("y")  # NOSCRIPT: the owner writes its settings first
                    break
                except RedisUnavailable:
                    await asyncio.sleep(0.1)
            assert await _stored(redis, owner) == {"requeue_limit": "6"}
            assert (await Arque(redis, queue=queue_name).settings()).requeue_limit == 6


async def test_noscript_alone_does_not_undo_a_later_change(
    redis: aioredis.Redis, queue_name: str
) -> None:
    owner = Arque(redis, queue=queue_name, requeue_limit=6)
    await owner.enqueue("x")
    await Arque(redis, queue=queue_name).configure(requeue_limit=8)  # an operator's change
    await redis.script_flush()  # scripts forgotten, data kept (or a script never loaded)
    await owner.enqueue("y")
    assert await _stored(redis, owner) == {"requeue_limit": "8"}
    assert (await owner.settings()).requeue_limit == 8


def test_a_synchronous_producer_stores_its_settings_too(
    own_redis_server: RedisServer, queue_name: str
) -> None:
    with redis_py.Redis.from_url(own_redis_server.url) as client:
        owner = Arque(client, queue=queue_name, max_failed=77)
        owner.enqueue_sync("x")
        assert client.hgetall(owner.keys.config) == {b"max_failed": b"77"}
        client.flushall()
        client.script_flush()
        owner.enqueue_sync("y")
        assert client.hgetall(owner.keys.config) == {b"max_failed": b"77"}
        assert owner.max_failed == 77


async def test_a_hand_written_bad_value_is_ignored(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    await redis.hset(queue.keys.config, mapping={"requeue_limit": "many",
                                                 "some_future_setting": "1"})
    assert await queue.settings() == DEFAULTS.resolved()
    await queue.enqueue("x", task_id="t")
    task_id, _ = await queue.dequeue(timeout=5)
    assert task_id.attempt == 1  # the script fell back to the caller's requeue_limit


async def test_config_key_of_another_type_is_refused(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, requeue_limit=2)
    await redis.set(queue.keys.config, "not a hash")
    with pytest.raises(Exception, match="config") as caught:
        await queue.enqueue("x")
    assert type(caught.value).__name__ == "WrongKeyType"


# -- the scripts read the config themselves ---------------------------------------

async def test_scripts_read_the_stored_limits(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    scripts = Scripts(redis, queue.keys)  # no configure step: the scripts alone
    await queue.enqueue_many(["a", "b"], task_ids=["a", "b"])
    await redis.hset(queue.keys.config, mapping={"working_limit": 1, "requeue_limit": 1})
    # ARGV says working_limit 1000, requeue_limit 3: the stored 1 and 1 win.
    reply = await scripts.call("dequeue", [5, 1000, 3, 10_000])
    assert int(reply[0]) == 1 and len(reply) == 4 + 8  # one task (8 fields): the limit is 1
    assert int((await scripts.call("dequeue", [5, 1000, 3, 10_000]))[0]) == 2  # overloaded
    assert int(await scripts.call("requeue", ["a", "", 0, "", 3, 10_000, 1])) == 2  # dead
    await redis.hset(queue.keys.config, mapping={"max_failed": 1, "failed_ttl": 1})
    task = await scripts.call("dequeue", [1, 1000, 3, 10_000])
    assert int(await scripts.call("fail", [task[4], "", "rejected", "no", 10_000])) == 1
    assert await redis.zrange(queue.keys.failed, 0, -1) in (["b"], [b"b"])  # trimmed to 1
    await asyncio.sleep(0.01)
    assert await scripts.call("sweep", [3, 0, 10_000, 0, 100]) == [0, 0, 0, 1]  # ttl 1 ms


async def test_configure_script_writes_removes_and_reads(
    redis: aioredis.Redis, queue_name: str
) -> None:
    scripts = Scripts(redis, Arque(redis, queue=queue_name).keys)
    assert await scripts.call("configure", [1, "requeue_limit", 4, "max_failed", 9]) in (
        [b"requeue_limit", b"4", b"max_failed", b"9"], [b"max_failed", b"9", b"requeue_limit", b"4"])
    assert await scripts.call("configure", [0, "requeue_limit", ""]) == [b"max_failed", b"9"]
    # only_if_none: the queue stores a setting already, so nothing is written.
    assert await scripts.call("configure", [1, "working_limit", 5]) == [b"max_failed", b"9"]
    assert await scripts.call("configure", [0]) == [b"max_failed", b"9"]


# -- number checks, written once ---------------------------------------------------

def test_number_checks() -> None:
    assert check_number("x", 2) == 2.0 and check_number("x", 0, zero=True) == 0.0
    assert check_integer("x", 0, minimum=0) == 0
    for bad in (0, -1, float("inf"), float("nan"), True, "1", None):
        with pytest.raises(InvalidArgument, match="x must be"):
            check_number("x", bad)
    for bad in (0, 1.0, True, "1"):
        with pytest.raises(InvalidArgument, match="x must be an integer >= 1"):
            check_integer("x", bad)


def test_settings_object_is_frozen_and_checked() -> None:
    settings = QueueSettings(requeue_limit=6)
    assert settings.resolved().recovery_limit == 6 and settings.redis_value("failed_ttl") == 604_800_000
    with pytest.raises(AttributeError):
        settings.requeue_limit = 2  # type: ignore[misc]
    with pytest.raises(InvalidArgument):
        QueueSettings(max_failed=-1)
    assert QueueSettings.names() == (
        "working_limit", "requeue_limit", "recovery_limit", "max_failed", "failed_ttl", "result_ttl",
        "max_results", "group_limit", "rate_limit", "rate_window", "group_rate_limit",
        "group_rate_window")


# -- the CLI -----------------------------------------------------------------------

def test_config_command_shows_sets_and_resets(redis_url: str, queue_name: str) -> None:
    where = ["--redis", redis_url, "--queue", queue_name]
    done = _arque("config", "set", "requeue_limit=6", "failed_ttl=0", *where)
    assert done.returncode == 0, done.stderr
    shown = json.loads(_arque("config", "show", "--json", *where).stdout)
    assert shown["queue"] == queue_name
    assert shown["settings"]["requeue_limit"] == 6 and shown["settings"]["failed_ttl"] == 0
    assert shown["stored"] == ["failed_ttl", "requeue_limit"]
    rows = [line.split() for line in _arque("config", "show", *where).stdout.splitlines()]
    assert ["requeue_limit", "6", "stored"] in rows and ["max_failed", "10000", "default"] in rows
    done = _arque("config", "reset", "requeue_limit", *where)
    assert done.returncode == 0, done.stderr
    shown = json.loads(_arque("config", "show", "--json", *where).stdout)
    assert shown["settings"]["requeue_limit"] == 3 and shown["stored"] == ["failed_ttl"]
    for bad in (["set", "requeue_limit=0"], ["set", "nope=1"], ["set", "requeue_limit"],
                ["set", "requeue_limit=x"], ["reset", "nope"]):
        done = _arque("config", *bad, *where)
        assert done.returncode == 2 and done.stderr.startswith("arque: error: "), (bad, done)


def test_worker_command_applies_its_flags_and_the_stored_limits(
    redis_url: str, queue_name: str
) -> None:
    where = ["--redis", redis_url, "--queue", queue_name]
    assert _arque("config", "set", "requeue_limit=1", *where).returncode == 0
    assert _arque("enqueue", '{"sleep": 60}', "--task-id", "slow", *where).returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "arque", "worker", "tests.cli_app:handler", *where,
         "--task-timeout", "0.3", "--batch-size", "1", "--sweep-interval", "0.5"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    with proc, redis_py.Redis.from_url(redis_url) as client:
        keys = Arque(client, queue=queue_name).keys
        try:
            deadline = time.monotonic() + 30
            while not client.zscore(keys.failed, "slow"):
                assert time.monotonic() < deadline, "not dead-lettered"
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        meta = json.loads(split_record(client.hget(keys.tasks, "slow") or b"{}")[0])
    assert proc.returncode == 0 and "Traceback" not in err, err
    # Cut off by --task-timeout (its lease is 120 s), dead at once by the stored requeue_limit.
    assert meta["why"] == "retries_exhausted" and "timed out after 0.3 s" in meta["err"], meta
    assert "--batch-size" in _arque("worker", "--help").stdout


@pytest.mark.parametrize("command", [["config"], ["config", "show"], ["config", "set"],
                                     ["config", "reset"]], ids=" ".join)
def test_help_of_the_config_commands(command: list[str]) -> None:
    done = _arque(*command, "--help")
    assert done.returncode == 0 and done.stdout.startswith("Usage: arque"), done.stderr
    assert "Exit codes:" in done.stdout
