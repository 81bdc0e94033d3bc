"""OpenTelemetry: a PRODUCER span per enqueue, a CONSUMER span per attempt.

Needs ``pip install 'arque[otel]'`` (opentelemetry-api), and does nothing
until the application sets a tracer provider (the SDK's, with its
exporters): without both, every hook here is a cheap no-op.

- ``send {queue}`` (PRODUCER) wraps ``enqueue``, ``enqueue_many`` (one span
  for the batch) and ``enqueue_sync``. Its W3C trace context
  (``traceparent``, and ``tracestate`` when safe) is kept in the task's
  metadata (field ``tc``), never in the payload, and survives retries,
  recoveries and replays.
- ``process {queue}`` (CONSUMER) covers one attempt, from the handler's start
  to the outcome applied in Redis, with a ``settle`` event naming the
  outcome. It links to the producer's span (``TracingObserver()``), or is its
  child (``TracingObserver(child_of=True)``). The handler runs inside it, so
  its own spans nest under it.
  (``TracingObserver`` in ``arque.worker.tracing``; a ``Worker`` adds one
  by itself when a provider is set by the time it starts.)
- Background loops (heartbeat, sweep, fetch) make no spans.

Attributes follow the messaging semantic conventions:
``messaging.system=arque``, ``messaging.destination.name``,
``messaging.message.id``, ``messaging.operation.type`` / ``.name``,
``messaging.batch.message_count``, and ``arque.attempt``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["FAILED_OUTCOMES", "active", "extract", "otel", "send", "tracer"]

_available: bool | None = None
_trace: Any = None
_NULL = contextlib.nullcontext(False)
# What may go into the hand-written metadata JSON: the W3C header characters
# minus '"' and '\\' (a tracestate with those is dropped, the traceparent kept).
_SAFE = re.compile(r"^[\x20-\x7e]*$")
FAILED_OUTCOMES = frozenset({"dead_lettered", "timed_out", "lease_lost", "retried"})
"""Outcomes whose ``process`` span gets an error status."""


def otel() -> Any:
    """The ``opentelemetry.trace`` module (call only when ``active()``)."""
    global _trace
    if _trace is None:
        from opentelemetry import trace

        _trace = trace
    return _trace


def active() -> bool:
    """Whether spans are made: opentelemetry-api installed and a tracer provider set."""
    global _available
    if _available is None:
        _available = importlib.util.find_spec("opentelemetry") is not None
    if not _available:
        return False
    trace = otel()
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def tracer() -> Any:
    """arque's tracer."""
    from . import __version__

    return otel().get_tracer("arque", __version__)


def _carrier() -> str:
    """The current span's W3C context as kept in metadata: ``traceparent[|tracestate]``."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    headers: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(headers)
    parent = headers.get("traceparent", "")
    state = headers.get("tracestate", "")
    if not parent or not _SAFE.match(parent) or "|" in parent:
        return ""
    if state and _SAFE.match(state) and not {'"', "\\", "|"} & set(state):
        return f"{parent}|{state}"
    return parent


def extract(carrier: str) -> Any:
    """The span context of a carrier (None when there is none)."""
    if not carrier:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent, _, state = carrier.partition("|")
    headers = {"traceparent": parent}
    if state:
        headers["tracestate"] = state
    context = TraceContextTextMapPropagator().extract(headers)
    span_context = otel().get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None


def send(queue: str, tasks: Sequence[list[Any]]) -> contextlib.AbstractContextManager[bool]:
    """Around an enqueue of ``tasks`` (``[task_id, payload, ...]`` each).

    When tracing is active: a ``send {queue}`` PRODUCER span, and each task's
    arguments get the span's trace context appended; yields True. Else a
    no-op that yields False.
    """
    if not active():
        return _NULL
    return _send(queue, tasks)


@contextlib.contextmanager
def _send(queue: str, tasks: Sequence[list[Any]]) -> Iterator[bool]:
    trace = otel()
    attributes: dict[str, Any] = {
        "messaging.system": "arque", "messaging.destination.name": queue,
        "messaging.operation.type": "send", "messaging.operation.name": "send",
    }
    if len(tasks) == 1:
        attributes["messaging.message.id"] = str(tasks[0][0])
    else:
        attributes["messaging.batch.message_count"] = len(tasks)
    with tracer().start_as_current_span(f"send {queue}", kind=trace.SpanKind.PRODUCER,
                                         attributes=attributes):
        carrier = _carrier()
        for args in tasks:
            args.append(carrier)
        yield True
