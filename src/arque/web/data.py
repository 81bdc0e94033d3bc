"""What the dashboard reads: one read-only script (or one scan) per view.

Every list is read a page at a time from a cursor, so a view costs the same
with 20 or 200,000 entries. Nothing here writes to Redis.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..keys import QueueKeys
from ..metrics import QueueGauges, queue_gauges
from ..queue import Arque
from ..records import parse_meta, text
from ..scripts import Scripts

__all__ = [
    "FailedGroup",
    "FailedPage",
    "Row",
    "TaskPage",
    "TaskView",
    "discover_queues",
    "failed_groups",
    "gauges",
    "page_tasks",
    "read_task",
    "search_failed",
]

PAYLOAD_CAP = 64 * 1024
"""Characters of a payload the task page shows."""
_SCAN_ROUNDS = 200
_DISCOVERED_MAX = 500
SEARCH_SCAN = 5000
"""Dead letters a search looks at per page (then it offers to search on)."""
GROUP_SAMPLE = 2000
"""Newest dead letters the grouped view counts."""


async def discover_queues(redis: Any, prefix: str) -> list[str]:
    """The queues under ``prefix`` that hold tasks or live workers (a bounded SCAN)."""
    found: set[str] = set()
    for role in ("tasks", "workers"):
        cursor: Any = 0
        for _ in range(_SCAN_ROUNDS):
            cursor, keys = await redis.scan(cursor, match=QueueKeys.scan_pattern(prefix, role),
                                            count=1000)
            for key in keys:
                name = QueueKeys.queue_of(prefix, text(key))
                if name:
                    found.add(name)
            if int(cursor) == 0 or len(found) >= _DISCOVERED_MAX:
                break
    return sorted(found)


async def gauges(queue: Arque) -> QueueGauges:
    """Counts, ages, the working limit the queue stores (else the default) and workers."""
    return await queue_gauges(queue)


@dataclass(frozen=True)
class Row:
    """One task of a list page."""

    task_id: str
    meta: dict[str, Any]
    score_ms: float | None
    """Due time (delayed) or lease deadline (working), Redis clock."""
    token: str | None


@dataclass(frozen=True)
class TaskPage:
    """A page of the tasks in one state."""

    state: str
    rows: list[Row]
    total: int
    now_ms: float
    cursor: int
    next_cursor: int | None


def _meta(raw: Any) -> dict[str, Any]:
    try:
        return parse_meta(raw) if raw else {}
    except ValueError:
        return {}


async def page_tasks(queue: Arque, state: str, cursor: int, limit: int) -> TaskPage:
    """Tasks ``cursor`` .. ``cursor + limit`` of ``state`` (pending: next out first)."""
    reply = await Scripts(queue.redis, queue.keys).call("page_queue", [state, cursor, limit])
    total, now = int(reply[0]), float(reply[1])
    rows = []
    for i in range(2, len(reply), 4):
        raw_id, score, token, meta = reply[i: i + 4]
        rows.append(Row(text(raw_id), _meta(meta), None if float(score) < 0 else float(score),
                        text(token) if token else None))
    following = cursor + len(rows)
    return TaskPage(state, rows, total, now, cursor, following if following < total else None)


@dataclass(frozen=True)
class TaskView:
    """One task whole."""

    task_id: str
    state: str
    meta: dict[str, Any]
    payload: str
    truncated: bool


async def read_task(queue: Arque, task_id: str) -> TaskView | None:
    """A task's state, metadata and payload (pretty-printed, capped); None if unknown."""
    reply = await Scripts(queue.redis, queue.keys).call("inspect", [task_id])
    meta, state, payload = reply
    if not meta:
        return None
    body = "" if payload is None else payload.decode("utf-8", errors="replace")
    try:
        body = json.dumps(json.loads(body), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        pass  # not JSON (MsgPack or a custom serializer): shown as it is
    cut = len(body) > PAYLOAD_CAP
    return TaskView(task_id, text(state), _meta(meta), body[:PAYLOAD_CAP], cut)


@dataclass(frozen=True)
class FailedPage:
    """A page of a dead-letter search."""

    rows: list[Row]
    groups: list[str]
    total: int
    cursor: int
    next_cursor: int | None
    """Where the search goes on (None: it reached the oldest)."""
    query: dict[str, str] = field(default_factory=dict)


async def search_failed(queue: Arque, *, cursor: int = 0, limit: int = 50, task_id: str = "",
                        reason: str = "", needle: str = "") -> FailedPage:
    """Dead letters, newest first, matching ``task_id``/``reason``/``needle`` (error or id)."""
    reply = await Scripts(queue.redis, queue.keys).call(
        "search_failed", [cursor, limit, SEARCH_SCAN, task_id, reason, needle])
    total, following = int(reply[0]), int(reply[1])
    rows, groups = [], []
    for i in range(3, len(reply), 4):
        raw_id, score, meta, group = reply[i: i + 4]
        rows.append(Row(text(raw_id), _meta(meta), float(score), None))
        groups.append(text(group))
    return FailedPage(rows, groups, total, cursor, following or None,
                      {"id": task_id, "reason": reason, "q": needle})


@dataclass(frozen=True)
class FailedGroup:
    """Dead letters of one reason and error (its first line)."""

    reason: str
    error: str
    count: int
    newest_id: str


async def failed_groups(queue: Arque, sample: int = GROUP_SAMPLE) -> tuple[int, list[FailedGroup]]:
    """How many of the newest dead letters were looked at, and their groups (largest first)."""
    reply = await Scripts(queue.redis, queue.keys).call("group_failed", [sample])
    groups = [FailedGroup(text(reply[i]), text(reply[i + 1]), int(reply[i + 2]),
                          text(reply[i + 3])) for i in range(1, len(reply), 4)]
    return int(reply[0]), sorted(groups, key=lambda g: -g.count)
