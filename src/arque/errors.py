"""The errors arque raises, all rooted in one class.

    ArqueError
     ├── InvalidArgument (ValueError)        a bad argument; nothing was written
     │    └── PayloadTooLarge                 the encoded payload is over max_payload_size
     ├── SerializationError (TypeError)       the payload could not be encoded
     ├── WrongKeyType (TypeError)             a key under the prefix holds another Redis type
     ├── NotDurable                           applied, but fewer replicas confirmed than asked
     ├── WorkerFailed                         a loop of a worker kept failing; the worker stopped
     ├── RedisUnavailable (ConnectionError)   Redis cannot serve now: unreachable, timed out,
     │    │                                   or a transient error reply; try again later
     │    └── ServerUnavailable (+ServerError) BUSY, LOADING, READONLY, OOM, MISCONF, TRYAGAIN,
     │                                        CLUSTERDOWN, MASTERDOWN, UNBLOCKED
     ├── ServerError                          Redis answered with an error; ``code`` is its first word
     │    ├── PermissionDenied                NOPERM: the ACL user lacks a command or key
     │    └── ServerUnavailable               (see above)
     ├── MissingDependency (ImportError)      an optional extra is needed (``arque[cron]``)
     ├── TaskFailed                           the awaited task ended in dead letters
     ├── ResultNotFound (LookupError)         no result: unknown, released without one, or expired
     └── ResultTimeout (TimeoutError)         the task did not finish within the timeout

Every error coming from redis-py is translated at one boundary (``translate``)
and chained with ``raise ... from exc``, so ``except ArqueError`` catches all
of them. An error reply is classified by its code, the first word of the reply
(``reply_code``), not by its text, which differs between servers and
versions. Two exceptions, both inside scripts: Redis 6 wraps an error as
``ERR Error running script ... -OOM ...`` (the code after the dash counts), and
a command the ACL user may not run from a script answers ``ERR The user
executing the script can't run ...`` (NOPERM). ``except RedisUnavailable``
catches everything worth retrying later.
"""

from __future__ import annotations

import re
from typing import Any

import redis.exceptions

__all__ = [
    "TRANSIENT_CODES",
    "ArqueError",
    "InvalidArgument",
    "MissingDependency",
    "NotDurable",
    "PayloadTooLarge",
    "PermissionDenied",
    "RedisUnavailable",
    "ResultNotFound",
    "ResultTimeout",
    "SerializationError",
    "ServerError",
    "ServerUnavailable",
    "TaskFailed",
    "WorkerFailed",
    "WrongKeyType",
    "reply_code",
    "translate",
]

# What redis-py raises: RedisClusterException is not a RedisError.
REDIS_ERRORS = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)

# The prefix of the error reply a script sends when a key has the wrong type.
WRONGTYPE_REPLY = "ARQUE_WRONGTYPE"

TRANSIENT_CODES = frozenset({
    "BUSY", "LOADING", "READONLY", "OOM", "MISCONF", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN",
    "UNBLOCKED",  # a blocked command ended by a change of role (master -> replica)
})
"""Error reply codes that mean "not now": the same call can succeed later unchanged."""

# redis-py strips the code of the replies it maps to a class of its own.
_CODE_OF_CLASS: tuple[tuple[type[Exception], str], ...] = (
    (redis.exceptions.BusyLoadingError, "LOADING"),
    (redis.exceptions.ReadOnlyError, "READONLY"),
    (redis.exceptions.OutOfMemoryError, "OOM"),
    (redis.exceptions.NoPermissionError, "NOPERM"),
    (redis.exceptions.NoScriptError, "NOSCRIPT"),
    (redis.exceptions.TryAgainError, "TRYAGAIN"),
    (redis.exceptions.MasterDownError, "MASTERDOWN"),
    (redis.exceptions.ClusterDownError, "CLUSTERDOWN"),
    (redis.exceptions.ExecAbortError, "EXECABORT"),
)
# Redis 6 wraps an error raised inside a script as "ERR Error running script
# (...): @user_script:1: -OOM command not allowed ...": the code follows a dash.
_WRAPPED_CODE = re.compile(r":\s-?([A-Z][A-Z0-9_]+)\s")
# A command the ACL user may not run, called from inside a script: Redis 6 and 7
# answer ERR (not NOPERM) with this text.
_SCRIPT_NOPERM = "user executing the script can't run"
_PERMISSION = re.compile(r"'([^']+)'")


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


class WorkerFailed(ArqueError):
    """A loop of a worker failed again and again; the worker shut down (``Worker.run``)."""


class RedisUnavailable(ArqueError, ConnectionError):
    """Redis could not be reached, did not answer in time, or cannot serve now."""


class NotDurable(ArqueError):
    """A write was applied on the master, but fewer replicas confirmed it than the queue's
    ``Durability`` asks: it may be lost in a failover. Retry the call.

    ``confirmed`` and ``needed`` count replicas.
    """

    def __init__(self, message: str, *, confirmed: int, needed: int) -> None:
        super().__init__(message)
        self.confirmed = confirmed
        self.needed = needed


class ServerError(ArqueError):
    """Redis answered with an error arque did not expect.

    ``code`` is the reply's code: its first word (``ERR``, ``NOPERM``, ...).
    """

    def __init__(self, message: str, code: str = "ERR") -> None:
        super().__init__(message)
        self.code = code


class ServerUnavailable(RedisUnavailable, ServerError):
    """Redis answered, but cannot serve this call now (``code`` in ``TRANSIENT_CODES``).

    A script blocks the server (BUSY), it is loading its data (LOADING), it
    became a replica (READONLY), it is out of memory (OOM) or cannot persist
    (MISCONF), or the cluster is changing (TRYAGAIN, CLUSTERDOWN, MASTERDOWN).
    Nothing was written; the same call may succeed later.
    """


class PermissionDenied(ServerError):
    """The ACL user may not run a command or touch a key (NOPERM): an operator must fix it.

    ``permission`` names what is missing (e.g. ``evalsha``), when the reply says.
    """

    def __init__(self, message: str, code: str = "NOPERM") -> None:
        super().__init__(message, code)
        found = _PERMISSION.search(message)
        self.permission = found.group(1) if found else None


def _stripped(exc: BaseException) -> str | None:
    """The code redis-py took off the front of ``exc``'s message, if it did."""
    code = getattr(exc, "status_code", None)  # redis-py >= 7 keeps it
    if isinstance(code, str) and code:
        return code
    for kind, name in _CODE_OF_CLASS:  # older ones: the class tells
        if isinstance(exc, kind):
            return name
    return None


def reply_code(exc: BaseException) -> str | None:
    """The code of the error reply behind ``exc`` (e.g. ``BUSY``); None if not an error reply."""
    if isinstance(exc, ServerError):
        return exc.code
    code = _stripped(exc)
    message = str(exc)
    if code is None:
        if not isinstance(exc, redis.exceptions.ResponseError):
            return None  # a lost connection, a timeout: no reply at all
        first = message.split(" ", 1)[0]
        code = first if first.isupper() else "ERR"
    if code == "ERR":  # maybe an error raised inside a script, wrapped
        if _SCRIPT_NOPERM in message:
            return "NOPERM"
        wrapped = _WRAPPED_CODE.search(message)
        if wrapped:
            return wrapped.group(1)
    return code


class MissingDependency(ArqueError, ImportError):
    """An optional extra is needed for this (the message names the ``pip install``)."""


class TaskFailed(ArqueError):
    """The awaited task ended in dead letters; ``dead_letter`` tells why."""

    def __init__(self, dead_letter: Any) -> None:
        super().__init__(f"task {dead_letter.task_id!r} failed ({dead_letter.reason}): "
                         f"{dead_letter.error}")
        self.dead_letter = dead_letter
        """The ``DeadLetter`` of the task."""


class ResultNotFound(ArqueError, LookupError):
    """No result: the id is unknown, was released without one, or its result expired."""


class ResultTimeout(ArqueError, TimeoutError):
    """The awaited task did not finish within the timeout; it is still live."""


def translate(exc: redis.exceptions.RedisError | redis.exceptions.RedisClusterException) -> ArqueError:
    """Turn a redis-py error into the matching arque error (to raise ``from exc``)."""
    code = reply_code(exc)
    message = str(exc)
    stripped = _stripped(exc)
    if stripped and not message.startswith(stripped):
        message = f"{stripped} {message}"  # put back the code redis-py took off
    if code in TRANSIENT_CODES:
        return ServerUnavailable(message, code or "ERR")
    if code == "NOPERM":
        return PermissionDenied(message)
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return RedisUnavailable(str(exc) or type(exc).__name__)
    if WRONGTYPE_REPLY in message:
        detail = message[message.index(WRONGTYPE_REPLY) + len(WRONGTYPE_REPLY) :].split()
        key, found, expected = (detail + ["?", "?", "?"])[:3]
        return WrongKeyType(f"key {key!r} holds a {found}, arque expects a {expected}")
    if code == "WRONGTYPE":
        return WrongKeyType(message)
    return ServerError(message, code or "ERR")
