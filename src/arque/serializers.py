"""How payloads become bytes in Redis and back.

Any object with ``dumps(obj) -> str | bytes`` and ``loads(str | bytes) -> obj``
works, the ``json`` module included (arque 1.1.0 took ``serializer=json``).
The default, ``JSON``, uses orjson when it is installed and the standard
library otherwise. ``MsgPack`` needs the ``msgpack`` extra and a bytes-mode
client. Pickle is never chosen for you: it runs code when it loads.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

__all__ = ["JSON", "JsonSerializer", "MsgPack", "MsgPackSerializer", "Serializer"]


@runtime_checkable
class Serializer(Protocol):
    """What arque needs of a serializer."""

    def dumps(self, obj: Any) -> str | bytes: ...

    def loads(self, data: str | bytes) -> Any: ...


class JsonSerializer:
    """JSON, through orjson when it is installed (about 5x faster)."""

    binary = False

    def __init__(self) -> None:
        try:
            import orjson
        except ImportError:
            self._orjson: Any = None
        else:
            self._orjson = orjson

    def dumps(self, obj: Any) -> str | bytes:
        if self._orjson is not None:
            return self._orjson.dumps(obj)  # type: ignore[no-any-return]
        return json.dumps(obj, separators=(",", ":"), allow_nan=False)

    def loads(self, data: str | bytes) -> Any:
        if self._orjson is not None:
            return self._orjson.loads(data)
        return json.loads(data)


class MsgPackSerializer:
    """msgpack (``pip install arque[msgpack]``); needs a client in bytes mode."""

    binary = True

    def __init__(self) -> None:
        import msgpack  # type: ignore[import-untyped]

        self._msgpack = msgpack

    def dumps(self, obj: Any) -> bytes:
        return self._msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]

    def loads(self, data: str | bytes) -> Any:
        if isinstance(data, str):
            data = data.encode()
        return self._msgpack.unpackb(data, raw=False)


JSON = JsonSerializer()


def MsgPack() -> MsgPackSerializer:
    """A msgpack serializer; raises ImportError without the ``msgpack`` extra."""
    return MsgPackSerializer()
