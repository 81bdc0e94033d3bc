"""Frozen records that the queue returns for inspection, and their parsing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = ["DeadLetter", "DeadReason", "QueueStats"]


class DeadReason(str, Enum):
    """Why a task went to dead letters."""

    #: requeued after its last allowed attempt (``requeue_limit``)
    RETRIES_EXHAUSTED = "retries_exhausted"
    #: the lease of its last allowed attempt expired (holder crashed or overran)
    LEASE_EXPIRED = "lease_expired"
    #: its lease expired ``recovery_limit`` times: it keeps killing its consumer
    POISON_PILL = "poison_pill"
    #: its payload could not be decoded
    UNDECODABLE = "undecodable"
    #: failed for good on purpose (``Arque.fail``)
    REJECTED = "rejected"
    #: cancelled on request (``Arque.cancel``): taken off the queue, or stopped while working
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A task in dead letters, as ``get_failed`` and ``list_failed`` show it."""

    task_id: str
    data: Any
    attempts: int
    error: str | None
    reason: str
    failed_at: float
    enqueued_at: float
    recoveries: int
    requeues: int
    priority: int = 0
    group: str | None = None


@dataclass(frozen=True, slots=True)
class QueueStats:
    """How many tasks are in each state of one queue."""

    pending: int
    delayed: int
    working: int
    failed: int
    prioritized: int = 0
    """Of ``pending``: tasks without a group whose priority is not 0."""
    grouped: int = 0
    """Of ``pending``: tasks of groups (``Arque.group_stats()`` lists the groups)."""

    @property
    def tasks(self) -> int:
        """Live tasks: pending + delayed + working (dead letters are not live)."""
        return self.pending + self.delayed + self.working

    def as_dict(self) -> dict[str, int]:
        """The seed's stats dict: tasks, pending, working, delayed, failed."""
        return {
            "tasks": self.tasks,
            "pending": self.pending,
            "working": self.working,
            "delayed": self.delayed,
            "failed": self.failed,
        }


def text(value: str | bytes) -> str:
    """A reply as str, whatever the client's decode_responses."""
    return value.decode() if isinstance(value, bytes) else value


_COUNTERS = ("a", "r", "q")  # attempts, recoveries, requeues: left out of the JSON while 0


def parse_meta(raw: str | bytes) -> dict[str, Any]:
    """The metadata JSON the scripts keep for each task, its counters filled in (0 when left out)."""
    meta: dict[str, Any] = json.loads(raw)
    for counter in _COUNTERS:
        meta.setdefault(counter, 0)
    return meta


def payload_of(record: bytes) -> bytes:
    """The payload of a task's record as stored, ``<metadata JSON>\\n<payload>``.

    The JSON never holds a raw newline, so the payload is all after the first.
    """
    return record.partition(b"\n")[2]


def seconds(ms: Any) -> float | None:
    """Milliseconds of the Redis clock as epoch seconds (None stays None)."""
    return None if ms is None else float(ms) / 1000.0


def dead_letter(task_id: str, meta: dict[str, Any], data: Any) -> DeadLetter:
    """Build the record of one dead letter from its metadata and decoded payload."""
    return DeadLetter(
        task_id=task_id,
        data=data,
        attempts=int(meta.get("a", 0)),
        error=meta.get("err"),
        reason=str(meta.get("why", "")),
        failed_at=seconds(meta.get("f", 0)) or 0.0,
        enqueued_at=seconds(meta.get("e", 0)) or 0.0,
        recoveries=int(meta.get("r", 0)),
        requeues=int(meta.get("q", 0)),
        priority=int(meta.get("p", 0)),
        group=meta.get("g"),
    )


def task_stats(meta: dict[str, Any], state: str, delayed_now: bool) -> dict[str, Any]:
    """The seed's per-task stats dict, plus the task's state and failure counts."""
    delayed_pops = int(meta.get("dp", 0)) - (1 if delayed_now else 0)
    return {
        "enqueue_time": seconds(meta.get("e")),
        "last_dequeue_time": seconds(meta.get("d")),
        "dequeue_count": int(meta.get("a", 0)),
        "last_requeue_time": seconds(meta.get("rt")),
        "requeue_count": int(meta.get("q", 0)) + int(meta.get("r", 0)),
        "last_delayed_pop_time": seconds(meta.get("dt")) if delayed_pops > 0 else None,
        "delayed_pop_count": delayed_pops,
        "state": state,
        "recoveries": int(meta.get("r", 0)),
        "error": meta.get("err"),
        "reason": meta.get("why"),
        "progress": progress(meta),
        "priority": int(meta.get("p", 0)),
        "group": meta.get("g"),
    }


def progress(meta: dict[str, Any]) -> Any:
    """The last progress a handler reported (``ctx.progress``), decoded; None when none."""
    raw = meta.get("pr")
    return None if raw is None else json.loads(raw)
