"""Cancellation: take a task off the queue on request, whatever its state.

A pending or delayed task goes to dead letters ``cancelled`` at once (so it
can be inspected, and replayed). A working task is marked (the
``cancelling`` set): its worker learns it from the reply of its next lease
renewal (``extend`` answers -1) or progress report, cancels the handler and
dead-letters the task ``cancelled``; meanwhile the holder's release or
requeue is refused and dead-letters it instead, and if the holder died, the
sweep of its lease dead-letters it rather than handing it out again.
"""

from __future__ import annotations

import enum
import logging

from .scripts import Scripts

__all__ = ["Cancelled", "cancel"]

logger = logging.getLogger("arque")


class Cancelled(enum.IntEnum):
    """What ``cancel.lua`` did (its reply)."""

    NOTHING = 0
    """Unknown, released, or a dead letter already."""
    DEAD_LETTERED = 1
    """It was pending or delayed: it is a dead letter ``cancelled`` now."""
    MARKED = 2
    """It is working: its worker stops it within a heartbeat interval."""


async def cancel(scripts: Scripts, task_id: str, max_failed: int) -> Cancelled:
    """Cancel ``task_id``; says what was done."""
    done = Cancelled(int(await scripts.call("cancel", [task_id, max_failed])))
    if done is Cancelled.MARKED:
        logger.info("task %s is working: marked for cancellation", task_id)
    elif done is Cancelled.DEAD_LETTERED:
        logger.info("task %s cancelled: dead-lettered", task_id)
    return done
