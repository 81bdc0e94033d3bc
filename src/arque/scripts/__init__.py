"""The Lua scripts, one per state transition, and their typed wrappers.

Each ``<name>.lua`` file opens with a header naming every ``KEYS[i]`` and
``ARGV[i]``; ``--@include NAME`` lines pull in ``includes/NAME.lua``. The
files are read once, registered on the client (redis-py's Script objects
run EVALSHA and load the script again after a NOSCRIPT), and every call
goes through ``Scripts.call``, the one place where redis-py errors become
arque errors.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis.exceptions

from ..errors import translate
from ..keys import QueueKeys

__all__ = ["KEYS", "Scripts", "source"]

# The keys of each script, in KEYS order, by their role in QueueKeys.
KEYS: dict[str, tuple[str, ...]] = {
    "enqueue": ("pending", "delayed", "tasks", "payloads", "marker"),
    "dequeue": ("pending", "delayed", "working", "leases", "tasks", "payloads", "failed", "marker"),
    "release": ("working", "leases", "tasks", "payloads", "pending", "marker"),
    "requeue": ("pending", "delayed", "working", "leases", "tasks", "payloads", "failed", "marker"),
    "extend": ("working", "leases", "tasks"),
    "fail": ("working", "leases", "tasks", "payloads", "failed"),
    "sweep": ("pending", "delayed", "working", "leases", "tasks", "payloads", "failed", "marker"),
    "replay": ("failed", "tasks", "pending", "marker"),
    "purge": ("failed", "tasks", "payloads"),
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


class Scripts:
    """The scripts of one queue, registered on one client (async or sync)."""

    def __init__(self, client: Any, keys: QueueKeys) -> None:
        self._scripts = {name: client.register_script(source(name)) for name in KEYS}
        self._keys = {name: [getattr(keys, role) for role in roles] for name, roles in KEYS.items()}

    async def call(self, name: str, args: Sequence[Arg], client: Any = None) -> Any:
        """Run script ``name``; redis-py errors come out as arque errors."""
        try:
            return await self._scripts[name](self._keys[name], args, client)
        except redis.exceptions.RedisError as exc:
            raise translate(exc) from exc

    def call_sync(self, name: str, args: Sequence[Arg]) -> Any:
        """Run script ``name`` on a synchronous client."""
        try:
            return self._scripts[name](self._keys[name], args)
        except redis.exceptions.RedisError as exc:
            raise translate(exc) from exc
