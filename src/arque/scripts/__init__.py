"""The Lua scripts, one per state transition, and their typed wrappers.

Each ``<name>.lua`` file opens with a header naming every ``KEYS[i]`` and
``ARGV[i]``; ``--@include NAME`` lines pull in ``includes/NAME.lua``. The
files are read once; every call goes through ``Scripts.call``: EVALSHA, and
SCRIPT LOAD then EVALSHA again after a NOSCRIPT (a restarted or flushed
server). Replies are read undecoded whatever the client's
``decode_responses``, so a payload that is not UTF-8 reaches the serializer
(and dead letters) instead of breaking the connection; this is also the one
place where redis-py errors become arque errors.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis.exceptions

from ..errors import REDIS_ERRORS, translate
from ..keys import QueueKeys, index_roles

__all__ = ["KEYS", "Scripts", "source"]

# The per-reason dead-letter indexes come last, in DeadReason order (see
# includes/failed_indexes.lua), in every script that adds or removes dead letters.
_BY_REASON = index_roles()

# The keys of each script, in KEYS order, by their role in QueueKeys.
KEYS: dict[str, tuple[str, ...]] = {
    "enqueue": ("pending", "delayed", "tasks", "payloads", "marker"),
    "dequeue": ("pending", "delayed", "working", "leases", "tasks", "payloads", "failed", "marker",
                *_BY_REASON),
    "release": ("working", "leases", "tasks", "payloads", "pending", "marker"),
    "requeue": ("pending", "delayed", "working", "leases", "tasks", "payloads", "failed", "marker",
                *_BY_REASON),
    "extend": ("working", "leases", "tasks"),
    "fail": ("working", "leases", "tasks", "payloads", "failed", *_BY_REASON),
    "sweep": ("pending", "delayed", "working", "leases", "tasks", "payloads", "failed", "marker",
              *_BY_REASON),
    "replay": ("failed", "tasks", "pending", "marker", *_BY_REASON),
    "purge": ("failed", "tasks", "payloads", *_BY_REASON),
    "stats": ("pending", "delayed", "working", "failed"),
    "inspect": ("tasks", "payloads", "working", "delayed", "failed"),
    "list_failed": ("failed", "tasks", "payloads", *_BY_REASON),
}

Arg = str | bytes | int | float


@functools.cache
def source(name: str) -> str:
    """The text of script ``name`` with its includes pulled in."""
    folder = resources.files(__package__)
    lines = []
    for line in (folder / f"{name}.lua").read_text().splitlines():
        if line.startswith("--@include "):
            include = line.split(maxsplit=1)[1].strip()
            lines.append((folder / "includes" / f"{include}.lua").read_text().rstrip())
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


@functools.cache
def sha1(name: str) -> str:
    """The SHA1 digest by which Redis knows script ``name``."""
    return hashlib.sha1(source(name).encode()).hexdigest()


class Scripts:
    """The scripts of one queue on one client (async or sync)."""

    def __init__(self, client: Any, keys: QueueKeys) -> None:
        self._client = client
        self._keys = {name: [getattr(keys, role) for role in roles] for name, roles in KEYS.items()}

    def _command(self, name: str, args: Sequence[Arg]) -> list[Arg]:
        keys = self._keys[name]
        return ["EVALSHA", sha1(name), len(keys), *keys, *args]

    async def call(self, name: str, args: Sequence[Arg]) -> Any:
        """Run script ``name``; bulk replies come back as bytes."""
        command = self._command(name, args)
        try:
            try:
                return await self._client.execute_command(*command, NEVER_DECODE=True)
            except redis.exceptions.NoScriptError:
                await self._client.script_load(source(name))
                return await self._client.execute_command(*command, NEVER_DECODE=True)
        except REDIS_ERRORS as exc:
            raise translate(exc) from exc

    async def call_after(self, first: Sequence[Arg], name: str, args: Sequence[Arg]) -> Any:
        """Send ``first`` (a blocking command) and script ``name`` in one pipeline.

        Redis runs the script as soon as ``first`` returns, one round trip for
        both; returns the script's reply.
        """
        command = self._command(name, args)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.execute_command(*first)
                pipe.execute_command(*command, NEVER_DECODE=True)
                _, reply = await pipe.execute(raise_on_error=False)
        except REDIS_ERRORS as exc:
            raise translate(exc) from exc
        if isinstance(reply, redis.exceptions.NoScriptError):
            return await self.call(name, args)
        if isinstance(reply, REDIS_ERRORS):
            raise translate(reply) from reply
        if isinstance(reply, Exception):
            raise reply
        return reply

    def call_sync(self, name: str, args: Sequence[Arg]) -> Any:
        """Run script ``name`` on a synchronous client."""
        command = self._command(name, args)
        try:
            try:
                return self._client.execute_command(*command, NEVER_DECODE=True)
            except redis.exceptions.NoScriptError:
                self._client.script_load(source(name))
                return self._client.execute_command(*command, NEVER_DECODE=True)
        except REDIS_ERRORS as exc:
            raise translate(exc) from exc
