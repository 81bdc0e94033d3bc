"""JSON through orjson or the standard library (and how they differ), MsgPack round trips."""

from __future__ import annotations

import builtins
import math
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import JSON, Arque, MsgPack, SerializationError
from arque.serializers import JsonSerializer, MsgPackSerializer
from helpers import queue_keys_left, set_payload, split_record

SAMPLE = {"text": "héllo ✓", "n": 2**53, "f": 0.1, "list": [1, None, True], "nested": {"a": []}}


@pytest.fixture
def stdlib_json(monkeypatch: pytest.MonkeyPatch) -> JsonSerializer:
    """``JsonSerializer`` as it is where orjson is not installed."""
    real_import = builtins.__import__

    def no_orjson(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "orjson":
            raise ImportError("No module named 'orjson'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_orjson)
    serializer = JsonSerializer()
    monkeypatch.undo()
    return serializer


def test_the_default_uses_orjson_when_installed(stdlib_json: JsonSerializer) -> None:
    import orjson  # in the test extra

    assert JSON._orjson is orjson
    assert stdlib_json._orjson is None
    assert isinstance(JSON.dumps(SAMPLE), bytes)
    assert isinstance(stdlib_json.dumps(SAMPLE), str)


@pytest.mark.parametrize("which", ["orjson", "stdlib"])
async def test_json_round_trip_in_both_client_modes(
    redis: aioredis.Redis, queue_name: str, stdlib_json: JsonSerializer, which: str
) -> None:
    serializer = JSON if which == "orjson" else stdlib_json
    queue = Arque(redis, queue=queue_name, serializer=serializer)
    await queue.enqueue(SAMPLE, task_id="t")
    task_id, data = await queue.dequeue()
    assert data == SAMPLE
    await queue.fail(task_id, "to see the dead letter decoded")
    letter = await queue.get_failed("t")
    assert letter is not None and letter.data == SAMPLE


async def test_the_two_json_paths_read_each_other(
    redis: aioredis.Redis, queue_name: str, stdlib_json: JsonSerializer
) -> None:
    """Producers with and without orjson can share a queue."""
    fast = Arque(redis, queue=queue_name, serializer=JSON)
    plain = Arque(redis, queue=queue_name, serializer=stdlib_json)
    await fast.enqueue(SAMPLE, task_id="from-orjson")
    await plain.enqueue(SAMPLE, task_id="from-stdlib")
    got = {str(t): d for t, d in await plain.dequeue_many(1) + await fast.dequeue_many(1)}
    assert got == {"from-orjson": SAMPLE, "from-stdlib": SAMPLE}


# Where orjson and the standard library differ (documented in arque.serializers):
# orjson writes NaN and infinities as null, refuses integers beyond 64 bits and
# non-str dict keys; the standard library (allow_nan=False) refuses NaN and
# infinities, and writes big integers and int keys (as strings).


def test_orjson_writes_nan_as_null_the_stdlib_refuses_it(stdlib_json: JsonSerializer) -> None:
    assert JSON.loads(JSON.dumps({"x": math.nan, "y": math.inf})) == {"x": None, "y": None}
    with pytest.raises(ValueError):
        stdlib_json.dumps({"x": math.nan})


def test_big_ints_and_int_keys_only_with_the_stdlib(stdlib_json: JsonSerializer) -> None:
    big = {"n": 2**64}
    assert stdlib_json.loads(stdlib_json.dumps(big)) == big
    assert stdlib_json.loads(stdlib_json.dumps({1: "a"})) == {"1": "a"}
    with pytest.raises(TypeError):
        JSON.dumps(big)
    with pytest.raises(TypeError):
        JSON.dumps({1: "a"})


@pytest.mark.parametrize("which", ["orjson", "stdlib"])
async def test_what_a_serializer_refuses_is_a_serialization_error(
    redis: aioredis.Redis, queue_name: str, stdlib_json: JsonSerializer, which: str
) -> None:
    serializer = JSON if which == "orjson" else stdlib_json
    queue = Arque(redis, queue=queue_name, serializer=serializer)
    refused = {"n": 2**64} if which == "orjson" else {"x": math.nan}
    with pytest.raises(SerializationError):
        await queue.enqueue(refused)
    with pytest.raises(SerializationError):
        await queue.enqueue_many(["fine", refused])
    assert await queue_keys_left(redis, queue) == []


# -- MsgPack ---------------------------------------------------------------------


async def test_msgpack_round_trip_keeps_bytes(redis_url: str, queue_name: str) -> None:
    data = {"blob": b"\x00\xff binary", "text": "é", "n": -(2**63), "list": [1.5, None]}
    async with aioredis.Redis.from_url(redis_url) as client:  # bytes mode
        queue = Arque(client, queue=queue_name, serializer=MsgPack())
        await queue.enqueue(data, task_id="m")
        _, raw = split_record(await client.hget(queue.keys.tasks, "m"))
        assert raw == MsgPackSerializer().dumps(data)  # stored as msgpack, not JSON
        task_id, got = await queue.dequeue()
        assert got == data
        await queue.fail(task_id, "to read it back as a dead letter")
        letter = await queue.get_failed("m")
        assert letter is not None and letter.data == data


async def test_msgpack_undecodable_payload_dead_letters(redis_url: str, queue_name: str) -> None:
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = Arque(client, queue=queue_name, serializer=MsgPack())
        await queue.enqueue("x", task_id="bad")
        await set_payload(client, queue, "bad", b"\xc1")  # a byte msgpack never uses
        assert (await queue.dequeue())[0] == "__marked_as_failed___"
        letter = await queue.get_failed("bad")
        assert letter is not None and letter.reason == "undecodable"
