"""Every Redis key name arque uses is made here, and only here.

All the keys of one queue share the hash tag ``{queue}``, so every script
touches a single slot and runs on Redis Cluster::

    arque:{default}:pending    LIST  ids ready to hand out (LPUSH in, RPOP out)
    arque:{default}:delayed    ZSET  id -> due time (ms, Redis clock)
    arque:{default}:working    ZSET  id -> lease deadline (ms, Redis clock)
    arque:{default}:leases     HASH  id -> delivery token of the current hand-out
    arque:{default}:tasks      HASH  id -> task metadata (JSON, written by the scripts)
    arque:{default}:payloads   HASH  id -> payload, as the serializer encoded it
    arque:{default}:failed     ZSET  id -> time it was dead-lettered (ms)
    arque:{default}:marker     ZSET  wake-up flag that idle consumers block on
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .errors import InvalidArgument

__all__ = ["QueueKeys"]

_FORBIDDEN = frozenset("{}")


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The key names of one queue."""

    pending: str
    delayed: str
    working: str
    leases: str
    tasks: str
    payloads: str
    failed: str
    marker: str

    @classmethod
    def for_queue(cls, prefix: str, queue: str) -> QueueKeys:
        """Build the key names of ``queue`` under ``prefix``."""
        for what, value in (("prefix", prefix), ("queue", queue)):
            if not isinstance(value, str) or not value:
                raise InvalidArgument(f"{what} must be a non-empty string, got {value!r}")
            if _FORBIDDEN & set(value):
                raise InvalidArgument(f"{what} must not contain '{{' or '}}': {value!r}")
        base = f"{prefix}:{{{queue}}}:"
        return cls(**{f.name: base + f.name for f in fields(cls)})

    def names(self) -> dict[str, str]:
        """Every key of the queue, by its role."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
