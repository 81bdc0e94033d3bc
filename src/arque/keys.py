"""Every Redis key name arque uses is made here, and only here.

All the keys of one queue share the hash tag ``{queue}``, so every script
touches a single slot and runs on Redis Cluster::

    arque:{default}:pending    LIST  ids ready to hand out (LPUSH in, RPOP out)
    arque:{default}:delayed    ZSET  id -> due time (ms, Redis clock)
    arque:{default}:working    ZSET  id -> lease deadline (ms, Redis clock)
    arque:{default}:leases     HASH  id -> delivery token of the current hand-out
    arque:{default}:tasks      HASH  id -> the task's record: its metadata (JSON written by
                               the scripts, no raw newline), a newline, then its payload
                               as the serializer encoded it (scripts/includes/record.lua)
    arque:{default}:failed     ZSET  id -> time it was dead-lettered (ms)
    arque:{default}:marker     ZSET  wake-up flag that idle consumers block on
    arque:{default}:failed:<reason>  ZSET  the same, for the dead letters of one
                               reason; one key per ``DeadReason``, kept by the
                               scripts that add and remove dead letters
    arque:{default}:config     HASH  setting -> value: the queue's limits (see settings.py)
    arque:{default}:workers    ZSET  worker name -> registration expiry (ms, Redis clock)
    arque:{default}:workers:info  HASH  worker name -> worker description (JSON)
    arque:{default}:throughput HASH  "<minute>:<outcome>" -> tasks settled that minute
    arque:{default}:timer      STRING  due time (ms) the one time-keeping consumer waits for
    arque:{default}:cancelling SET   working ids asked to stop (``cancel``)
    arque:{default}:waiting    HASH  id -> 1: someone awaits the result of this live task
    arque:{default}:finished   STREAM  ids of awaited tasks that finished (capped)
    arque:{default}:results    HASH  id -> the handler's return value, encoded
    arque:{default}:results:due  ZSET  id -> when its result expires (ms)
    arque:{default}:schedules  HASH  name -> schedule definition (JSON)
    arque:{default}:schedules:due  ZSET  name -> next run (ms)
    arque:{default}:schedule:payloads  HASH  name -> the payload of its tasks

What runs next (see scheduling.py and docs/scheduling.md); each key exists only
while it holds something:

    arque:{default}:prioritized    ZSET  ready ids without a group, priority != 0 -> order
    arque:{default}:grouped        ZSET  ready tasks of groups, score 0, members
                                         ``<group>\\0<rank>\\0<seq>\\0<id>`` (ZRANGEBYLEX)
    arque:{default}:groups         ZSET  the round-robin: group ('' = no group) -> turn
    arque:{default}:group:waits    ZSET  group held back by group_rate_limit -> ms it may start
    arque:{default}:group:working  HASH  group -> its working tasks (no field at 0)
    arque:{default}:seq            STRING  enqueue sequence of ordered (prioritized, grouped) tasks
    arque:{default}:starts         ZSET  hand-outs in the rate_limit window -> ms
    arque:{default}:group:starts   ZSET  hand-outs per group, score 0, ``<group>\\0<ms>\\0<n>``
    arque:{default}:group:windows  ZSET  group -> ms its last hand-out leaves its window
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .errors import InvalidArgument
from .records import DeadReason

__all__ = ["SCHED_ROLES", "QueueKeys", "index_roles", "key_pattern", "reason_value"]

_FORBIDDEN = frozenset("{}")
SCHED_ROLES = ("prioritized", "grouped", "groups", "group_waits", "group_working", "seq",
               "starts", "group_starts", "group_windows")
"""The keys of what runs next, in the order scripts take them (includes/sched_keys.lua)."""
_INDEX_ROLE = "failed_"
_REASONS = frozenset(reason.value for reason in DeadReason)


def reason_value(reason: DeadReason | str) -> str:
    """The value of a dead-letter reason; anything but a ``DeadReason`` is refused.

    Reasons are a fixed set so that each has its own index, and trimming or
    expiry can keep every index in step in one bounded script call.
    """
    value = reason.value if isinstance(reason, DeadReason) else reason
    if not isinstance(value, str) or value not in _REASONS:
        choices = ", ".join(sorted(_REASONS))
        raise InvalidArgument(f"reason must be one of {choices}, got {reason!r}")
    return value


def index_roles() -> tuple[str, ...]:
    """The roles of the per-reason dead-letter indexes, in ``DeadReason`` order."""
    return tuple(_INDEX_ROLE + reason.value for reason in DeadReason)


def _key_name(role: str) -> str:
    if role.startswith(_INDEX_ROLE):
        return "failed:" + role[len(_INDEX_ROLE):]
    return role.replace("_", ":")  # workers_info -> workers:info


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The key names of one queue."""

    pending: str
    delayed: str
    working: str
    leases: str
    tasks: str
    failed: str
    marker: str
    # Dead letters by reason, in ``DeadReason`` order (a test checks it); role
    # ``failed_<reason>``, key name ``failed:<reason>``.
    failed_retries_exhausted: str
    failed_lease_expired: str
    failed_poison_pill: str
    failed_undecodable: str
    failed_rejected: str
    failed_cancelled: str
    # The queue's stored settings (see settings.py).
    config: str
    # What workers tell about themselves (the live workers list, throughput rollups).
    workers: str
    workers_info: str
    throughput: str
    timer: str
    # A task's life beyond its state: cancellation, awaited results, schedules.
    cancelling: str
    waiting: str
    finished: str
    results: str
    results_due: str
    schedules: str
    schedules_due: str
    schedule_payloads: str
    # What runs next: priorities, groups, rate windows (see scheduling.py), in
    # the order of includes/sched_keys.lua (a test checks it).
    prioritized: str
    grouped: str
    groups: str
    group_waits: str
    group_working: str
    seq: str
    starts: str
    group_starts: str
    group_windows: str

    @classmethod
    def for_queue(cls, prefix: str, queue: str) -> QueueKeys:
        """Build the key names of ``queue`` under ``prefix``."""
        for what, value in (("prefix", prefix), ("queue", queue)):
            if not isinstance(value, str) or not value:
                raise InvalidArgument(f"{what} must be a non-empty string, got {value!r}")
            if _FORBIDDEN & set(value):
                raise InvalidArgument(f"{what} must not contain '{{' or '}}': {value!r}")
        base = f"{prefix}:{{{queue}}}:"
        return cls(**{f.name: base + _key_name(f.name) for f in fields(cls)})

    def failed_of(self, reason: DeadReason | str) -> str:
        """The index of the dead letters of ``reason`` (a ``DeadReason`` or its value)."""
        key: str = getattr(self, _INDEX_ROLE + reason_value(reason))
        return key

    @staticmethod
    def scan_pattern(prefix: str, role: str) -> str:
        """A SCAN pattern matching key ``role`` of every queue under ``prefix``."""
        return f"{prefix}:{{*}}:{role.replace('_', ':')}"

    @staticmethod
    def queue_of(prefix: str, key: str) -> str | None:
        """The queue a key name of ``prefix`` belongs to, or None."""
        head = f"{prefix}:{{"
        if not key.startswith(head) or "}" not in key[len(head):]:
            return None
        return key[len(head): key.index("}", len(head))]

    @property
    def pattern(self) -> str:
        """A glob (ACL ``~`` pattern) matching every key of this queue and nothing else."""
        base = self.pending[: -len("pending")]
        return "".join("\\" + c if c in "*?[]\\" else c for c in base) + "*"

    def names(self) -> dict[str, str]:
        """Every key of the queue, by its role."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def key_pattern(prefix: str, queue: str) -> str:
    """An ACL key pattern (``~`` glob) matching every key of ``queue`` and nothing else."""
    return QueueKeys.for_queue(prefix, queue).pattern
