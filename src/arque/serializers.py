"""How payloads become bytes in Redis and back.

Any object with ``dumps(obj) -> str | bytes`` and ``loads(str | bytes) -> obj``
works, the ``json`` module included (arque 1.1.0 took ``serializer=json``).
The default, ``JSON``, uses orjson when it is installed and the standard
library otherwise. ``MsgPack`` needs the ``msgpack`` extra. Pickle is never
chosen for you: it runs code when it loads.

The serializer, not the client's ``decode_responses``, decides what its
``loads`` is given. Payloads are read from Redis as bytes whatever the client
mode, then:

- a **binary** serializer (its ``dumps`` makes bytes that need not be UTF-8,
  e.g. msgpack or pickle) always gets the bytes it made, on clients of both
  modes;
- a **text** serializer gets ``str`` on a ``decode_responses=True`` client and
  ``bytes`` (UTF-8) on a bytes-mode client, as in arque 1.1.0; its ``dumps``
  must make ``str``, or bytes that are UTF-8 text (else ``SerializationError``
  at enqueue, nothing written).

Which one a serializer is, is read once when the queue is made: its
``binary`` attribute (True or False) when it has one — give your own
serializers one; else the return annotation of its ``dumps`` (``bytes`` or
``str``); else the type of what ``dumps(None)`` returns (bytes: binary); a
serializer that cannot tell is text. An object without callable ``dumps``
and ``loads`` is refused with ``InvalidArgument``.

The two JSON paths read each other's payloads, but accept different values:
orjson writes NaN and infinities as ``null`` and refuses integers beyond 64
bits and dict keys that are not strings; the standard library (with
``allow_nan=False``) refuses NaN and infinities, and writes big integers and
int keys (as strings). What a serializer refuses raises
``SerializationError`` and writes nothing.
"""

from __future__ import annotations

import json
import typing
from typing import Any, Protocol, runtime_checkable

from .errors import InvalidArgument, SerializationError

__all__ = ["JSON", "Codec", "JsonSerializer", "MsgPack", "MsgPackSerializer", "Serializer",
           "is_binary"]


@runtime_checkable
class Serializer(Protocol):
    """What arque needs of a serializer.

    A ``binary`` attribute (True: ``dumps`` makes bytes only ``loads`` reads)
    is optional but recommended; see the module's docstring.
    """

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
        # Built once: json.dumps with arguments builds an encoder per call.
        self._encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode

    def dumps(self, obj: Any) -> str | bytes:
        if self._orjson is not None:
            return self._orjson.dumps(obj)  # type: ignore[no-any-return]
        return self._encode(obj)

    def loads(self, data: str | bytes) -> Any:
        if self._orjson is not None:
            return self._orjson.loads(data)
        return json.loads(data)


class MsgPackSerializer:
    """msgpack (``pip install arque[msgpack]``); works on clients of both modes."""

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


def is_binary(serializer: Any) -> bool:
    """Whether ``serializer`` makes bytes that only its own ``loads`` can read.

    Raises :class:`InvalidArgument` when it is no serializer at all.
    """
    if not isinstance(serializer, Serializer) or not (
        callable(serializer.dumps) and callable(serializer.loads)
    ):
        raise InvalidArgument(f"serializer must have dumps() and loads(), got {serializer!r}")
    declared = getattr(serializer, "binary", None)
    if declared is not None:
        if not isinstance(declared, bool):
            raise InvalidArgument(f"serializer.binary must be True or False, got {declared!r}")
        return declared
    try:
        returns = typing.get_type_hints(serializer.dumps).get("return")
    except Exception:  # noqa: BLE001 - annotations that cannot be read tell nothing
        returns = None
    if returns in (bytes, str):
        return returns is bytes
    try:
        return isinstance(serializer.dumps(None), (bytes, bytearray, memoryview))
    except Exception:  # noqa: BLE001 - it cannot say: text, as arque 1.1.0 assumed
        return False


class Codec:
    """A serializer as a queue uses it: payloads made and read in the form it decided."""

    def __init__(self, serializer: Serializer, decodes_responses: bool) -> None:
        self.serializer = serializer
        self.binary = is_binary(serializer)
        # A text serializer's loads gets str on a str-mode client, as in 1.1.0.
        self._to_text = not self.binary and decodes_responses

    def dumps(self, obj: Any, what: str) -> str | bytes:
        """``obj`` encoded; :class:`SerializationError` naming ``what`` when it cannot be."""
        try:
            payload = self.serializer.dumps(obj)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SerializationError(f"{what} cannot be serialised: {exc}") from exc
        if isinstance(payload, str):
            return payload
        if not isinstance(payload, bytes):
            raise SerializationError(f"{what}: serializer.dumps returned a "
                                     f"{type(payload).__name__}, not str or bytes")
        if not self.binary:
            try:
                payload.decode()
            except UnicodeDecodeError as exc:  # a str-mode consumer could not read it back
                raise SerializationError(
                    f"{what}: a text serializer returned bytes that are not UTF-8 "
                    "(give a binary serializer a `binary = True` attribute)") from exc
        return payload

    def loads(self, payload: bytes) -> Any:
        """The object a payload read from Redis (always bytes) encodes."""
        return self.serializer.loads(payload.decode() if self._to_text else payload)
