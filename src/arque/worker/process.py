"""Processing: run the handler of one task under its time limit, then apply the outcome.

Outcomes: success → batched release, with what the handler returned (kept
when the queue keeps results; a result that cannot be encoded dead-letters
the task ``rejected``); ``Retry`` → requeue after its delay; ``Fail`` → dead
letter (``rejected``); any other exception or the time limit → requeue after
the backoff, the error kept as the task's last error; cancelled by shutdown →
handed back unused; cancelled on request (``Arque.cancel``) → dead letter
``cancelled``. Each outcome is retried through a Redis episode (a lost
connection, any error reply) until it is applied, or until ``FINISHED_HOLD``
seconds after the handler ended (when shutting down: the shutdown deadline);
then the worker lets go and the lease brings the task back.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..errors import PayloadTooLarge, SerializationError
from ..printable import printable
from ..records import DeadReason
from . import state
from .ack import Acker
from .context import TaskContext
from .control import Fail, Retry
from .events import WorkerObserver
from .options import Backoff
from .outage import FAILURES, Episodes, Outage
from .state import Counters, InFlight, Record, Slots

__all__ = ["Handler", "Processor", "error_text"]

logger = logging.getLogger("arque.worker")

Handler = Callable[[Any, TaskContext], Awaitable[Any]]
"""``async def handler(data, ctx)``: the work of one task."""

_ERROR_LIMIT = 2000
# How often the time limits of running handlers are checked: their precision.
_WATCH_EVERY = 0.05


class Verdict(enum.Enum):
    OK = "ok"
    RAISED = "raised"
    TIMED_OUT = "timed_out"
    HANDED_BACK = "handed_back"
    CANCELLED = "cancelled"


def _uncancel(task: asyncio.Task[Any]) -> None:
    """Take back a cancellation this worker made and handled (Python >= 3.11)."""
    uncancel = getattr(task, "uncancel", None)
    if uncancel is not None:
        uncancel()


def _unkeepable(record: Record) -> Exception | None:
    """The error of a result the queue would keep but cannot encode, else None."""
    if record.queue.result_ttl <= 0:
        record.result = None  # not kept: not held on to either
        return None
    try:
        record.queue.results.encode(str(record.task_id), record.result)
    except (SerializationError, PayloadTooLarge) as exc:
        return exc
    return None


def error_text(exc: BaseException) -> str:
    """``repr(exc)`` and the tail of its traceback, as kept for the task's last error."""
    frames = traceback.format_tb(exc.__traceback__)[-3:]
    text = repr(exc) + ("\n" + "".join(frames).rstrip() if frames else "")
    return text if len(text) <= _ERROR_LIMIT else text[: _ERROR_LIMIT - 3] + "..."


class Processor:
    """Runs handlers and applies their outcomes; one per worker."""

    def __init__(
        self, handler: Handler, backoff: Backoff, slots: Slots, in_flight: InFlight,
        counters: Counters, ackers: Sequence[Acker], clock_offset: Callable[[], float],
        episodes: Episodes, events: WorkerObserver | None = None,
    ) -> None:
        self._handler = handler
        self._backoff = backoff
        self._slots = slots
        self._in_flight = in_flight
        self._counters = counters
        self._ackers = ackers
        self._clock_offset = clock_offset
        self._episodes = episodes
        self._events = events or WorkerObserver()
        self._rng = random.Random()
        self._active: set[Record] = set()
        self.running = 0
        """Handlers running now."""
        self.give_up_at: float | None = None
        """Loop time after which an outcome that Redis cannot take is abandoned."""

    async def run(self, record: Record) -> None:
        """Run the task of ``record`` and apply its outcome; its slot is freed when the handler ends."""
        self.running += 1
        queue = record.queue.queue
        self._events.started(queue, record.task_id)
        began = time.monotonic()
        exc: BaseException | None = None
        try:
            verdict, exc = await self._supervise(record)
        finally:
            self._events.ran(queue, record.task_id, time.monotonic() - began, exc)
            self.running -= 1
            self._slots.give_back()
            self._in_flight.mark(record, finished=True)
        if verdict is Verdict.OK:
            exc = _unkeepable(record)
            if exc is None:
                self._counters.processed += 1
                self._ackers[record.queue_index].ack(record)
                return
            verdict = Verdict.RAISED
        try:
            await self._settle(record, verdict, exc)
        finally:
            self._in_flight.remove(record)

    async def _supervise(self, record: Record) -> tuple[Verdict, BaseException | None]:
        """Run the handler in this task until its limit (which ``ctx.extend`` may move).

        No task of its own, no waiter and no timer per handler: the
        ``watchdog`` cancels this task past the limit, and the flags on
        ``record`` tell a timeout or a shutdown's hand-back from any other
        cancellation.
        """
        ctx = TaskContext(record, self._in_flight, self._clock_offset)
        me = asyncio.current_task()
        assert me is not None
        record.handler = me
        self._active.add(record)
        try:
            record.result = await self._handler(record.data, ctx)
        except asyncio.CancelledError:
            if not (record.timed_out or record.handed_back or record.cancelled):
                raise
            _uncancel(me)
            if record.cancelled:
                return Verdict.CANCELLED, None
            return (Verdict.TIMED_OUT if record.timed_out else Verdict.HANDED_BACK), None
        except Exception as exc:  # noqa: BLE001 - any failure of the handler is its outcome
            return Verdict.RAISED, exc
        finally:
            self._active.discard(record)
        return Verdict.OK, None

    async def watchdog(self) -> None:
        """Cancel the handlers that ran past their time limit (checked every 50 ms)."""
        while True:
            await asyncio.sleep(_WATCH_EVERY)
            now = time.monotonic()
            for record in [r for r in self._active if now >= r.limit_at and not r.timed_out]:
                record.timed_out = True
                if record.handler is not None:
                    record.handler.cancel()

    def cancel(self, record: Record) -> None:
        """Stop the handler of a task cancelled on request (from the heartbeat's reply)."""
        if record.cancelled or record.finished:
            return
        record.cancelled = True
        logger.warning("task %s cancelled on request: stopping its handler", record.task_id)
        if record in self._active and record.handler is not None:
            record.handler.cancel()

    async def _settle(self, record: Record, verdict: Verdict, exc: BaseException | None) -> None:
        task_id, queue = record.task_id, record.queue
        if verdict is Verdict.CANCELLED:
            if await self._apply(record, lambda: queue.fail(
                    task_id, "cancelled while working", DeadReason.CANCELLED)):
                self._counters.dead_lettered += 1
                self._events.settled(queue.queue, task_id, "dead_lettered")
            return
        if verdict is Verdict.HANDED_BACK:
            if await self._apply(record, lambda: queue.requeue(task_id, count_attempt=False)):
                self._counters.handed_back += 1
                self._events.settled(queue.queue, task_id, "cancelled")
            return
        self._counters.failed += 1
        if isinstance(exc, (Fail, SerializationError, PayloadTooLarge)):
            # Fail: rejected by its handler; the others: a result the queue cannot keep.
            reason = exc.reason if isinstance(exc, Fail) else str(exc)
            logger.warning("task %s rejected: %s", printable(task_id), printable(reason))
            if await self._apply(record, lambda: queue.fail(task_id, reason)):
                self._counters.dead_lettered += 1
                self._events.settled(queue.queue, task_id, "dead_lettered")
            return
        if isinstance(exc, Retry) and exc.delay is not None:
            delay, error = exc.delay, repr(exc)
        else:
            delay = self._backoff.delay(task_id.attempt, self._rng)
            error = self._describe(record, verdict, exc)
        if await self._apply(record, lambda: queue.requeue(task_id, delay, error=error)):
            if task_id.attempt >= queue.requeue_limit:  # its last attempt: dead-lettered
                self._counters.dead_lettered += 1
                outcome = "dead_lettered"
            else:
                self._counters.retried += 1
                outcome = "retried"
            if verdict is Verdict.TIMED_OUT:
                outcome = "timed_out"
            self._events.settled(queue.queue, task_id, outcome)

    def _describe(self, record: Record, verdict: Verdict, exc: BaseException | None) -> str:
        task_id = record.task_id
        if verdict is Verdict.TIMED_OUT:
            self._counters.timed_out += 1
            limit = record.limit_at - record.received_at
            logger.warning("task %s attempt %d timed out after %.3g s; cancelled",
                           printable(task_id), task_id.attempt, limit)
            return f"timed out after {limit:.3g} s"
        if exc is None:
            return "the handler was cancelled"
        if not isinstance(exc, Retry):
            logger.warning("task %s attempt %d failed: %r", printable(task_id), task_id.attempt, exc,
                           exc_info=exc)
        return error_text(exc)

    async def _apply(self, record: Record, call: Callable[[], Awaitable[bool]]) -> bool:
        """Run a requeue/fail until Redis takes it; True if applied (False: refused or abandoned)."""
        outage = Outage(f"outcome of task {printable(record.task_id)}", logger,
                        episodes=self._episodes)
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    applied = await call()
                except FAILURES as exc:
                    self._events.redis_error(record.queue.queue)
                    if self._give_up(record, loop.time()):
                        return False
                    await asyncio.sleep(outage.failed(exc))
                    continue
                if not applied:
                    self._counters.refused += 1
                    self._events.settled(record.queue.queue, record.task_id, "lease_lost")
                return applied
        finally:
            outage.close()

    def _give_up(self, record: Record, now: float) -> bool:
        """Whether to stop trying an outcome Redis keeps refusing (its lease brings it back)."""
        if self.give_up_at is not None and now >= self.give_up_at:
            logger.error("task %s: Redis unavailable at shutdown; its lease will bring it back",
                         printable(record.task_id))
            return True
        if not record.held(time.monotonic()):
            logger.error("task %s: Redis refused its outcome for %g s; giving it up, its lease "
                         "will bring it back", printable(record.task_id), state.FINISHED_HOLD)
            self._counters.abandoned += 1
            return True
        return False

    async def hand_back(self, record: Record) -> None:
        """Give a task fetched while shutting down back unused."""
        self._slots.give_back()
        self._in_flight.mark(record, finished=True)
        try:
            await self._settle(record, Verdict.HANDED_BACK, None)
        finally:
            self._in_flight.remove(record)
