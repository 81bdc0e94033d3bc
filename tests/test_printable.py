"""Ids and error texts are printed with their control characters escaped."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis.asyncio as aioredis

from arque import Arque
from arque.printable import printable, printable_json


@pytest.mark.parametrize(("text", "shown"), [
    ("plain-id_42", "plain-id_42"),
    ("café ünïcode 任务", "café ünïcode 任务"),
    ("with space", "with space"),
    ("a\x1b[2Jb", "a\\x1b[2Jb"),
    ("line\nforged", "line\\nforged"),
    ("cr\rtab\t", "cr\\rtab\\t"),
    ("nul\x00del\x7f", "nul\\x00del\\x7f"),
    ("c1\x9bcsi", "c1\\x9bcsi"),
    ("rtl\u202eevil", "rtl\\u202eevil"),
    ("sep\u2028par\u2029", "sep\\u2028par\\u2029"),
    ("lone\udcffsurrogate", "lone\\udcffsurrogate"),
])
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_what_it_prints_can_be_encoded() -> None:
    printable("\udcff\x1b").encode("ascii")


@pytest.mark.parametrize("value", [
    {"id": "a\x1b[2J\x9b\u202e\u2028b", "n": 1}, ["\U000e0001 tag", "plain", "é"], "\x00\n",
])
def test_printable_json_reads_back_the_same(value: object) -> None:
    text = printable_json(json.dumps(value, ensure_ascii=False))
    assert text.isprintable()
    assert json.loads(text) == value


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return subprocess.run([sys.executable, "-m", "arque", *args], env=env, text=True,
                          capture_output=True, timeout=60, check=False, stdin=subprocess.DEVNULL)


EVIL_ID = "id\x1b[2J\u202eevil"
EVIL_ERROR = "boom\x1b]0;owned\x07\nsecond line\x9b"


async def _dead_letter(redis_url: str, queue: str) -> None:
    async with aioredis.Redis.from_url(redis_url) as client:
        arque = Arque(client, queue=queue)
        await arque.enqueue({"text": "\x1b[31mred"}, task_id=EVIL_ID)
        task_id, _ = await arque.dequeue()
        assert task_id is not None
        await arque.fail(task_id, EVIL_ERROR)


@pytest.mark.parametrize("command", [["failed", "list"], ["failed", "show", EVIL_ID],
                                     ["failed", "list", "--json"]], ids=" ".join)
async def test_the_cli_escapes_ids_and_errors(
    redis_url: str, queue_name: str, command: list[str]
) -> None:
    await _dead_letter(redis_url, queue_name)
    done = _cli(*command, "--redis", redis_url, "--queue", queue_name)
    assert done.returncode == 0, done.stderr
    assert all(line.isprintable() for line in done.stdout.splitlines()), done.stdout
    assert "\\u202e" in done.stdout
    if "--json" in command:
        assert json.loads(done.stdout)["tasks"][0]["error"] == EVIL_ERROR
    else:
        assert "id\\x1b[2J\\u202eevil" in done.stdout and "boom\\x1b]0;owned\\x07" in done.stdout


def test_the_cli_escapes_what_it_was_given(redis_url: str, queue_name: str) -> None:
    on = ["--redis", redis_url, "--queue", queue_name]
    done = _cli("enqueue", "{}", "--task-id", "new\x1b[2J", *on)
    assert done.returncode == 0 and done.stdout == "new\\x1b[2J\n", done
    done = _cli("failed", "show", "gone\x1b[2J", *on)
    assert done.returncode == 1 and done.stderr.isprintable() is False  # its one line ends in \n
    assert done.stderr.rstrip("\n").isprintable() and "gone\\x1b[2J" in done.stderr, done


def test_the_cli_refuses_a_sentinel_id(redis_url: str, queue_name: str) -> None:
    done = _cli("enqueue", "{}", "--task-id", "__not_found__", "--redis", redis_url,
                "--queue", queue_name)
    assert done.returncode == 2 and "sentinel" in done.stderr, done


async def test_logs_escape_ids(
    redis: aioredis.Redis, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    queue = Arque(redis, queue=queue_name)
    with caplog.at_level("WARNING", logger="arque"):
        assert await queue.release("forged\nWARNING line\x1b[2J") is False
        assert await queue.requeue("forged\nWARNING line\x1b[2J") is False
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2 and all(m.isprintable() for m in messages), messages
    assert all("forged\\nWARNING line\\x1b[2J" in m for m in messages)


def test_the_workers_table_escapes_what_workers_registered() -> None:
    from arque.cli._workers import table
    from arque.registry import WorkerInfo

    forged = WorkerInfo(name="w\x1b[2J", host="host\nforged", pid=1, queues=("q",),
                        concurrency=1, in_flight=0, started_at=0.0, last_seen=0.0,
                        expires_at=0.0, version="2\u202e", health_port=None)
    shown = table({"q": [forged]}, now=10.0)
    assert all(line.isprintable() for line in shown.splitlines()), shown
    assert "w\\x1b[2J" in shown and "host\\nforged" in shown and "2\\u202e" in shown
