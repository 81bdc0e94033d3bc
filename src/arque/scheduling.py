"""What runs next: priorities, groups (round-robin), group limits and rate limits.

The decisions are made in Redis, inside the one ``dequeue`` script of each
hand-out (see ``docs/scheduling.md`` and ``scripts/includes/``): priority > 0
first, then plain tasks, then priority < 0, FIFO within a priority; groups
with ready tasks (and the tasks without a group, as one more) take turns, one
task each; a group at ``group_limit`` or with its ``group_rate_limit`` window
full sits out until a slot frees or the window admits a start. This module
checks what callers give and reads the groups back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgument
from .records import text
from .scripts import Scripts
from .settings import check_integer

__all__ = ["PRIORITY_MAX", "PRIORITY_MIN", "GroupStats", "check_group", "check_priority",
           "list_groups"]

PRIORITY_MIN = -1000
"""The lowest priority: runs after every other."""
PRIORITY_MAX = 1000
"""The highest priority. The default, 0, runs after every positive one."""
_GROUP_MAX_LENGTH = 256


def check_priority(priority: Any) -> int:
    """``priority`` as an int in ``PRIORITY_MIN..PRIORITY_MAX``; else InvalidArgument."""
    if isinstance(priority, bool) or not isinstance(priority, int) or not (
        PRIORITY_MIN <= priority <= PRIORITY_MAX
    ):
        raise InvalidArgument(
            f"priority must be an integer in {PRIORITY_MIN}..{PRIORITY_MAX}, got {priority!r}"
        )
    return priority


def check_group(group: Any) -> str:
    """``group`` as sent to the scripts ('' for none); a bad name raises InvalidArgument.

    A group is a non-empty string of at most 256 characters without NUL (the
    scripts keep a group's tasks under ``<group>\\0`` in one sorted set).
    """
    if group is None:
        return ""
    if not isinstance(group, str) or not group or "\0" in group or len(group) > _GROUP_MAX_LENGTH:
        raise InvalidArgument(
            f"group must be a non-empty string of at most {_GROUP_MAX_LENGTH} characters "
            f"without NUL, got {group!r}"
        )
    return group


@dataclass(frozen=True, slots=True)
class GroupStats:
    """One group with work, as ``Arque.group_stats()`` reads it."""

    group: str
    pending: int
    """Its tasks ready to hand out."""
    working: int
    """Its tasks working now (what ``group_limit`` caps)."""
    held_until: float | None
    """While its ``group_rate_limit`` window is full: when it may start again (epoch seconds)."""


async def list_groups(scripts: Scripts, limit: int) -> list[GroupStats]:
    """Up to ``limit`` groups with ready or working tasks, read atomically."""
    limit = check_integer("limit", limit)
    reply = await scripts.call("groups", [limit])
    return [
        GroupStats(group=text(reply[i]), pending=int(reply[i + 1]), working=int(reply[i + 2]),
                   held_until=int(reply[i + 3]) / 1000 if int(reply[i + 3]) else None)
        for i in range(0, len(reply), 4)
    ]
