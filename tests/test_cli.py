"""The ``arque`` command, every command run as a real process: ``python -m arque ...``."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque, QueueStats
from helpers import child_env

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "redis://127.0.0.1:1"


def cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """Run ``python -m arque ARGS`` from the repository root; stdin is never a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "arque", *args], cwd=ROOT, env=env or child_env(), text=True,
        input=stdin if stdin is not None else "", capture_output=True, timeout=60, check=False,
    )


def ok(*args: str, stdin: str | None = None) -> str:
    done = cli(*args, stdin=stdin)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    """The run failed with ``code`` and one line ``arque: error: ...``, no traceback."""
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("arque: error: "), done.stderr
    return lines[0]


def on(redis_url: str, queue: str, *args: str) -> list[str]:
    return [*args, "--redis", redis_url, "--queue", queue]


def stats_of(redis_url: str, queue: str) -> QueueStats:
    async def read() -> QueueStats:
        async with aioredis.Redis.from_url(redis_url) as client:
            return await Arque(client, queue=queue).stats()
    return asyncio.run(read())


def dead_letters(redis_url: str, queue: str, reasons: list[str]) -> list[str]:
    """Put one task per reason in dead letters, through the API; returns their ids."""
    async def make() -> list[str]:
        async with aioredis.Redis.from_url(redis_url) as client:
            arque = Arque(client, queue=queue)
            ids = await arque.enqueue_many([{"n": i} for i in range(len(reasons))])
            why = dict(zip(ids, reasons))
            while why:  # in pages: working_limit caps what is taken at once
                for task_id, _ in await arque.dequeue_many(100, timeout=5):
                    reason = why.pop(task_id)
                    assert await arque.fail(task_id, f"boom {task_id}\nsecond line", reason)
            return ids
    return asyncio.run(make())


# -- help and usage -------------------------------------------------------------

@pytest.mark.parametrize("command", [
    [], ["worker"], ["stats"], ["failed"], ["failed", "list"], ["failed", "show"],
    ["failed", "replay"], ["failed", "purge"], ["enqueue"], ["sweep"], ["demo"],
], ids=lambda c: " ".join(c) or "arque")
def test_help_of_every_command(command: list[str]) -> None:
    out = ok(*command, "--help")
    assert out.startswith("Usage: arque")
    if command in ([], ["worker"]):
        assert "Exit codes:" in out and "4  worker: MODULE:HANDLER" in out


def test_usage_errors_exit_2(redis_url: str, queue_name: str) -> None:
    assert cli("stats", "--interval", "1", "--redis", redis_url).returncode == 2
    assert cli("nonsense").returncode == 2
    several = cli(*on(UNREACHABLE, queue_name, "failed", "list"), "--queue", "other")
    assert several.returncode == 2 and "works on one queue, not 2" in several.stderr


# -- stats, enqueue, sweep ------------------------------------------------------

def test_enqueue_then_stats_shows_it(redis_url: str, queue_name: str) -> None:
    task_id = ok(*on(redis_url, queue_name, "enqueue", '{"to": "ada"}')).strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{14}", task_id), task_id
    added = json.loads(ok(*on(redis_url, queue_name, "enqueue", "[1, 2]", "--task-id", "later",
                              "--delay", "60", "--task-timeout", "5", "--json")))
    assert added == {"queue": queue_name, "task_ids": ["later"]}

    report = json.loads(ok(*on(redis_url, queue_name, "stats", "--json"), "--queue", "empty"))
    assert report["queues"][queue_name] == {
        "tasks": 2, "pending": 1, "working": 0, "delayed": 1, "failed": 0}
    assert report["queues"]["empty"]["tasks"] == 0
    assert report["time"] == pytest.approx(time.time(), abs=30)

    header, *rows = ok(*on(redis_url, queue_name, "stats")).splitlines()
    assert header.split() == ["queue", "pending", "delayed", "working", "failed", "tasks"]
    assert rows[0].split() == [queue_name, "1", "1", "0", "0", "2"]
    assert len(header) == len(rows[0])  # aligned


def test_stats_shows_groups_with_work(redis_url: str, queue_name: str) -> None:
    for n in range(3):
        ok(*on(redis_url, queue_name, "enqueue", f'{{"n": {n}}}', "--group", "tenant-42",
               "--priority", "5"))
    ok(*on(redis_url, queue_name, "enqueue", "{}", "--group", "solo"))
    assert "priority" in ok(*on(redis_url, queue_name, "enqueue", "--help"))
    report = json.loads(ok(*on(redis_url, queue_name, "stats", "--json")))
    assert report["queues"][queue_name]["pending"] == 4
    assert sorted(report["groups"][queue_name], key=lambda g: g["group"]) == [
        {"group": "solo", "pending": 1, "working": 0, "held_until": None},
        {"group": "tenant-42", "pending": 3, "working": 0, "held_until": None}]
    text = ok(*on(redis_url, queue_name, "stats")).splitlines()
    header = text.index("") + 1
    assert text[header].split() == ["queue", "group", "pending", "working", "held"]
    assert sorted(line.split()[1:] for line in text[header + 1:]) == [
        ["solo", "1", "0"], ["tenant-42", "3", "0"]]
    bad = cli(*on(redis_url, queue_name, "enqueue", "{}", "--priority", "1001"))
    assert bad.returncode == 2


def test_enqueue_many_from_stdin(redis_url: str, queue_name: str) -> None:
    lines = "\n".join(json.dumps({"n": i}) for i in range(1203)) + "\n\n"
    ids = ok(*on(redis_url, queue_name, "enqueue", "-"), stdin=lines).split()
    assert len(set(ids)) == 1203
    added = json.loads(ok(*on(redis_url, queue_name, "enqueue", "-", "--json"), stdin='"x"\n'))
    assert len(added["task_ids"]) == 1
    assert stats_of(redis_url, queue_name).pending == 1204


def test_enqueue_refuses_what_is_not_json(redis_url: str, queue_name: str) -> None:
    assert "PAYLOAD_JSON is not JSON" in one_line_error(
        cli(*on(redis_url, queue_name, "enqueue", "{nope")), 2)
    assert "line 2 of stdin is not JSON" in one_line_error(
        cli(*on(redis_url, queue_name, "enqueue", "-"), stdin='{}\n{nope\n'), 2)
    assert stats_of(redis_url, queue_name).tasks == 0


def test_stdin_batches_before_a_bad_line_stay_enqueued(redis_url: str, queue_name: str) -> None:
    lines = [json.dumps({"n": n}) for n in range(500)] + ["{}", "{nope", "{}"]
    done = cli(*on(redis_url, queue_name, "enqueue", "-"), stdin="\n".join(lines) + "\n")
    assert "line 502 of stdin is not JSON" in one_line_error(done, 2)
    printed = done.stdout.split()
    assert len(printed) == 500  # the ids of the first batch, sent before line 502 was read
    assert stats_of(redis_url, queue_name).pending == 500  # the batch of line 501 was not


def test_a_key_of_another_type_exits_1(redis_url: str, queue_name: str) -> None:
    async def spoil() -> str:
        async with aioredis.Redis.from_url(redis_url) as client:
            key = Arque(client, queue=queue_name).keys.pending
            await client.set(key, "not a list")
            return key

    key = asyncio.run(spoil())
    for command in (["enqueue", "{}"], ["stats"], ["sweep"]):  # each reads the pending list
        line = one_line_error(cli(*on(redis_url, queue_name, *command)), 1)
        assert "WrongKeyType" in line, (command, line)
        if command[0] in ("enqueue", "sweep"):  # their scripts check the types and say which
            assert key in line, (command, line)


def test_group_options_and_redis_url_from_the_environment(
    redis_url: str, queue_name: str
) -> None:
    ok("--redis", redis_url, "--queue", queue_name, "--prefix", "other", "enqueue", "{}")
    env = {**child_env(), "REDIS_URL": redis_url}
    done = cli("--prefix", "other", "--queue", queue_name, "stats", "--json", env=env)
    assert json.loads(done.stdout)["queues"][queue_name]["pending"] == 1
    assert stats_of(redis_url, queue_name).pending == 0  # not under the default prefix


def test_stats_watch_until_ctrl_c(redis_url: str, queue_name: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "arque", *on(redis_url, queue_name, "stats", "--watch", "--json",
                                              "--interval", "0.2")],
        cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    with proc:
        assert proc.stdout is not None
        reports = [json.loads(proc.stdout.readline()) for _ in range(3)]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert err == ""
    assert all(r["queues"][queue_name]["tasks"] == 0 for r in reports)
    assert reports[0]["time"] < reports[2]["time"]
    for line in out.splitlines():
        json.loads(line)


def test_sweep_promotes_due_delayed_tasks(redis_url: str, queue_name: str) -> None:
    ok(*on(redis_url, queue_name, "enqueue", "{}", "--delay", "0.05"))
    time.sleep(0.3)
    assert json.loads(ok(*on(redis_url, queue_name, "sweep", "--json"))) == {
        "queues": {queue_name: 1}}
    assert ok(*on(redis_url, queue_name, "sweep")) == f"{queue_name}: 0 back to pending\n"
    assert stats_of(redis_url, queue_name).pending == 1


# -- dead letters ---------------------------------------------------------------

def test_failed_list_and_show(redis_url: str, queue_name: str) -> None:
    ids = dead_letters(redis_url, queue_name, ["rejected", "rejected", "retries_exhausted"])
    listed = json.loads(ok(*on(redis_url, queue_name, "failed", "list", "--json")))
    assert listed["queue"] == queue_name and listed["total"] == 3
    assert {t["task_id"] for t in listed["tasks"]} == set(ids)
    first = listed["tasks"][0]
    assert set(first) >= {"task_id", "data", "attempts", "error", "reason", "failed_at"}

    page = json.loads(ok(*on(redis_url, queue_name, "failed", "list", "--json", "--limit", "1",
                             "--offset", "1", "--reason", "rejected")))
    assert page["total"] == 2 and len(page["tasks"]) == 1
    assert page["tasks"][0]["reason"] == "rejected"

    table = ok(*on(redis_url, queue_name, "failed", "list"))
    assert table.splitlines()[0].split() == [
        "task_id", "reason", "attempts", "failed_at", "error"]
    assert f"1-3 of 3 dead letters in queue '{queue_name}'." in table

    shown = json.loads(ok(*on(redis_url, queue_name, "failed", "show", ids[2], "--json")))
    assert shown["task_id"] == ids[2] and shown["data"] == {"n": 2}
    assert shown["reason"] == "retries_exhausted" and shown["error"].startswith("boom")
    text = ok(*on(redis_url, queue_name, "failed", "show", ids[0]))
    assert f"task_id      {ids[0]}" in text and "  second line" in text

    assert "is not in the dead letters" in one_line_error(
        cli(*on(redis_url, queue_name, "failed", "show", "nope")), 1)


def test_failed_list_pages_by_cursor(redis_url: str, queue_name: str) -> None:
    ids = dead_letters(redis_url, queue_name, ["rejected", "retries_exhausted"] * 3)
    listed = on(redis_url, queue_name, "failed", "list")
    seen: list[str] = []
    cursor: list[str] = []
    while True:
        page = json.loads(ok(*listed, "--limit", "2", "--reason", "rejected", "--json", *cursor))
        assert page["total"] == 3
        seen += [task["task_id"] for task in page["tasks"]]
        if page["next_cursor"] is None:
            break
        cursor = ["--cursor", page["next_cursor"]]
    assert sorted(seen) == sorted(ids[0::2]) and len(seen) == 3

    table = ok(*listed, "--limit", "4")
    assert f"1-4 of 6 dead letters in queue '{queue_name}'." in table
    next_cursor = table.rstrip().splitlines()[-1].removeprefix("Next page: --cursor ")
    rest = ok(*listed, "--limit", "4", "--cursor", next_cursor)
    assert len(rest.strip().splitlines()) == 1 + 2 + 2  # header, two rows, blank, count
    assert "Next page" not in rest
    both = cli(*listed, "--cursor", next_cursor, "--offset", "1")
    assert both.returncode == 2 and "give --cursor or --offset, not both" in both.stderr
    assert "not a dead-letter cursor" in one_line_error(cli(*listed, "--cursor", "%%%"), 2)
    assert cli(*listed, "--reason", "my own words").returncode == 2


def test_failed_replay_and_purge(redis_url: str, queue_name: str) -> None:
    ids = dead_letters(redis_url, queue_name, ["rejected", "rejected", "lease_expired", "undecodable"])
    replay = on(redis_url, queue_name, "failed", "replay")
    purge = on(redis_url, queue_name, "failed", "purge")

    assert ok(*replay, ids[3]) == f"Replayed 1 dead letter of queue '{queue_name}'.\n"
    one_line_error(cli(*replay, ids[3]), 1)  # not a dead letter any more
    assert "needs --yes" in one_line_error(cli(*replay, "--reason", "rejected"), 2)
    assert "needs --yes" in one_line_error(cli(*purge, "--all"), 2)
    assert stats_of(redis_url, queue_name).failed == 3  # refused: nothing changed

    assert cli(*replay).returncode == 2  # neither TASK_ID nor --all / --reason
    assert cli(*replay, ids[0], "--all").returncode == 2
    assert ok(*replay, "--reason", "rejected", "--yes") == (
        f"Replayed 2 dead letters of reason 'rejected' of queue '{queue_name}'.\n")
    assert stats_of(redis_url, queue_name).as_dict() == {
        "tasks": 3, "pending": 3, "working": 0, "delayed": 0, "failed": 1}

    one_line_error(cli(*purge, "nope"), 1)
    assert ok(*purge, "--all", "--yes") == f"Purged 1 dead letter of queue '{queue_name}'.\n"
    assert ok(*purge, "--all") == f"Purged 0 dead letters of queue '{queue_name}'.\n"
    assert stats_of(redis_url, queue_name).failed == 0


def test_replay_all_pages_through_many(redis_url: str, queue_name: str) -> None:
    dead_letters(redis_url, queue_name, ["rejected"] * 1100)
    done = ok(*on(redis_url, queue_name, "failed", "replay", "--all", "--yes"))
    assert done == f"Replayed 1100 dead letters of queue '{queue_name}'.\n"
    assert stats_of(redis_url, queue_name).pending == 1100


# -- worker ---------------------------------------------------------------------

def _wait_drained(redis_url: str, queues: list[str], bound: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + bound
    while True:
        found = {q: stats_of(redis_url, q) for q in queues}
        if all(s.tasks == 0 for s in found.values()):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


def test_worker_drains_its_queues_and_stops_on_sigterm(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    other = queue_name + "-b"
    tasks = "\n".join(json.dumps({"sleep": 0.01, "fail": i % 10 == 0}) for i in range(40))
    ok(*on(redis_url, queue_name, "enqueue", "-"), stdin=tasks)
    ok(*on(redis_url, other, "enqueue", '{"sleep": 0}'))
    health = tmp_path / "alive"
    proc = subprocess.Popen(
        [sys.executable, "-m", "arque",
         *on(redis_url, queue_name, "worker", "tests.cli_app:handler"), "--queue", other,
         "--concurrency", "8", "--working-limit", "5", "--health-file", str(health)],
        cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    with proc:
        try:
            found = _wait_drained(redis_url, [queue_name, other])
            assert health.exists()
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert found[queue_name].failed == 4 and found[other].failed == 0
    assert "consuming" in err and "stopped" in err  # the worker's own log lines


@pytest.mark.parametrize(("ref", "message"), [
    ("tests.nope:handler", "no module named 'tests.nope'"),
    ("tests.cli_broken_app:handler", "RuntimeError: this module is broken on purpose (at "),
    ("tests.cli_app:missing", "has no attribute 'missing'"),
    ("tests.cli_app:not_callable", "is a int, not an async function"),
    ("tests.cli_app:sync_handler", "is not an async function"),
    ("tests.cli_app:one_argument", "must accept two arguments"),
    ("tests.cli_app", "is not MODULE:HANDLER"),
])
def test_worker_with_a_bad_handler_exits_4(redis_url: str, ref: str, message: str) -> None:
    assert message in one_line_error(cli("worker", ref, "--redis", redis_url), 4)


# -- Redis out of reach ---------------------------------------------------------

@pytest.mark.parametrize("command", [
    ["stats"], ["worker", "tests.cli_app:handler"], ["failed", "list"], ["failed", "show", "x"],
    ["failed", "purge", "--all", "--yes"], ["enqueue", "{}"], ["sweep"],
], ids=lambda c: " ".join(c[:2]))
def test_unreachable_redis_exits_3(command: list[str]) -> None:
    assert "cannot reach Redis at redis://127.0.0.1:1" in one_line_error(
        cli(*command, "--redis", UNREACHABLE), 3)


@pytest.mark.parametrize("url", ["foo://localhost", "redis://localhost:99999", "nonsense"])
def test_bad_redis_url_exits_3(url: str) -> None:
    assert "bad Redis URL" in one_line_error(cli("stats", "--redis", url), 3)


def test_password_is_not_shown() -> None:
    line = one_line_error(cli("stats", "--redis", "redis://user:secret@127.0.0.1:1/0"), 3)
    assert "secret" not in line and "user:***@127.0.0.1:1" in line
