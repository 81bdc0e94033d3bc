"""Durable enqueues: wait until replicas (and, on Redis >= 7.2, AOF files) hold the write.

Redis acknowledges a write once the master applied it; replicas copy it a
moment later. A master that dies in that moment takes the write with it, and
the replica the sentinels promote never saw it. With a :class:`Durability`
setting, the scripts that bring work into the queue (``enqueue`` and
``enqueue_one``, used by ``enqueue``, ``enqueue_many``, ``enqueue_sync`` and
coalesced enqueues, and ``replay``) are followed on the SAME connection, in
one pipeline, by ``WAIT numreplicas timeout`` (or ``WAITAOF 1 numreplicas
timeout`` with ``aof=True``). Fewer confirmations than asked raise :class:`NotDurable`: the
write was applied on the master but may be lost in a failover, and the
caller retries (an enqueue is idempotent by task id; the retry's own WAIT
covers every earlier write, because Redis waits for the offset of the
connection's last command, whatever it wrote).

Other transitions need no wait: losing one in a failover rolls a task back to
an earlier state from which it still completes (a lost release or dequeue
runs the task again, a lost requeue or fail leaves it working until its lease
expires and the sweep recovers it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import REDIS_ERRORS, InvalidArgument, NotDurable, ServerError, translate

__all__ = ["DURABLE_SCRIPTS", "Durability"]

DURABLE_SCRIPTS = frozenset({"enqueue", "enqueue_one", "replay"})
"""The scripts followed by a wait when a queue has a Durability setting."""


@dataclass(frozen=True)
class Durability:
    """How many replicas must confirm a write before it is acknowledged.

    ``replicas``: replicas that must hold the write; ``timeout``: seconds to
    wait for them (WAIT's timeout; a call takes that long at most when they
    lag); ``aof``: also require the master's and those replicas' AOF fsync
    (WAITAOF, Redis >= 7.2, appendonly on), then ``replicas`` may be 0.
    """

    replicas: int = 1
    timeout: float = 1.0
    aof: bool = False

    def __post_init__(self) -> None:
        least = 0 if self.aof else 1
        if isinstance(self.replicas, bool) or not isinstance(self.replicas, int) \
                or self.replicas < least:
            raise InvalidArgument(f"replicas must be an integer >= {least}, got {self.replicas!r}")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) \
                or not math.isfinite(self.timeout) or self.timeout <= 0:
            # WAIT 0 would block forever: a durable call must end.
            raise InvalidArgument(f"timeout must be a positive number, got {self.timeout!r}")
        if not isinstance(self.aof, bool):
            raise InvalidArgument(f"aof must be a bool, got {self.aof!r}")

    @property
    def command(self) -> list[str | int]:
        """The command sent after the script on the same connection."""
        timeout_ms = max(1, round(self.timeout * 1000))
        if self.aof:
            return ["WAITAOF", 1, self.replicas, timeout_ms]
        return ["WAIT", self.replicas, timeout_ms]

    def check(self, reply: Any, what: str) -> None:
        """Raise :class:`NotDurable` unless ``reply`` (of :attr:`command`) confirms enough."""
        if self.aof:
            local, replicas = (int(n) for n in reply)
            if local >= 1 and replicas >= self.replicas:
                return
            detail = (f"the master's AOF {'was' if local else 'was not'} fsynced and "
                      f"{replicas} of {self.replicas} replicas confirmed an fsync")
        else:
            replicas = int(reply)
            if replicas >= self.replicas:
                return
            detail = f"{replicas} of {self.replicas} replicas confirmed it"
        raise NotDurable(
            f"{what} was applied on the master but {detail} within {self.timeout:g} s: "
            "it may be lost in a failover; retry it (an enqueue is idempotent by task id)",
            confirmed=replicas, needed=self.replicas,
        )

    def checked(self, name: str, reply: Any, confirmed: Any) -> Any:
        """The reply of script ``name`` once the wait after it (``confirmed``) succeeded."""
        if isinstance(confirmed, REDIS_ERRORS):
            # redis-py drops the "ERR " of the reply; match by prefix either way.
            if str(confirmed).removeprefix("ERR ").startswith("unknown command"):
                raise ServerError(f"{self.command[0]} is not supported by this server "
                                  f"(WAITAOF needs Redis >= 7.2): {confirmed}") from confirmed
            raise translate(confirmed) from confirmed
        if isinstance(reply, Exception) or isinstance(confirmed, Exception):
            raise reply if isinstance(reply, Exception) else confirmed
        self.check(confirmed, f"the {name}")
        return reply
