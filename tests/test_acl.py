"""ACL: each role works holding only the rules ``arque acl`` prints; one rule less is a clear error.

The users are made on a private server from the CLI's own output, so the
lines the documentation tells operators to run are the ones tested.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from arque import Arque, Durability, NotDurable, PermissionDenied
from arque.acl import ROLES, acl_rules, script_commands, setuser_line
from arque.registry import list_workers
from arque.scripts import KEYS, Scripts, source
from arque.testing import RedisServer
from topology import ROOT, cli, ok, run_worker_until_done

QUEUE = "emails"
PASSWORD = "s3cret-pw"


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    """A private server with one user per role, made from ``arque acl``'s lines."""
    with RedisServer() as server:
        lines = ok("acl", "--queue", QUEUE, "--durable").splitlines()
        assert len(lines) == 3
        with server.client() as admin:
            for line in lines:
                assert admin.execute_command(*line.split()) in (b"OK", "OK", True)
                admin.execute_command("ACL", "SETUSER", line.split()[2], f">{PASSWORD}")
            # The same worker rules but BZPOPMIN: the one-rule-less case.
            rules = [r for r in acl_rules("worker", [QUEUE]) if r != "+bzpopmin"]
            admin.execute_command(*setuser_line("no-bzpopmin", rules).split(), f">{PASSWORD}")
            # The producer's rules but ZADD, the last write of a lone enqueue.
            rules = [r for r in acl_rules("producer", [QUEUE]) if r != "+zadd"]
            admin.execute_command(*setuser_line("no-zadd", rules).split(), f">{PASSWORD}")
        yield server


def url(server: RedisServer, user: str) -> str:
    return f"redis://{user}:{PASSWORD}@127.0.0.1:{server.port}"


@pytest.fixture
async def as_user(server: RedisServer) -> AsyncIterator[dict[str, Arque]]:
    """A queue per user: producer, worker, operator, no-bzpopmin, no-zadd."""
    clients = {u: aioredis.Redis.from_url(url(server, f"arque-{QUEUE}-{u}")) for u in ROLES}
    for user in ("no-bzpopmin", "no-zadd"):
        clients[user] = aioredis.Redis.from_url(url(server, user))
    try:
        yield {user: Arque(client, queue=QUEUE) for user, client in clients.items()}
    finally:
        for client in clients.values():
            await client.aclose()


def test_every_script_command_is_a_literal() -> None:
    # The rules are read from the scripts: a command built at run time would escape them.
    for name in KEYS:
        assert source(name).count("redis.call(") + source(name).count("redis.pcall(") == \
            len(re.findall(r"redis\.p?call\(\s*'[A-Za-z]+'", source(name))), name
        assert script_commands(name)


def test_the_printed_rules() -> None:
    line = ok("acl", "--queue", QUEUE, "--role", "producer", "--user", "app").strip()
    assert line.startswith("ACL SETUSER app on resetkeys ~arque:{emails}:* resetchannels -@all ")
    assert "+evalsha" in line and "+script|load" in line and "+lpush" in line
    assert "+rpop" not in line and "+wait" not in line and "&" not in line  # no channels
    worker = ok("acl", "--queue", "a", "--queue", "b", "--role", "worker", "--prefix", "p")
    assert "~p:{a}:* ~p:{b}:*" in worker and "+bzpopmin" in worker
    assert "~x:{q\\*}:*" in ok("acl", "--queue", "q*", "--prefix", "x", "--role", "worker")
    assert cli("acl", "--role", "worker", "--role", "producer", "--user", "u").returncode == 2


def test_the_documented_rules_are_the_printed_ones() -> None:
    documented = (ROOT / "docs" / "security.md").read_text()
    for line in ok("acl", "--queue", "emails").splitlines():
        assert line in documented


async def test_producer_enqueues_and_nothing_more(as_user: dict[str, Arque]) -> None:
    producer = as_user["producer"]
    await producer.enqueue({"n": 1})
    with pytest.raises(PermissionDenied, match=r"lacks '\+\w+', which script dequeue calls") as e:
        await producer.dequeue(timeout=1)
    assert (e.value.permission or "").startswith("+")
    with pytest.raises(PermissionDenied, match=r"lacks the keys of this queue") as e:
        await Arque(producer.redis, queue="other").enqueue({"n": 1})
    assert e.value.permission == "~arque:{other}:*"
    # --durable allowed WAIT: this server has no replica, so the wait itself answers.
    durable = Arque(producer.redis, queue=QUEUE, durability=Durability(timeout=0.1))
    with pytest.raises(NotDurable):
        await durable.enqueue({"n": 2})
    assert (await as_user["operator"].stats()).pending >= 2
    await as_user["operator"].purge_failed()


async def test_a_worker_runs_tasks_as_the_worker_user(as_user: dict[str, Arque]) -> None:
    renewed = await run_worker_until_done(as_user["worker"], 3, sleep=0.6,
                                          producer=as_user["producer"])
    assert len(renewed) == 3 and min(renewed) > 0.2  # the heartbeat's EVALSHA passed too


async def test_the_worker_role_registers_and_records_throughput(
    as_user: dict[str, Arque]
) -> None:
    # What a Worker's observers send (their failures are only logged at debug level).
    worker = as_user["worker"]
    scripts = Scripts(worker.redis, worker.keys)
    await scripts.call("register_worker", ["w1", 10_000, '{"host": "h", "pid": 1}'])
    await scripts.call("record_throughput", [180, "released", 3])
    assert [w.name for w in await list_workers(as_user["operator"])] == ["w1"]
    await scripts.call("register_worker", ["w1", 0, "{}"])  # withdraw


async def test_one_rule_less_names_it(as_user: dict[str, Arque]) -> None:
    await as_user["producer"].enqueue({"n": 1})
    await as_user["worker"].dequeue_many(100, timeout=1)  # leave nothing ready
    with pytest.raises(PermissionDenied, match="'bzpopmin'"):
        await as_user["no-bzpopmin"].dequeue(timeout=1)


async def test_a_refused_last_write_takes_back_the_others(
    server: RedisServer, as_user: dict[str, Arque]
) -> None:
    # A lone enqueue writes the task's record and its id before ZADD is refused.
    async with aioredis.Redis.from_url(server.url) as admin:
        keys = list(as_user["no-zadd"].keys.names().values())
        before = [await admin.dump(key) for key in keys]
        with pytest.raises(PermissionDenied, match=r"lacks '\+zadd', which script enqueue"):
            await as_user["no-zadd"].enqueue({"n": 1})
        assert [await admin.dump(key) for key in keys] == before


def test_the_cli_as_operator_and_as_a_user_without_rights(server: RedisServer) -> None:
    where = ["--redis", url(server, f"arque-{QUEUE}-operator"), "--queue", QUEUE]
    task_id = ok("enqueue", *where, '{"fail": true}').strip()
    ok("stats", *where)
    ok("sweep", *where)
    ok("config", "show", *where)
    ok("failed", "list", *where)
    proc = subprocess.Popen(
        [sys.executable, "-m", "arque", "worker", "tests.cli_app:handler", "--queue", QUEUE,
         "--redis", url(server, f"arque-{QUEUE}-worker")],
        cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while task_id not in ok("failed", "list", *where):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err
    ok("failed", "show", *where, task_id)
    ok("failed", "purge", *where, "--all", "--yes")

    as_producer = ["--redis", url(server, f"arque-{QUEUE}-producer"), "--queue", QUEUE]
    done = cli("stats", *as_producer)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert re.search(r"lacks '\+\w+', which script stats calls", done.stderr), done.stderr
    assert PASSWORD not in done.stderr
