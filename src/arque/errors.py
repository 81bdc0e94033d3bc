"""The errors arque raises, all rooted in one class.

    ArqueError
     ├── InvalidArgument (ValueError)        a bad argument; nothing was written
     │    └── PayloadTooLarge                 the encoded payload is over max_payload_size
     ├── SerializationError (TypeError)       the payload could not be encoded
     ├── WrongKeyType (TypeError)             a key under the prefix holds another Redis type
     ├── RedisUnavailable (ConnectionError)   Redis could not be reached or timed out
     └── ServerError                          Redis answered with an error arque did not expect

Every error coming from redis-py is translated at one boundary (``translate``)
and chained with ``raise ... from exc``, so ``except ArqueError`` catches all
of them.
"""

from __future__ import annotations

import redis.exceptions

__all__ = [
    "ArqueError",
    "InvalidArgument",
    "PayloadTooLarge",
    "RedisUnavailable",
    "SerializationError",
    "ServerError",
    "WrongKeyType",
    "translate",
]

# What redis-py raises: RedisClusterException is not a RedisError.
REDIS_ERRORS = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)

# The prefix of the error reply a script sends when a key has the wrong type.
WRONGTYPE_REPLY = "ARQUE_WRONGTYPE"


class ArqueError(Exception):
    """Base class of every error raised by arque."""


class InvalidArgument(ArqueError, ValueError):
    """An argument is out of range or of the wrong kind; nothing was written."""


class PayloadTooLarge(InvalidArgument):
    """The encoded payload is larger than ``max_payload_size``; nothing was written."""


class SerializationError(ArqueError, TypeError):
    """The payload could not be encoded by the queue's serializer; nothing was written."""


class WrongKeyType(ArqueError, TypeError):
    """A key under the queue's prefix holds a value of another Redis type.

    The script checks every key it touches before it writes, so nothing was
    written.
    """


class RedisUnavailable(ArqueError, ConnectionError):
    """Redis could not be reached, or did not answer in time."""


class ServerError(ArqueError):
    """Redis answered with an error arque did not expect."""


def translate(exc: redis.exceptions.RedisError | redis.exceptions.RedisClusterException) -> ArqueError:
    """Turn a redis-py error into the matching arque error (to raise ``from exc``)."""
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return RedisUnavailable(str(exc) or type(exc).__name__)
    message = str(exc)
    if WRONGTYPE_REPLY in message:
        detail = message[message.index(WRONGTYPE_REPLY) + len(WRONGTYPE_REPLY) :].split()
        key, found, expected = (detail + ["?", "?", "?"])[:3]
        return WrongKeyType(f"key {key!r} holds a {found}, arque expects a {expected}")
    if message.startswith("WRONGTYPE"):
        return WrongKeyType(message)
    return ServerError(message)
