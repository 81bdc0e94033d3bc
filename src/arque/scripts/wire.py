"""EVALSHA with its constant part packed once: the script calls' fast path.

A script call is ``EVALSHA sha numkeys key... arg...``; of its arguments only
the last few change from call to call. redis-py packs every argument of every
call again (an encoder call, a length and a join per argument), which is the
largest single cost of a one-task ``enqueue`` on the client. ``Packed`` keeps
``EVALSHA sha numkeys key...`` in the RESP wire format per script, packs only
the variable arguments, and sends the whole on a connection of the client's
own pool, then reads the reply undecoded, as ``execute_command(...,
NEVER_DECODE=True)`` does. A blocking command and the script that follows it
(``Scripts.call_after``) go the same way, in one write, under the
connection's retry policy as redis-py's pipeline would send them.

It is used only where it changes nothing else: a plain ``redis.asyncio.Redis``
on a connection pool (no cluster client, no single-connection client, no
``decode``-time encoding other than the pool's), and arguments that are
``str``, ``bytes``, ``int`` or ``float``. Anything else goes through
redis-py. A one-call script whose connection was lost or timed out is sent
again through ``execute_command``, under redis-py's retry policy; a blocking
command and its script are retried on their connection as that policy says,
as redis-py's pipeline does, and never on another connection. (redis-py's
own per-command observability hooks do not see the fast path's calls.)
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import redis.asyncio

__all__ = ["Packed"]

def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


class Packed:
    """Script calls on one async client, each call's constant part packed once."""

    def __init__(self, client: Any) -> None:
        self._pool = _plain_pool(client)
        kwargs = getattr(self._pool, "connection_kwargs", {}) or {}
        self._encoding: str = kwargs.get("encoding", "utf-8")
        self._errors: str = kwargs.get("encoding_errors", "strict")
        self._heads: dict[str, tuple[int, bytes]] = {}

    @property
    def usable(self) -> bool:
        """Whether the client is one the fast path serves."""
        return self._pool is not None

    def prepare(self, name: str, head: Sequence[Any]) -> None:
        """Keep script ``name``'s constant arguments ``head`` (``EVALSHA sha n keys``) packed."""
        self._heads[name] = (len(head), b"".join(_bulk(self._encode(part)) for part in head))

    def _encode(self, value: Any) -> bytes:
        """The bytes redis-py would send for ``value``; TypeError for what it would refuse."""
        kind = type(value)
        if kind is bytes:
            return value  # type: ignore[no-any-return]
        if kind is str:
            return value.encode(self._encoding, self._errors)  # type: ignore[no-any-return]
        if kind is int:
            return b"%d" % value
        if isinstance(value, bytes):
            return bytes(value)
        if isinstance(value, str):
            return str(value).encode(self._encoding, self._errors)
        if isinstance(value, bool):  # redis-py refuses booleans: let it say so
            raise TypeError("bool")
        if isinstance(value, (int, float)):
            return repr(value).encode()  # as redis-py does, for subclasses too
        raise TypeError(kind.__name__)

    def pack(self, name: str, args: Sequence[Any]) -> list[bytes] | None:
        """The wire form of a call of ``name`` with ``args``; None when the fast path cannot."""
        count, head = self._heads[name]
        tail = self._bulks(args)
        if tail is None:
            return None
        return [b"*%d\r\n" % (count + len(args)), head, *tail]

    def pack_command(self, args: Sequence[Any]) -> list[bytes] | None:
        """The wire form of a whole command; None when the fast path cannot."""
        parts = self._bulks(args)
        if parts is None:
            return None
        return [b"*%d\r\n" % len(args), *parts]

    def _bulks(self, args: Sequence[Any]) -> list[bytes] | None:
        """Each of ``args`` as a RESP bulk string; None if one is what redis-py would refuse."""
        encode = self._encode
        try:
            return [b"$%d\r\n%b\r\n" % (len(data), data) for data in map(encode, args)]
        except (TypeError, UnicodeError):
            return None

    async def send(self, packed: list[bytes]) -> Any:
        """Send one packed call on a pooled connection; its reply, undecoded.

        Raises redis-py's error for an error reply (``NoScriptError`` among
        them), and its ``ConnectionError``/``TimeoutError`` for the caller to
        send again through ``execute_command``.
        """
        connection = await self._connection()
        try:
            await _write(connection, packed)
            # On an error while reading, redis-py disconnects: no half-read reply stays behind.
            return await connection.read_response(disable_decoding=True)
        finally:
            await self._pool.release(connection)

    async def exchange(self, packed: list[bytes], count: int) -> list[Any]:
        """Send ``count`` packed commands in one write; their replies, undecoded.

        An error reply comes back as redis-py's exception in its place. A lost
        connection or a time-out is retried as the connection's retry policy
        says (as redis-py's pipeline is), then raises its
        ``ConnectionError``/``TimeoutError``: never sent again on another
        connection, which a client closed meanwhile would leave open.
        """
        connection = await self._connection()

        async def attempt() -> list[Any]:
            await _write(connection, packed)
            replies = []
            for _ in range(count):
                # On an error while reading, redis-py disconnects: no half-read reply stays behind.
                try:
                    replies.append(await connection.read_response(disable_decoding=True))
                except redis.exceptions.ResponseError as exc:  # read whole: the next reply follows
                    replies.append(exc)
            return replies

        try:
            return await connection.retry.call_with_retry(  # type: ignore[no-any-return]
                attempt, lambda error: connection.disconnect())
        finally:
            await self._pool.release(connection)

    async def _connection(self) -> Any:
        if _NAMES_ITS_COMMAND:
            return await self._pool.get_connection("EVALSHA")
        return await self._pool.get_connection()


async def _write(connection: Any, packed: list[bytes]) -> None:
    """``connection.send_packed_command(packed)``, without a task per call when it can.

    redis-py puts each write under ``asyncio.wait_for`` when the connection has
    a socket timeout (redis-py 8 gives every connection one), and on Python
    3.11 and older ``wait_for`` runs the write in a task of its own: two more
    turns of the event loop, a large part of a call's client time after an
    idle spell. A write the socket takes at once cannot time out; only one that
    leaves bytes in the transport's buffer waits for them to drain, under
    redis-py's time-out. A connection to open or to health-check goes through
    redis-py.
    """
    writer = getattr(connection, "_writer", None)
    if writer is None or not connection.is_connected or connection.health_check_interval:
        await connection.send_packed_command(packed)
        return
    try:
        writer.writelines(packed)
    except OSError as exc:
        await connection.disconnect(nowait=True)
        raise redis.exceptions.ConnectionError(f"Error while writing to socket: {exc!r}") from exc
    if writer.transport.get_write_buffer_size():
        await connection.send_packed_command([])  # drain, under the socket time-out


def _names_its_command() -> bool:
    """Whether the pool's ``get_connection`` needs a command name (redis-py < 5.3).

    From 5.3 passing one is deprecated (a warning); before, leaving it out is a TypeError.
    """
    parameter = inspect.signature(
        redis.asyncio.ConnectionPool.get_connection).parameters.get("command_name")
    return parameter is not None and parameter.default is inspect.Parameter.empty


_NAMES_ITS_COMMAND = _names_its_command()


def _plain_pool(client: Any) -> Any:
    """The pool of a plain pooled ``redis.asyncio.Redis``, else None."""
    if type(client) is not redis.asyncio.Redis:  # subclasses may change how commands are sent
        return None
    if client.single_connection_client or client.connection is not None:
        return None
    pool = client.connection_pool
    if not isinstance(pool, redis.asyncio.ConnectionPool):
        return None
    return pool
