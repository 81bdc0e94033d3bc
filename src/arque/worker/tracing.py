"""The worker side of tracing: the ``process {queue}`` span of each attempt."""

from __future__ import annotations

import contextlib
from typing import Any

from .. import tracing
from ..queue import TaskId
from .events import WorkerObserver

__all__ = ["TracingObserver"]


class TracingObserver(WorkerObserver):
    """Makes the ``process {queue}`` span of each attempt a worker runs.

    ``child_of=False`` (the default) links the span to the producer's;
    ``child_of=True`` makes it the producer's child (one trace from enqueue
    to processing). A ``Worker`` adds one by itself when a tracer provider is
    set by the time it starts.
    """

    def __init__(self, child_of: bool = False) -> None:
        self._child_of = child_of
        self._open: dict[tuple[str, str], tuple[Any, Any]] = {}

    def started(self, queue: str, task_id: TaskId) -> None:
        if not tracing.active():
            return
        trace = tracing.otel()
        from opentelemetry import context as otel_context

        producer = tracing.extract(getattr(task_id, "trace", ""))
        parent = None
        links = []
        if producer is not None:
            if self._child_of:
                parent = trace.set_span_in_context(trace.NonRecordingSpan(producer))
            else:
                links.append(trace.Link(producer))
        span = tracing.tracer().start_span(
            f"process {queue}", context=parent, kind=trace.SpanKind.CONSUMER, links=links,
            attributes={"messaging.system": "arque", "messaging.destination.name": queue,
                        "messaging.message.id": str(task_id),
                        "messaging.operation.type": "process",
                        "messaging.operation.name": "process",
                        "arque.attempt": int(getattr(task_id, "attempt", 0))})
        # Current while the handler runs: it runs in this very asyncio task.
        token = otel_context.attach(trace.set_span_in_context(span))
        self._open[(queue, str(task_id))] = (span, token)

    def ran(self, queue: str, task_id: TaskId, seconds: float,
            error: BaseException | None = None) -> None:
        found = self._open.get((queue, str(task_id)))
        if found is None:
            return
        span, token = found
        from opentelemetry import context as otel_context

        if error is not None:
            span.record_exception(error)
        with contextlib.suppress(ValueError):  # detached elsewhere already
            otel_context.detach(token)

    def settled(self, queue: str, task_id: TaskId, outcome: str) -> None:
        found = self._open.pop((queue, str(task_id)), None)
        if found is None:
            return
        span = found[0]
        span.add_event("settle", {"arque.outcome": outcome})
        span.set_attribute("arque.outcome", outcome)
        if outcome in tracing.FAILED_OUTCOMES:
            span.set_status(tracing.otel().Status(tracing.otel().StatusCode.ERROR, outcome))
        span.end()
