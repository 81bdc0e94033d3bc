"""Arque: the producer, consumer and admin API of one queue.

Every state change is one Lua script (see ``scripts/``) that reads the time
from the Redis server. A task is always in exactly one of pending, delayed,
working or failed, and its payload is in Redis until it is released.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from . import progress, records, tracing
from .batching import Coalescer, Paced
from .cancel import Cancelled, cancel
from .dead_letters import DeadLetters, FailedPage
from .durability import Durability
from .errors import InvalidArgument, PayloadTooLarge
from .handouts import CancelSafe
from .keys import QueueKeys, reason_value
from .printable import printable
from .records import DeadLetter, DeadReason, QueueStats
from .results import Results
from .schedules import Schedule, Schedules
from .scheduling import GroupStats, check_group, check_priority, list_groups
from .scripts import FirstCall, Scripts
from .serializers import JSON, Codec, Serializer
from .settings import (
    DEFAULTS,
    QueueSettings,
    check_integer,
    check_number,
    given,
    parse_stored,
    rate_pair,
)
from .taskids import MARKED_AS_FAILED, NOT_FOUND, OVERLOADED, check_task_id, new_task_id
from .wakeups import Waiting, block_cap

__all__ = ["MARKED_AS_FAILED", "NOT_FOUND", "OVERLOADED", "Arque", "TaskId"]

logger = logging.getLogger("arque")

# A sweep script handles at most this many tasks of each kind (expired leases,
# due delayed tasks, dead letters past retention) and is called again while
# there is more: about half a millisecond of server time per call, whatever
# the queue's size (benchmarks/SCALING.md).
_SWEEP_CHUNK = 100
# enqueue_many sends its tasks in chunks of at most this many tasks and bytes
# of payload, each chunk one script call: no call grows with the batch.
_ENQUEUE_CHUNK = 500
_ENQUEUE_CHUNK_BYTES = 4 * 1024 * 1024


class TaskId(str):
    """A task id as ``dequeue`` hands it out: the id, carrying its delivery.

    It compares and hashes as the plain id. ``token`` fences the hand-out:
    ``release``/``requeue`` with a ``TaskId`` of an earlier hand-out are refused.
    ``waited`` is the seconds from when the task became ready to this hand-out;
    ``trace`` the W3C trace context of its enqueue ('' without tracing).
    ``lease`` is how long the lease ran from the hand-out, in seconds, as
    Redis counts it: time limits built on it do not depend on this host's
    clock. ``deadline`` is the lease's end on the Redis clock (epoch seconds),
    for display.
    """

    token: str
    attempt: int
    deadline: float
    waited: float
    trace: str
    lease: float

    def __new__(
        cls, value: str, token: str = "", attempt: int = 0, deadline: float = 0.0,
        waited: float = 0.0, trace: str = "", lease: float = 0.0,
    ) -> TaskId:
        self = super().__new__(cls, value)
        self.token, self.attempt, self.deadline, self.waited = token, attempt, deadline, waited
        self.trace, self.lease = trace, lease
        return self


def _token(task_id: str) -> str:
    return task_id.token if isinstance(task_id, TaskId) else ""


class Arque:
    """A reliable queue in Redis: the seed API of arque 1.1.0, and what it grew.

    ``redis`` is a ``redis.asyncio`` client (or cluster client, or a Sentinel
    master client); a synchronous ``redis.Redis`` works for ``enqueue_sync``
    only. ``durability`` makes enqueues and replays wait for replicas (see
    ``durability.py``; not on a cluster client).

    The limits ``working_limit``, ``requeue_limit``, ``recovery_limit``,
    ``max_failed``, ``failed_ttl`` (or the seed's ``stats_ttl``),
    ``result_ttl`` and ``max_results`` belong to the queue: those given here
    are stored with the queue before this instance's first script, those left
    out are not, and every script applies the stored ones, so an ``Arque(redis)`` elsewhere follows them. The
    attributes of the same names hold the effective values as last read (at
    the first call, ``settings()`` or ``configure()``). See ``settings.py``.
    """

    stale_timeout = 120
    """Default task_timeout (seconds): the lease of one hand-out."""
    stats_ttl: float = DEFAULTS.failed_ttl
    """Default retention (seconds) of task statistics kept with dead letters (``failed_ttl``)."""
    requeue_limit: int = DEFAULTS.requeue_limit
    """Default number of hand-outs of one task."""
    recovery_limit: int
    """Lease expiries after which a task is a poison pill (default: ``requeue_limit``)."""
    working_limit: int = DEFAULTS.working_limit
    """Default global limit of working tasks."""
    sweep_interval: float = 10
    """Default seconds between two sweeps of ``schedule_sweep``."""
    max_payload_size = 1024 * 1024
    """Default limit of an encoded payload, in bytes."""
    max_failed: int = DEFAULTS.max_failed
    """Default number of dead letters kept."""
    failed_ttl: float
    """Seconds a dead letter is kept (0: for ever; default: ``stats_ttl``)."""
    result_ttl: float = DEFAULTS.result_ttl
    """Seconds a handler's result is kept (0: results off, the default)."""
    max_results: int = DEFAULTS.max_results
    """Results kept at most, by count (0: unbounded)."""
    group_limit: int = DEFAULTS.group_limit
    """At most this many tasks of one group working at once (0: no limit)."""
    rate_limit: tuple[int, float] | None = None
    """At most ``count`` hand-outs in any window of ``seconds``: ``(count, seconds)``, or None."""
    group_rate_limit: tuple[int, float] | None = None
    """The same per group: ``(count, seconds)``, or None."""

    def __init__(
        self,
        redis: Any,
        prefix: str = "arque",
        serializer: Serializer = JSON,
        sweep_interval: float | None = None,
        requeue_limit: int | None = None,
        working_limit: int | None = None,
        stats_ttl: float | None = None,
        *,
        queue: str = "default",
        task_timeout: float | None = None,
        recovery_limit: int | None = None,
        max_payload_size: int | None = None,
        max_failed: int | None = None,
        failed_ttl: float | None = None,
        durability: Durability | None = None,
        result_ttl: float | None = None,
        max_results: int | None = None,
        group_limit: int | None = None,
        rate_limit: tuple[int, float] | None = None,
        group_rate_limit: tuple[int, float] | None = None,
    ) -> None:
        self._redis = redis
        # The serializer decides whether payloads are bytes or text (see serializers.py).
        self._codec = Codec(serializer, _decodes_responses(redis))
        self.keys = QueueKeys.for_queue(prefix, queue)
        self.prefix = prefix
        self.queue = queue
        self.sweep_interval = check_number("sweep_interval", sweep_interval or self.sweep_interval)
        self.stats_ttl = check_number("stats_ttl", stats_ttl or self.stats_ttl)
        self.task_timeout = check_number("task_timeout", task_timeout or self.stale_timeout)
        self.max_payload_size = check_integer(
            "max_payload_size", self.max_payload_size if max_payload_size is None else max_payload_size
        )
        # The owner's settings: stored with the queue. The seed's stats_ttl is failed_ttl.
        explicit = given(
            working_limit=working_limit, requeue_limit=requeue_limit,
            recovery_limit=recovery_limit, max_failed=max_failed,
            failed_ttl=failed_ttl if failed_ttl is not None else stats_ttl or None,
            result_ttl=result_ttl, max_results=max_results,
            group_limit=group_limit, **rate_pair("rate_limit", rate_limit),
            **rate_pair("group_rate_limit", group_rate_limit),
        )
        # What this instance sends its scripts where the queue stores nothing.
        self._own = dataclasses.replace(QueueSettings(
            working_limit=self.working_limit, requeue_limit=self.requeue_limit,
            max_failed=self.max_failed, failed_ttl=self.stats_ttl,
        ), **explicit)
        self._seen(self._own)
        if durability is not None and not isinstance(durability, Durability):
            raise InvalidArgument(f"durability must be a Durability, got {durability!r}")
        if durability is not None and hasattr(redis, "nodes_manager"):
            # A cluster pipeline routes a keyless WAIT to any node, not the one that wrote.
            raise InvalidArgument("durability is not supported on a cluster client")
        self.durability = durability
        # Before its first script, an instance stores its explicit settings and reads
        # the queue's; a server that answers NOSCRIPT may have lost its data, so an
        # owner stores them again then, unless the queue holds settings already.
        stored: list[str | int] = []
        for name in explicit:
            stored += [name, self._own.redis_value(name)]
        self._scripts = Scripts(redis, self.keys, FirstCall(
            "configure", [0, *stored], [1, *stored] if stored else None, self._read_stored),
            durability)
        self.dead_letters = DeadLetters(self._scripts, self._load)
        """The dead letters of the queue: pages by cursor, replay and purge in chunks."""
        # Concurrent enqueues and releases share round trips (see batching.py).
        self._enqueues: Coalescer[list[str | bytes | int], int] = Coalescer(self._send_enqueues)
        self._releases: Coalescer[tuple[str, str | bytes], bool] = Coalescer(self._send_releases)
        # How many tasks one call of each batch script has time for (batching.py).
        self._enqueue_pace, self._release_pace = Paced(), Paced()
        self._run_sweep = False
        self._hand_backs: set[asyncio.Future[None]] = set()
        # Dequeue calls: a cancelled caller's hand-outs are given back, not left to leases.
        self._dequeues = CancelSafe(self._scripts, self._hand_back_reply)
        cap = block_cap(redis)
        self._waiting = Waiting(redis, self._dequeues, self.keys.marker, cap)
        self.results = Results(redis, self.keys, self._scripts, self._codec,
                               self.dead_letters.record, cap, self.max_payload_size)
        """Kept results: encoding, waiting, expiry (``result`` is the entry point)."""
        self._schedules = Schedules(self._scripts, self._encode_task, self._load)

    @property
    def redis(self) -> Any:
        """The client this queue was made with."""
        return self._redis

    # -- the queue's settings ------------------------------------------------

    def _seen(self, settings: QueueSettings) -> QueueSettings:
        """Keep ``settings`` (effective, as just read) in the attributes of the same names."""
        settings = settings.resolved()
        self.working_limit, self.requeue_limit = settings.working_limit, settings.requeue_limit
        self.recovery_limit = settings.effective_recovery_limit()
        self.max_failed, self.failed_ttl = settings.max_failed, settings.failed_ttl
        self.result_ttl, self.max_results = settings.result_ttl, settings.max_results
        self.group_limit = settings.group_limit
        self.rate_limit = _pair(settings.rate_limit, settings.rate_window)
        self.group_rate_limit = _pair(settings.group_rate_limit, settings.group_rate_window)
        return settings

    def _read_stored(self, reply: Sequence[Any]) -> QueueSettings:
        """The effective settings from ``configure.lua``'s reply: stored, else this instance's."""
        return self._seen(self._own.merged(parse_stored(reply)))

    async def settings(self) -> QueueSettings:
        """The queue's effective settings: those it stores, else this instance's, read now."""
        return self._read_stored(await self._scripts.call("configure", [0]))

    async def stored_settings(self) -> dict[str, float]:
        """The settings the queue stores, by name (seconds for ``failed_ttl``), read now."""
        reply = await self._scripts.call("configure", [0])
        self._read_stored(reply)
        return parse_stored(reply)

    async def configure(self, **changes: float | tuple[int, float] | None) -> QueueSettings:
        """Store settings with the queue (a name with None removes the stored one).

        Every ``Arque`` on the queue applies them from its next call. Returns
        the effective settings; an unknown name or a bad value raises
        ``InvalidArgument`` and nothing is written. ``rate_limit`` and
        ``group_rate_limit`` take ``(count, seconds)`` too.
        """
        changes = _expand_rates(changes)
        chosen = given(**changes)
        checked = dataclasses.replace(DEFAULTS, **chosen)
        args: list[str | int] = [0]
        for name in changes:
            args += [name, checked.redis_value(name) if name in chosen else ""]
        return self._read_stored(await self._scripts.call("configure", args))

    # -- producing -----------------------------------------------------------

    def _task_args(
        self, task: Any, task_id: str | None, task_timeout: float | None,
        delay: float | None, at: datetime | None, priority: int = 0, group: str | None = None,
    ) -> list[str | bytes | int]:
        timing = self._timing_args(task_timeout, delay, at, priority, group)
        return self._payload_args(task, task_id, timing)

    def _timing_args(
        self, task_timeout: float | None, delay: float | None, at: datetime | None,
        priority: int = 0, group: str | None = None,
    ) -> tuple[int, int, int, int, str]:
        """``(timeout_ms, delay_ms, at_ms, priority, group)`` checked, -1 (or '') for none."""
        timeout = self.task_timeout if task_timeout is None else task_timeout
        timeout_ms = max(1, round(check_number("task_timeout", timeout) * 1000))
        delay_ms = -1 if delay is None else round(check_number("delay", delay, zero=True) * 1000)
        if at is not None and delay is not None:
            raise InvalidArgument("give either delay or at, not both")
        at_ms = -1 if at is None else _epoch_ms(at)
        return timeout_ms, delay_ms, at_ms, check_priority(priority), check_group(group)

    def _payload_args(
        self, task: Any, task_id: str | None, timing: tuple[int | str, ...]
    ) -> list[str | bytes | int]:
        """``[task_id, payload, *timing]``, the payload encoded and checked."""
        task_id = new_task_id() if task_id is None else check_task_id(task_id)
        return [task_id, self._encode_task(task, task_id), *timing]

    def _encode_task(self, task: Any, task_id: str) -> str | bytes:
        """The payload of ``task``, encoded and checked against ``max_payload_size``."""
        payload = self._codec.dumps(task, f"task {task_id!r}")
        size = len(payload) if isinstance(payload, bytes) else len(payload.encode())
        if size > self.max_payload_size:
            raise PayloadTooLarge(
                f"task {task_id!r} is {size} bytes encoded, over max_payload_size={self.max_payload_size}"
            )
        return payload

    async def enqueue(
        self, task: Any, task_id: str | None = None, task_timeout: float | None = None,
        delay: float | None = None, *, at: datetime | None = None, priority: int = 0,
        group: str | None = None,
    ) -> str:
        """Add ``task``; returns its id. A live id given (dead letters included) is left as it is;
        an id left to arque (14 random characters) is drawn again should it meet a live one.

        ``task_timeout`` (seconds) is the lease of each hand-out; ``delay``
        (seconds) or ``at`` (an aware datetime) defer it. ``priority``
        (-1000..1000, higher first) and ``group`` (groups take turns, and
        ``group_limit`` caps each) decide what runs next: docs/scheduling.md.
        """
        args = self._task_args(task, task_id, task_timeout, delay, at, priority, group)
        with tracing.send(self.queue, [args]):
            while not await self._enqueues.submit(args):
                if task_id is not None:
                    logger.debug("enqueue of live task %s ignored", printable(str(args[0])))
                    break
                args[0] = new_task_id()  # the id drawn met a live task: this task is another
        return str(args[0])

    async def _send_enqueues(self, tasks: Sequence[list[str | bytes | int]]) -> list[int]:
        if len(tasks) == 1 and _is_plain(tasks[0]):
            return [int(await self._scripts.call("enqueue_one", tasks[0][:3]))]
        return await self._enqueue_pace.send(self._send_enqueue_script, tasks)

    async def _send_enqueue_script(self, tasks: Sequence[list[str | bytes | int]]) -> list[int]:
        """The flags of the first tasks (all that ``enqueue.lua`` had time for)."""
        # Traced tasks carry an eighth argument, their trace context (mode 2).
        traced = any(len(task_args) > 7 for task_args in tasks)
        args: list[str | bytes | int] = [len(tasks), 2 if traced else 0]
        for task_args in tasks:
            args += task_args
            if traced and len(task_args) == 7:
                args.append("")
        return [int(flag) for flag in await self._scripts.call("enqueue", args)]

    async def enqueue_many(
        self, tasks: Iterable[Any], task_ids: Sequence[str] | None = None,
        task_timeout: float | None = None, delay: float | None = None,
        *, at: datetime | None = None, priority: int = 0, group: str | None = None,
    ) -> list[str]:
        """Add many tasks; returns their ids in order.

        Every task is checked first: if one is bad, nothing is written. Then
        they go in chunks of up to 500 tasks (and 4 MiB of payload), one
        script call each, and a call stops after 0.5 ms of the server's time
        (the rest of its chunk follows in the next), so a large batch never
        blocks Redis for long. Each call is atomic, the batch is not: if Redis
        fails midway, the tasks sent before stay enqueued. With ``task_ids`` given, calling again is
        safe (live ids are left as they are). ``priority`` and ``group`` apply
        to every task.
        """
        payloads = list(tasks)
        if task_ids is not None and len(task_ids) != len(payloads):
            raise InvalidArgument(f"{len(task_ids)} task_ids for {len(payloads)} tasks")
        ids: Sequence[str | None] = task_ids if task_ids is not None else [None] * len(payloads)
        timing = self._timing_args(task_timeout, delay, at, priority, group)
        checked = [self._payload_args(task, task_id, ()) for task, task_id in zip(payloads, ids)]
        if not checked:
            return []
        with tracing.send(self.queue, checked) as traced:
            unsent = checked
            while unsent:
                refused = []
                for chunk in _chunks(unsent):
                    added = await self._enqueue_pace.send(
                        functools.partial(self._send_chunk, timing, traced), chunk)
                    refused += [task_args for task_args, new in zip(chunk, added) if not new]
                unsent = [] if task_ids is not None else _draw_again(refused)
        return [str(task_args[0]) for task_args in checked]

    async def _send_chunk(
        self, timing: tuple[int | str, ...], traced: bool, chunk: Sequence[list[str | bytes | int]]
    ) -> list[int]:
        """The flags of the chunk's first tasks (all that ``enqueue.lua`` had time for)."""
        # One timing (and priority, group) for the whole chunk: sent once, two arguments
        # per task (three traced).
        args: list[str | bytes | int] = [len(chunk), 3 if traced else 1, *timing]
        for task_args in chunk:
            args += task_args
        return [int(flag) for flag in await self._scripts.call("enqueue", args)]

    def enqueue_sync(
        self, task: Any, task_id: str | None = None, task_timeout: float | None = None,
        delay: float | None = None, *, at: datetime | None = None, priority: int = 0,
        group: str | None = None,
    ) -> str:
        """``enqueue`` for a synchronous ``redis.Redis`` client."""
        args = self._task_args(task, task_id, task_timeout, delay, at, priority, group)
        with tracing.send(self.queue, [args]) as traced:
            while not self._send_sync(args, traced) and task_id is None:
                args[0] = new_task_id()  # the id drawn met a live task: this task is another
        return str(args[0])

    def _send_sync(self, task_args: list[str | bytes | int], traced: bool) -> int:
        """1 if the task was added, 0 if its id was live."""
        if _is_plain(task_args):
            return int(self._scripts.call_sync("enqueue_one", task_args[:3]))
        return int(self._scripts.call_sync("enqueue", [1, 2 if traced else 0, *task_args])[0])

    # -- consuming -----------------------------------------------------------

    async def dequeue(self, timeout: float | None = None) -> tuple[str | None, Any]:
        """Take one task: ``(task_id, task_data)``.

        Without a timeout it waits for a task, but returns ``(OVERLOADED,
        None)`` when ``working_limit`` is reached: at once, or, when its last
        look found nothing ready, once woken or after 2 s. With a timeout
        (seconds) it also waits for a free slot, and returns ``(None, None)``
        when nothing came in time. A task it could not decode goes to dead
        letters and it returns ``(MARKED_AS_FAILED, None)``.
        """
        batch = await self._take(1, timeout)
        if isinstance(batch, str):
            return batch, None
        if not batch:
            return None, None
        return batch[0]

    async def dequeue_many(
        self, max_tasks: int, timeout: float | None = None
    ) -> list[tuple[TaskId, Any]]:
        """Take up to ``max_tasks`` ready tasks in one round trip, or a few for a large batch.

        A script call stops after 0.5 ms of the server's time; while tasks are
        left ready, more calls follow at once until ``max_tasks`` are taken.

        Waits while none is ready or ``working_limit`` is reached (forever
        without a timeout); returns ``[]`` when the timeout passed. Undecodable
        tasks go to dead letters and are left out.
        """
        max_tasks = check_integer("max_tasks", max_tasks)
        batch = await self._take(max_tasks, timeout, overloaded_waits=True)
        if isinstance(batch, str):
            return []
        return [(t, data) for t, data in batch if isinstance(t, TaskId)]

    async def _take(
        self, max_tasks: int, timeout: float | None, overloaded_waits: bool = False
    ) -> list[tuple[str, Any]] | str:
        if timeout is not None:
            timeout = check_number("timeout", timeout)
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        own = self._own
        args = [max_tasks, own.working_limit, own.requeue_limit, own.max_failed,
                *(own.redis_value(name) for name in _SCHEDULING)]
        waits = overloaded_waits or timeout is not None
        status, reply = await self._waiting.take(args, waits, deadline)
        if status == 1:
            return await self._decode(reply)
        return OVERLOADED if status == 2 else []

    async def stop_timers(self) -> None:
        """Stop this instance's wake-up timer, for a process that stops consuming.

        A dequeue may make its caller the queue's time-keeper: this instance
        then raises the wake-up marker when the next delayed task is due
        (docs/wakeups.md). The ``Worker`` calls this when it stops; call it at
        the end of a consumer loop of your own. Other consumers take the
        time-keeping over within 100 ms of the due time (or their 2 s cap).
        """
        await self._waiting.stop()

    def _hand_back_reply(self, reply: Any) -> None:
        """A dequeue's caller was cancelled after its script ran: hand back what it took."""
        if int(reply[0]) in (1, 3):  # 3: handed out, out of its time (wakeups.py)
            self._hand_back([task_id for task_id, _ in self._hand_outs(reply)])

    def _hand_back(self, task_ids: list[TaskId]) -> None:
        """Give ``task_ids`` back to pending, unused, without waiting for it."""
        if task_ids:
            task = asyncio.ensure_future(self._give_back(task_ids))
            self._hand_backs.add(task)
            task.add_done_callback(self._hand_backs.discard)

    async def _give_back(self, task_ids: list[TaskId]) -> None:
        for task_id in task_ids:
            try:
                await self.requeue(task_id, count_attempt=False)
            except Exception as exc:  # noqa: BLE001 - then its lease brings it back
                logger.warning("task %s taken by a cancelled dequeue not handed back (%r); its "
                               "lease will bring it back", printable(task_id), exc)

    @staticmethod
    def _hand_outs(reply: Sequence[Any]) -> list[tuple[TaskId, Any]]:
        """``(task_id, stored payload)`` of each task a dequeue reply hands out.

        The reply carries each task's record (``<metadata JSON>\\n<payload>``): its
        payload is taken here, so that the script does not copy a large one again.
        """
        out = []
        for i in range(4, len(reply), 8):
            raw_id, token, record, attempt, deadline, waited, trace, lease = reply[i : i + 8]
            task_id = TaskId(records.text(raw_id), records.text(token), int(attempt),
                             deadline / 1000, int(waited) / 1000, records.text(trace),
                             int(lease) / 1000)
            out.append((task_id, records.payload_of(record)))
        return out

    async def _decode(self, reply: Sequence[Any]) -> list[tuple[str, Any]]:
        """The hand-outs of a reply; undecodable ones are dead-lettered and become sentinels."""
        out: list[tuple[str, Any]] = []
        undecodable: list[tuple[TaskId, Exception]] = []
        for task_id, payload in self._hand_outs(reply):
            try:
                if payload is None:
                    raise ValueError("payload missing")
                out.append((task_id, self._codec.loads(payload)))
            except Exception as exc:  # noqa: BLE001 - any decode failure dead-letters the task
                out.append((MARKED_AS_FAILED, None))
                undecodable.append((task_id, exc))
        try:
            for task_id, error in undecodable:
                await self._dead_letter_undecodable(task_id, error)
        except asyncio.CancelledError:  # the decoded ones would be lost to their leases
            self._hand_back([task_id for task_id, _ in out if isinstance(task_id, TaskId)])
            raise
        return out

    async def _dead_letter_undecodable(self, task_id: TaskId, exc: Exception) -> None:
        try:
            await self.fail(task_id, f"cannot decode payload: {exc!r}", DeadReason.UNDECODABLE)
        except Exception as failed:  # noqa: BLE001 - the rest of the batch is handed out all the same
            logger.error("task %s cannot be decoded (%r) nor dead-lettered (%r); its lease will "
                         "bring it back", printable(task_id), exc, failed)
        else:
            logger.error("task %s cannot be decoded, dead-lettered: %r", printable(task_id), exc)

    async def release(self, task_id: str, result: Any = None) -> bool:
        """Acknowledge a task as done; its keys are deleted. False when refused.

        With ``result_ttl`` on, ``result`` (what the handler returned) is
        kept that long for ``result``, in the same step: a refused release
        keeps none.
        """
        return await self._releases.submit((task_id, self._encode_result(task_id, result)))

    def _encode_result(self, task_id: str, result: Any) -> str | bytes:
        return self.results.encode(task_id, result) if self.result_ttl > 0 else ""

    async def release_many(
        self, task_ids: Sequence[str], results: Sequence[Any] | None = None
    ) -> list[bool]:
        """Release many tasks; per task, whether it was applied.

        One round trip, more for a batch over 0.5 ms of the server's time.

        ``results`` (one per task) are kept as ``release`` keeps one.
        """
        if results is not None and len(results) != len(task_ids):
            raise InvalidArgument(f"{len(results)} results for {len(task_ids)} tasks")
        values = [None] * len(task_ids) if results is None else results
        return await self._send_releases(
            [(t, self._encode_result(t, r)) for t, r in zip(task_ids, values)])

    async def _send_releases(self, releases: Sequence[tuple[str, str | bytes]]) -> list[bool]:
        done = await self._release_pace.send(self._send_release_script, releases)
        for (task_id, _), ok in zip(releases, done):
            if not ok:
                logger.warning("release of %s refused: not working, or a stale hand-out",
                               printable(task_id))
        return done

    async def _send_release_script(self, releases: Sequence[tuple[str, str | bytes]]) -> list[bool]:
        """The outcome of the first releases (all that ``release.lua`` had time for)."""
        own = self._own
        args: list[str | bytes | int] = [own.redis_value("result_ttl"), own.max_failed,
                                         own.max_results]
        for task_id, result in releases:
            args += [task_id, _token(task_id), result]
        return [bool(flag) for flag in await self._scripts.call("release", args)]

    async def requeue(
        self, task_id: str, delay: float | None = None, *, error: str | None = None,
        count_attempt: bool = True,
    ) -> bool:
        """Give a working task back after a failure, pending at once or after ``delay`` seconds.

        After its last allowed attempt it goes to dead letters. With
        ``count_attempt=False`` the hand-out is returned unused (a worker
        shutting down). False when refused.
        """
        delay_ms = 0 if delay is None else round(check_number("delay", delay, zero=True) * 1000)
        args: list[str | int] = [task_id, _token(task_id), delay_ms, error or "",
                                 self._own.requeue_limit, self._own.max_failed,
                                 1 if count_attempt else 0]
        result = int(await self._scripts.call("requeue", args))
        if result == 0:
            logger.warning("requeue of %s refused: not working, or a stale hand-out",
                           printable(task_id))
        elif result == 2:
            logger.warning("task %s used its last attempt: dead-lettered", printable(task_id))
        return result != 0

    async def extend(self, task_id: str, timeout: float | None = None) -> bool:
        """Renew the lease of a working task for ``timeout`` seconds (default: its task_timeout)."""
        return (await self.extend_many([task_id], timeout))[0]

    async def extend_many(self, task_ids: Sequence[str], timeout: float | None = None) -> list[bool]:
        """Renew many leases in one round trip; per task, whether it was applied."""
        args = self._extend_args(task_ids, timeout)
        # A deadline of -1: the task is being cancelled, its lease was not renewed.
        return [int(d) > 0 for d in await self._scripts.call("extend", args)] if task_ids else []

    @staticmethod
    def _extend_args(task_ids: Sequence[str], timeout: float | None) -> list[str | int]:
        lease_ms = 0 if timeout is None else round(check_number("timeout", timeout) * 1000)
        args: list[str | int] = [lease_ms]
        for task_id in task_ids:
            args += [task_id, _token(task_id)]
        return args

    def extend_many_sync(
        self, task_ids: Sequence[str], timeout: float | None = None
    ) -> list[float]:
        """``extend_many`` on a synchronous client (a heartbeat thread's).

        Returns, per task, the new lease deadline (epoch seconds), 0.0 if refused,
        or a negative number if the task is being cancelled (not renewed).
        """
        args = self._extend_args(task_ids, timeout)
        if not task_ids:
            return []
        return [ms / 1000.0 for ms in self._scripts.call_sync("extend", args)]

    async def fail(
        self, task_id: str, error: str, reason: DeadReason | str = DeadReason.REJECTED
    ) -> bool:
        """Dead-letter a working task at once, whatever attempts it has left.

        ``reason`` is a ``DeadReason`` (or its value); what went wrong goes in ``error``.
        """
        why = reason_value(reason)
        args: list[str | int] = [task_id, _token(task_id), why, error, self._own.max_failed]
        return bool(await self._scripts.call("fail", args))

    # -- housekeeping --------------------------------------------------------

    async def sweep(self) -> int:
        """Recover expired leases, promote due delayed tasks, expire old dead letters.

        Kept results past their ``result_ttl`` go too. Returns how many tasks
        went back to pending.
        """
        own = self._own
        args = [own.requeue_limit, own.redis_value("recovery_limit"), own.max_failed,
                own.redis_value("failed_ttl"), _SWEEP_CHUNK]
        moved: int = 0
        while True:
            recovered, promoted, dead, trimmed = await self._scripts.call("sweep", args)
            moved += int(recovered) + int(promoted)
            if recovered or dead:
                logger.info("sweep: %d recovered, %d dead-lettered", recovered, dead)
            if max(recovered + dead, promoted, trimmed) < _SWEEP_CHUNK:
                break
        await self.results.expire(self._own.max_results)
        return moved

    async def schedule_sweep(self) -> None:
        """Sweep every ``sweep_interval`` seconds until ``unschedule_sweep``.

        Rides out every failure: a Redis episode (a lost connection, any error
        reply) is logged once, when it begins, and once when it ends; anything
        else is logged with its traceback. The next sweep comes all the same.
        """
        from .worker.outage import FAILURES, Outage  # the worker package imports this module

        outage = Outage(f"scheduled sweep of {self.queue!r}", logger)
        self._run_sweep = True
        while self._run_sweep:
            await asyncio.sleep(self.sweep_interval)
            if not self._run_sweep:
                break
            try:
                await self.sweep()
            except FAILURES as exc:
                outage.failed(exc)
            except Exception:  # the safety net must outlive any surprise
                logger.exception("sweep failed; trying again in %s s", self.sweep_interval)
            else:
                outage.ok()

    async def unschedule_sweep(self) -> None:
        """Stop ``schedule_sweep`` after its current sleep."""
        self._run_sweep = False

    # -- a task's life: results, cancellation, progress, schedules ------------

    async def result(self, task_id: str, timeout: float | None = None) -> Any:
        """What the handler of ``task_id`` returned, waiting (without polling) until it finishes.

        Raises ``TaskFailed`` (its ``dead_letter`` attached) when the task
        ended in dead letters, ``ResultNotFound`` at once when the id is
        unknown, was released without a result (``result_ttl`` off) or its
        result expired, and ``ResultTimeout`` when ``timeout`` seconds passed.
        """
        if timeout is not None:
            timeout = check_number("timeout", timeout)
        return await self.results.wait(task_id, timeout)

    async def cancel(self, task_id: str) -> bool:
        """Cancel a task: pending or delayed, it is a dead letter ``cancelled`` at once;
        working, its worker stops it within a heartbeat interval (see ``cancel.py``).

        False when the task is unknown, released, or a dead letter already.
        """
        return await cancel(self._scripts, task_id, self._own.max_failed) is not Cancelled.NOTHING

    async def progress(self, task_id: str, value: Any) -> bool:
        """Report the progress of a working task (what ``ctx.progress`` does).

        ``value`` is JSON-serialisable and at most 16 KiB of JSON; the
        hand-out's token fences it. False when refused (not working, a stale
        hand-out); True when kept, even if the task is being cancelled.
        """
        return await progress.report(self._scripts, task_id, _token(task_id), value) != 0

    async def schedule(
        self, name: str, task: Any, *, cron: str | None = None, every: float | None = None,
        timezone: str = "UTC", task_timeout: float | None = None, priority: int = 0,
        group: str | None = None,
    ) -> Schedule:
        """Create or replace the schedule ``name``: enqueue ``task`` on a ``cron``
        expression (read in ``timezone``; needs ``arque[cron]``) or ``every`` seconds.

        Workers fire it, each run exactly once. The same definition again
        changes nothing (its next run stays); another one replaces it. Returns
        the schedule as stored. See docs/schedules.md.
        """
        timeout = self.task_timeout if task_timeout is None else task_timeout
        timeout_ms = max(1, round(check_number("task_timeout", timeout) * 1000))
        return await self._schedules.upsert(name, task, cron=cron, every=every, tz=timezone,
                                            timeout_ms=timeout_ms, priority=priority, group=group)

    async def unschedule(self, name: str) -> bool:
        """Delete the schedule ``name`` (tasks it enqueued stay); False when there is none."""
        return await self._schedules.remove(name)

    async def schedules(self) -> list[Schedule]:
        """Every schedule of the queue with its next run, by name."""
        return await self._schedules.list()

    async def fire_schedules(self) -> tuple[int, float | None]:
        """Fire the due schedules once (workers do): ``(runs fired, seconds to the next)``."""
        return await self._schedules.fire_due()

    # -- inspection and dead letters -----------------------------------------

    async def stats(self) -> QueueStats:
        """How many tasks are in each state, read atomically."""
        pending, delayed, working, failed, prioritized, grouped = await self._scripts.call(
            "stats", [])
        return QueueStats(pending=pending, delayed=delayed, working=working, failed=failed,
                          prioritized=prioritized, grouped=grouped)

    async def group_stats(self, limit: int = 100) -> list[GroupStats]:
        """Up to ``limit`` groups with ready or working tasks, and their counts."""
        return await list_groups(self._scripts, limit)

    async def get_stats(self) -> dict[str, int]:
        """The seed's stats: ``{'tasks', 'pending', 'working', 'delayed', 'failed'}``."""
        return (await self.stats()).as_dict()

    async def _inspect(self, task_id: str) -> tuple[dict[str, Any], str, Any] | None:
        raw, state, payload = await self._scripts.call("inspect", [task_id])
        if raw is None:
            return None
        return records.parse_meta(raw), records.text(state), payload

    async def get_task_stats(self, task_id: str) -> dict[str, Any] | None:
        """Statistics of a live or dead-lettered task; None when unknown or released."""
        found = await self._inspect(task_id)
        if found is None:
            return None
        meta, state, _ = found
        return records.task_stats(meta, state, state == "delayed")

    async def list_failed(
        self, limit: int = 100, offset: int = 0, *, reason: DeadReason | str | None = None,
        cursor: str | None = None,
    ) -> FailedPage:
        """A page of dead letters, newest first (only those of ``reason`` if given).

        The page is a list with ``next_cursor``: pass it as ``cursor`` for the
        next page (None on the last). ``offset`` (seed-compatible) counts from
        the newest at the time of each call, so pages shift as dead letters
        come and go; a cursor does not. Either way one call costs
        O(log n + limit) in Redis.
        """
        limit = check_integer("limit", limit)
        offset = check_integer("offset", offset, minimum=0)
        return await self.dead_letters.page(limit, offset, reason=reason, cursor=cursor)

    def _load(self, payload: Any) -> Any:
        return self._codec.loads(payload)

    async def get_failed(self, task_id: str) -> DeadLetter | None:
        """One dead letter, or None when ``task_id`` is not in dead letters."""
        found = await self._inspect(task_id)
        if found is None or found[1] != "failed":
            return None
        meta, _, payload = found
        return self.dead_letters.record(task_id, meta, payload)

    async def replay_failed(
        self, task_id: str | None = None, *, reason: DeadReason | str | None = None
    ) -> int:
        """Put dead letters back to pending with fresh attempts: one, those of a ``reason``, or all.

        Many go oldest first in chunks of 500, one script call each, up to as
        many as there were when it started. Returns how many were replayed.
        """
        return await self.dead_letters.act("replay", task_id, reason)

    async def purge_failed(
        self, task_id: str | None = None, *, reason: DeadReason | str | None = None
    ) -> int:
        """Delete dead letters for good: one, those of a ``reason``, or all. Returns how many."""
        return await self.dead_letters.act("purge", task_id, reason)


# The settings of scheduling.py, in dequeue.lua's ARGV order.
_SCHEDULING = ("group_limit", "rate_limit", "rate_window", "group_rate_limit", "group_rate_window")


def _pair(count: int, window: float) -> tuple[int, float] | None:
    return (count, window) if count else None


def _expand_rates(changes: dict[str, Any]) -> dict[str, Any]:
    """``rate_limit=(count, seconds)`` (and ``group_rate_limit``) as the stored settings.

    None removes both the count and its window.
    """
    out = dict(changes)
    for name in ("rate_limit", "group_rate_limit"):
        value = out.get(name)
        if isinstance(value, (tuple, list)):
            out.update(rate_pair(name, value))
        elif name in out and value is None:
            out[name.replace("_limit", "_window")] = None
    return out


def _is_plain(task_args: Sequence[str | bytes | int]) -> bool:
    """Whether ``[task_id, payload, timeout_ms, delay_ms, at_ms, priority, group]`` is a task
    ready now, without priority, group or trace context: one ``enqueue_one`` takes it."""
    return (len(task_args) == 7 and task_args[3] in (-1, 0) and task_args[4] == -1
            and task_args[5] == 0 and task_args[6] == "")


def _draw_again(tasks: list[list[str | bytes | int]]) -> list[list[str | bytes | int]]:
    """``tasks``, whose drawn ids met live tasks, each with a new id."""
    for task_args in tasks:
        task_args[0] = new_task_id()
    return tasks


def _chunks(
    tasks: list[list[str | bytes | int]],
) -> Iterable[list[list[str | bytes | int]]]:
    """``[task_id, payload]`` pairs in chunks bounded in count and in bytes."""
    chunk: list[list[str | bytes | int]] = []
    size = 0
    for task_args in tasks:
        payload = task_args[1]
        task_size = len(payload) if isinstance(payload, (str, bytes)) else 8
        if chunk and (len(chunk) >= _ENQUEUE_CHUNK or size + task_size > _ENQUEUE_CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(task_args)
        size += task_size
    if chunk:
        yield chunk


def _epoch_ms(at: datetime) -> int:
    if not isinstance(at, datetime):
        raise InvalidArgument(f"at must be a datetime, got {at!r}")
    if at.tzinfo is None:
        raise InvalidArgument("at must be timezone-aware (a naive datetime is ambiguous)")
    return round(at.astimezone(timezone.utc).timestamp() * 1000)


def _connection_kwargs(client: Any) -> dict[str, Any]:
    """The settings of the client's connections; a cluster client keeps them off any pool."""
    get = getattr(client, "get_connection_kwargs", None)
    kwargs = get() if callable(get) else None
    return kwargs if isinstance(kwargs, dict) else {}


def _decodes_responses(client: Any) -> bool:
    get_encoder = getattr(client, "get_encoder", None)
    if callable(get_encoder):  # plain and cluster clients, sync and asyncio
        return bool(get_encoder().decode_responses)
    return bool(_connection_kwargs(client).get("decode_responses", False))
