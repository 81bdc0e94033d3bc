"""Schedules: tasks enqueued on a cron expression or every N seconds, each run exactly once.

A schedule lives in Redis (``schedules``: its definition, version and next
run; ``schedules:due``: name -> next run). Every worker fires due schedules:
it reads them (``schedule_due.lua``), computes the run after the due one
(cron needs the ``arque[cron]`` extra), and calls ``schedule_fire.lua``,
which enqueues the run and advances the schedule in one step, only if the
schedule is still at the version and run it read. So of all the workers that
try one run, exactly one enqueues it, whichever crash or restart; the task's
id, ``schedule:<name>:<run ms>``, is derived from the schedule and the run.
After a time with no worker, the missed run fires once and the schedule moves
past now: no burst of missed runs. See docs/schedules.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import records
from .errors import ArqueError, InvalidArgument, MissingDependency
from .scheduling import check_group, check_priority
from .scripts import Scripts
from .taskids import check_task_id

__all__ = ["Schedule", "Schedules", "next_run", "task_id_of"]

logger = logging.getLogger("arque")

# Schedules fired per schedule_due read; more are read on the next turn.
_DUE_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule as ``Arque.schedules()`` lists it."""

    name: str
    data: Any
    """The data of each task it enqueues."""
    cron: str | None
    every: float | None
    """Seconds between runs (runs fall on multiples of it since the epoch)."""
    timezone: str
    """The time zone the cron expression is read in."""
    task_timeout: float
    priority: int
    group: str | None
    next_run: datetime
    """When it next fires (aware, UTC)."""
    version: int
    """Bumped each time the schedule is replaced by another definition."""


# A run time (ms) with as many digits as any run will have until the year 2286.
_LONGEST_RUN_MS = 9_999_999_999_999


def task_id_of(name: str, run_ms: int) -> str:
    """The id of the task a schedule enqueues for the run at ``run_ms``."""
    return f"schedule:{name}:{run_ms}"


def _cron(expression: str, start: datetime) -> Any:
    try:
        from cronsim import CronSim, CronSimError
    except ImportError as exc:
        raise MissingDependency("cron schedules need: pip install 'arque[cron]'") from exc
    try:
        return CronSim(expression, start)
    except CronSimError as exc:
        raise InvalidArgument(f"bad cron expression {expression!r}: {exc}") from exc


def next_run(definition: dict[str, Any], after_ms: int) -> int:
    """The first run of ``definition`` strictly after ``after_ms`` (epoch ms)."""
    every = definition.get("every")
    if every:
        every_ms = int(every)
        return int((after_ms // every_ms + 1) * every_ms)
    zone = ZoneInfo(definition["tz"])
    start = datetime.fromtimestamp(after_ms / 1000, zone)
    runs = _cron(definition["cron"], start)
    while True:
        run_ms: int = round(next(runs).timestamp() * 1000)
        if run_ms > after_ms:
            return run_ms


def _definition(
    name: Any, cron: str | None, every: float | None, tz: Any, timeout_ms: int,
    priority: Any, group: Any,
) -> dict[str, Any]:
    """The checked definition of a schedule (without version and next run)."""
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"a schedule's name must be a non-empty string, got {name!r}")
    # Its runs' ids must be valid task ids (length, Unicode): checked with the longest run time.
    check_task_id(task_id_of(name, _LONGEST_RUN_MS))
    if (cron is None) == (every is None):
        raise InvalidArgument("give either cron or every")
    if not isinstance(tz, str):
        raise InvalidArgument(f"timezone must be an IANA name, got {tz!r}")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument(f"unknown timezone {tz!r}") from exc
    # Its runs take the priority and group of the schedule (as enqueue checks them).
    priority = check_priority(priority)
    group = check_group(group) or None
    every_ms = None
    if every is not None:
        if isinstance(every, bool) or not isinstance(every, (int, float)) \
                or not math.isfinite(every) or every < 0.001:
            raise InvalidArgument(f"every must be a number of seconds >= 0.001, got {every!r}")
        every_ms = round(every * 1000)
    elif not isinstance(cron, str):
        raise InvalidArgument(f"cron must be a string, got {cron!r}")
    definition = {"name": name, "cron": cron, "every": every_ms, "tz": tz, "t": timeout_ms,
                  "pri": priority, "grp": group}
    if cron is not None:
        _cron(cron, datetime.now(ZoneInfo(tz)))  # parse now: a bad one is refused here
    return definition


class Schedules:
    """The schedules of one queue.

    ``dumps``/``loads`` encode and decode task data (the queue's serializer
    and its size check).
    """

    def __init__(
        self, scripts: Scripts, dumps: Callable[[Any, str], str | bytes],
        loads: Callable[[Any], Any],
    ) -> None:
        self._scripts = scripts
        self._dumps = dumps
        self._loads = loads

    async def upsert(
        self, name: str, task: Any, *, cron: str | None, every: float | None, tz: str,
        timeout_ms: int, priority: int, group: str | None,
    ) -> Schedule:
        """Create or replace schedule ``name``; the same definition again changes nothing."""
        definition = _definition(name, cron, every, tz, timeout_ms, priority, group)
        payload = self._dumps(task, task_id_of(name, 0))
        raw = payload.encode() if isinstance(payload, str) else payload
        canonical = json.dumps(definition, sort_keys=True).encode()
        definition["fp"] = hashlib.sha1(canonical + b"\0" + raw).hexdigest()
        now_ms = int((await self._scripts.call("schedule_due", [0]))[0])
        first = next_run(definition, now_ms)
        _, version, run_ms = await self._scripts.call(
            "schedule_upsert", [name, json.dumps(definition), payload, first])
        return self._record({**definition, "v": int(version), "n": int(run_ms)}, task,
                            decoded=True)

    async def remove(self, name: str) -> bool:
        """Delete schedule ``name``; False when there is none."""
        return bool(await self._scripts.call("schedule_remove", [name]))

    async def list(self) -> list[Schedule]:
        """Every schedule, by name."""
        reply = await self._scripts.call("schedule_list", [])
        found = [self._record(json.loads(reply[i + 1]), reply[i + 2])
                 for i in range(0, len(reply), 3)]
        return sorted(found, key=lambda s: s.name)

    def _record(self, d: dict[str, Any], payload: Any, *, decoded: bool = False) -> Schedule:
        try:
            data = payload if decoded else self._loads(payload)
        except Exception:  # noqa: BLE001 - show what is stored when it cannot be decoded
            data = payload
        return Schedule(
            name=d["name"], data=data, cron=d.get("cron"),
            every=None if d.get("every") is None else d["every"] / 1000, timezone=d["tz"],
            task_timeout=d["t"] / 1000, priority=int(d.get("pri") or 0), group=d.get("grp"),
            next_run=datetime.fromtimestamp(d["n"] / 1000, timezone.utc), version=int(d["v"]),
        )

    async def fire_due(self) -> tuple[int, float | None]:
        """Fire every due schedule once; ``(runs fired, seconds until the next is due)``.

        The wait is None when the queue has no schedule, 0 when more are due.
        Races lost to another worker are not errors: that worker fired the run.
        """
        reply = await self._scripts.call("schedule_due", [_DUE_LIMIT])
        now_ms, wait_ms = int(reply[0]), int(reply[1])
        fired = 0
        for i in range(2, len(reply), 2):
            name = records.text(reply[i])
            try:
                fired += await self._fire(name, json.loads(reply[i + 1]), now_ms)
            except ArqueError as exc:
                if isinstance(exc, (MissingDependency, InvalidArgument)):
                    logger.error("schedule %r cannot fire here: %s", name, exc)
                    continue
                raise
        if wait_ms < 0:
            return fired, None
        return fired, wait_ms / 1000

    async def _fire(self, name: str, definition: dict[str, Any], now_ms: int) -> int:
        run_ms = int(definition["n"])
        following = next_run(definition, max(now_ms, run_ms))
        status, _ = await self._scripts.call(
            "schedule_fire",
            [name, int(definition["v"]), run_ms, following, task_id_of(name, run_ms)])
        if int(status) == 1:
            logger.info("schedule %r fired its run of %s", name,
                        datetime.fromtimestamp(run_ms / 1000, timezone.utc).isoformat())
            return 1
        return 0
