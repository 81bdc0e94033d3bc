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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis.exceptions

from ..durability import DURABLE_SCRIPTS, Durability
from ..errors import REDIS_ERRORS, translate
from ..keys import SCHED_ROLES, QueueKeys, index_roles
from .permissions import explain_permission
from .wire import Packed

__all__ = ["KEYS", "FirstCall", "Scripts", "source"]

# The per-reason dead-letter indexes come after the state keys, in DeadReason
# order (see includes/failed_indexes.lua), in every script that adds or removes
# dead letters; then the queue's config, in the scripts that read its settings;
# then the keys a script alone needs (dequeue's timer, fail's pending and
# marker); then the keys of a task's life (includes/life_keys.lua), in every
# script that ends a task.
_BY_REASON = index_roles()
_LIFE = ("cancelling", "waiting", "finished")
_SCHEDULE = ("schedules", "schedules_due", "schedule_payloads")
# The keys of what runs next come last, in SCHED_ROLES order (includes/sched_keys.lua).
_SCHED = SCHED_ROLES

# The keys of each script, in KEYS order, by their role in QueueKeys.
KEYS: dict[str, tuple[str, ...]] = {
    "enqueue": ("pending", "delayed", "tasks", "marker", *_SCHED),
    "enqueue_one": ("pending", "tasks", "marker"),
    "dequeue": ("pending", "delayed", "working", "leases", "tasks", "failed", "marker",
                *_BY_REASON, "config", "timer", *_LIFE, *_SCHED),
    "release": ("working", "leases", "tasks", "pending", "marker", "failed",
                *_BY_REASON, "config", *_LIFE, "results", "results_due", *_SCHED),
    "requeue": ("pending", "delayed", "working", "leases", "tasks", "failed", "marker",
                *_BY_REASON, "config", *_LIFE, *_SCHED),
    "extend": ("working", "leases", "tasks", "cancelling"),
    "fail": ("working", "leases", "tasks", "failed", *_BY_REASON, "config", "pending",
             "marker", *_LIFE, *_SCHED),
    "sweep": ("pending", "delayed", "working", "leases", "tasks", "failed", "marker",
              *_BY_REASON, "config", *_LIFE, *_SCHED),
    "replay": ("failed", "tasks", "pending", "marker", *_BY_REASON, *_SCHED),
    "purge": ("failed", "tasks", *_BY_REASON),
    "stats": ("pending", "delayed", "working", "failed", "prioritized", "grouped"),
    "groups": ("grouped", "groups", "group_waits", "group_working"),
    "inspect": ("tasks", "working", "delayed", "failed", "leases"),
    "list_failed": ("failed", "tasks", *_BY_REASON),
    "configure": ("config",),
    "register_worker": ("workers", "workers_info"),
    "list_workers": ("workers", "workers_info"),
    "queue_metrics": ("pending", "delayed", "working", "failed", "tasks", "workers", "config",
                      "prioritized", "grouped", "leases"),
    "record_throughput": ("throughput",),
    "read_throughput": ("throughput",),
    "page_queue": ("pending", "delayed", "working", "leases", "tasks", "prioritized", "grouped"),
    "search_failed": ("failed", "tasks", *_BY_REASON),
    "group_failed": ("failed", "tasks"),
    "cancel": ("pending", "delayed", "working", "tasks", "failed", *_BY_REASON,
               "config", *_LIFE, *_SCHED),
    "progress": ("leases", "tasks", "cancelling"),
    "result": ("tasks", "failed", "results", "results_due", "waiting", "finished"),
    "expire_results": ("results", "results_due", "config"),
    "schedule_upsert": _SCHEDULE,
    "schedule_fire": (*_SCHEDULE, "pending", "tasks", "marker", *_SCHED),
    "schedule_due": ("schedules", "schedules_due"),
    "schedule_list": ("schedules", "schedule_payloads"),
    "schedule_remove": _SCHEDULE,
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


@dataclass(frozen=True)
class FirstCall:
    """A script an instance runs before its first script call (``configure``).

    ``again``: its arguments when a server answers NOSCRIPT later (it may
    have restarted and lost its data); None: not run again. ``on_reply``
    gets each reply.
    """

    name: str
    args: Sequence[Arg]
    again: Sequence[Arg] | None = None
    on_reply: Callable[[Any], object] | None = None


class Scripts:
    """The scripts of one queue on one client (async or sync), and its ``FirstCall``.

    With ``durability``, the scripts in ``DURABLE_SCRIPTS`` are followed by its
    wait on the same connection, in one pipeline (see ``durability.py``).
    """

    def __init__(
        self, client: Any, keys: QueueKeys, first: FirstCall | None = None,
        durability: Durability | None = None,
    ) -> None:
        self._client = client
        self._keys = {name: [getattr(keys, role) for role in roles] for name, roles in KEYS.items()}
        self._pattern = keys.pattern
        self._durability = durability
        self._first = first
        # On a plain async client, each call packs only its own arguments (see wire.py).
        packed = Packed(client)
        self._packed = packed if packed.usable else None
        for name in self._keys if self._packed else ():
            packed.prepare(name, self._command(name, ()))
        # The arguments of a FirstCall due before the next script, or None.
        self._due: Sequence[Arg] | None = None if first is None else first.args

    def _translate(self, name: str, exc: Any) -> Exception:
        """The arque error of a redis-py error met running ``name``; a missing ACL rule named."""
        return translate(explain_permission(name, self._pattern, exc))

    def _durable(self, name: str) -> Durability | None:
        return self._durability if name in DURABLE_SCRIPTS else None

    def _command(self, name: str, args: Sequence[Arg]) -> list[Arg]:
        keys = self._keys[name]
        return ["EVALSHA", sha1(name), len(keys), *keys, *args]

    def _noscript(self, name: str) -> None:
        """Script ``name`` was not loaded: the first call runs again, if it asks to."""
        if self._first is not None and name != self._first.name and self._first.again is not None:
            self._due = self._first.again

    async def _run_first(self) -> None:
        assert self._first is not None and self._due is not None
        # Cleared before the round trip: calls made meanwhile do not repeat it.
        args, self._due = self._due, None
        try:
            reply = await self._call(self._first.name, args)
        except BaseException:
            self._due = args
            raise
        if self._first.on_reply is not None:
            self._first.on_reply(reply)

    async def call(self, name: str, args: Sequence[Arg]) -> Any:
        """Run script ``name``; bulk replies come back as bytes."""
        if self._due is not None:
            await self._run_first()
        return await self._call(name, args)

    async def _call(self, name: str, args: Sequence[Arg]) -> Any:
        durability = self._durable(name)
        if durability is not None:
            return await self._call_durable(name, args, durability)
        if self._packed is not None:
            packed = self._packed.pack(name, args)
            if packed is not None:
                try:
                    return await self._packed.send(packed)
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    pass  # sent again below, under redis-py's retry policy
                except redis.exceptions.NoScriptError:
                    pass  # loaded below
                except REDIS_ERRORS as exc:
                    raise self._translate(name, exc) from exc
        command = self._command(name, args)
        try:
            try:
                return await self._client.execute_command(*command, NEVER_DECODE=True)
            except redis.exceptions.NoScriptError:
                self._noscript(name)
                if self._due is not None:
                    await self._run_first()
                await self._client.script_load(source(name))
                return await self._client.execute_command(*command, NEVER_DECODE=True)
        except REDIS_ERRORS as exc:
            raise self._translate(name, exc) from exc

    async def _call_durable(self, name: str, args: Sequence[Arg], durability: Durability) -> Any:
        """The script, then the durability wait on the same connection (one pipeline)."""
        command = self._command(name, args)
        for attempt in (1, 2):
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.execute_command(*command, NEVER_DECODE=True)
                    pipe.execute_command(*durability.command)
                    reply, confirmed = await pipe.execute(raise_on_error=False)
                if isinstance(reply, redis.exceptions.NoScriptError) and attempt == 1:
                    self._noscript(name)
                    if self._due is not None:
                        await self._run_first()
                    await self._client.script_load(source(name))
                    continue
            except REDIS_ERRORS as exc:
                raise self._translate(name, exc) from exc
            if isinstance(reply, REDIS_ERRORS):
                raise self._translate(name, reply) from reply
            return durability.checked(name, reply, confirmed)
        raise AssertionError("unreachable")

    async def call_after(self, first: Sequence[Arg], name: str, args: Sequence[Arg]) -> Any:
        """Send ``first`` (a blocking command) and script ``name`` in one write.

        Redis runs the script as soon as ``first`` returns, one round trip for
        both; returns the script's reply.
        """
        if self._due is not None:
            await self._run_first()
        try:
            blocked, reply = await self._send_after(first, name, args)
        except REDIS_ERRORS as exc:
            raise translate(exc) from exc
        if isinstance(blocked, REDIS_ERRORS):  # e.g. NOPERM: ignored, the caller would spin
            raise translate(blocked) from blocked
        if isinstance(reply, redis.exceptions.NoScriptError):
            return await self._call(name, args)
        if isinstance(reply, REDIS_ERRORS):
            raise self._translate(name, reply) from reply
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def _send_after(self, first: Sequence[Arg], name: str, args: Sequence[Arg]) -> list[Any]:
        """``call_after``'s two replies, each an error reply in its place."""
        if self._packed is not None:
            head, script = self._packed.pack_command(first), self._packed.pack(name, args)
            if head is not None and script is not None:
                return await self._packed.exchange([*head, *script], 2)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.execute_command(*first)
            pipe.execute_command(*self._command(name, args), NEVER_DECODE=True)
            return await pipe.execute(raise_on_error=False)  # type: ignore[no-any-return]

    def call_sync(self, name: str, args: Sequence[Arg]) -> Any:
        """Run script ``name`` on a synchronous client."""
        if self._due is not None and self._first is not None and name != self._first.name:
            due, self._due = self._due, None
            try:
                reply = self.call_sync(self._first.name, due)
            except BaseException:
                self._due = due
                raise
            if self._first.on_reply is not None:
                self._first.on_reply(reply)
        durability = self._durable(name)
        if durability is not None:
            return self._call_durable_sync(name, args, durability)
        command = self._command(name, args)
        try:
            try:
                return self._client.execute_command(*command, NEVER_DECODE=True)
            except redis.exceptions.NoScriptError:
                self._noscript(name)
                self._client.script_load(source(name))
                if self._due is not None:
                    return self.call_sync(name, args)
                return self._client.execute_command(*command, NEVER_DECODE=True)
        except REDIS_ERRORS as exc:
            raise self._translate(name, exc) from exc

    def _call_durable_sync(self, name: str, args: Sequence[Arg], durability: Durability) -> Any:
        command = self._command(name, args)
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.execute_command(*command, NEVER_DECODE=True)
                pipe.execute_command(*durability.command)
                reply, confirmed = pipe.execute(raise_on_error=False)
            if isinstance(reply, redis.exceptions.NoScriptError):
                self._noscript(name)
                self._client.script_load(source(name))
                with self._client.pipeline(transaction=False) as pipe:
                    pipe.execute_command(*command, NEVER_DECODE=True)
                    pipe.execute_command(*durability.command)
                    reply, confirmed = pipe.execute(raise_on_error=False)
        except REDIS_ERRORS as exc:
            raise self._translate(name, exc) from exc
        if isinstance(reply, REDIS_ERRORS):
            raise self._translate(name, reply) from reply
        return durability.checked(name, reply, confirmed)
