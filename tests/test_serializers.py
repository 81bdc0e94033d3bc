"""The serializer, not the client's decode_responses, decides what its loads is given."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque, InvalidArgument, MsgPack, SerializationError
from arque.serializers import Codec, is_binary

NOT_UTF8 = b"\x80\xff"


class BytesOnly:
    """A binary serializer with no ``binary`` attribute: its bytes are never UTF-8."""

    def dumps(self, obj):  # type: ignore[no-untyped-def]  # unannotated, as users write them
        return NOT_UTF8 + json.dumps(obj).encode()

    def loads(self, data):  # type: ignore[no-untyped-def]
        assert isinstance(data, bytes), f"loads got {type(data).__name__}"
        assert data.startswith(NOT_UTF8)
        return json.loads(data[len(NOT_UTF8):])


class AnnotatedBytes:
    """Says it makes bytes by its annotation, and cannot encode None."""

    def dumps(self, obj: Any) -> bytes:
        if obj is None:
            raise TypeError("no None here")
        return pickle.dumps(obj)

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)


class StrOnly:
    """A 1.1.0-style text serializer whose loads only takes str."""

    def dumps(self, obj: Any) -> str:
        return json.dumps(obj)

    def loads(self, data: str) -> Any:
        assert isinstance(data, str), f"loads got {type(data).__name__}"
        return json.loads(data)


class LyingText:
    binary = False

    def dumps(self, obj: Any) -> bytes:
        return NOT_UTF8

    def loads(self, data: bytes) -> Any:
        return data


async def _round_trip(queue: Arque, value: Any) -> None:
    await queue.enqueue(value, task_id="t")
    task_id, data = await queue.dequeue()
    assert (task_id, data) == ("t", value)
    await queue.fail(task_id, "kept to read back")
    letter = await queue.get_failed("t")
    assert letter is not None and letter.data == value
    assert [letter.data for letter in await queue.list_failed()] == [value]


@pytest.mark.parametrize("serializer", [BytesOnly(), AnnotatedBytes(), pickle, MsgPack()],
                         ids=["no-attribute", "annotated", "pickle-module", "msgpack"])
async def test_a_binary_serializer_works_on_clients_of_both_modes(
    redis: aioredis.Redis, queue_name: str, serializer: Any
) -> None:
    queue = Arque(redis, queue=queue_name, serializer=serializer)
    await _round_trip(queue, {"n": 1, "text": "héllo"})


async def test_a_text_serializer_gets_str_on_a_str_client(
    redis: aioredis.Redis, queue_name: str, decode_responses: bool
) -> None:
    queue = Arque(redis, queue=queue_name, serializer=StrOnly() if decode_responses else json)
    await _round_trip(queue, ["a", 1])


@pytest.mark.parametrize(("serializer", "binary"), [
    (BytesOnly(), True), (AnnotatedBytes(), True), (pickle, True), (MsgPack(), True),
    (StrOnly(), False), (json, False), (LyingText(), False),
])
def test_is_binary(serializer: Any, binary: bool) -> None:
    assert is_binary(serializer) is binary


@pytest.mark.parametrize("serializer", [object(), "json", type("Half", (), {"dumps": len})(),
                                        type("Flag", (StrOnly,), {"binary": "yes"})()])
def test_what_is_no_serializer_is_refused_at_construction(
    redis: aioredis.Redis, serializer: Any
) -> None:
    with pytest.raises(InvalidArgument, match="serializer"):
        Arque(redis, serializer=serializer)


async def test_text_that_is_not_utf8_is_refused_at_enqueue(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name, serializer=LyingText())
    with pytest.raises(SerializationError, match="not UTF-8"):
        await queue.enqueue("x")
    assert not await redis.exists(*queue.keys.names().values())


def test_codec_refuses_what_is_neither_str_nor_bytes() -> None:
    weird = type("Weird", (StrOnly,), {"binary": False, "dumps": lambda self, obj: 42})()
    with pytest.raises(SerializationError, match="returned a int"):
        Codec(weird, decodes_responses=True).dumps("x", "task 't'")
