"""OpenTelemetry: producer and consumer spans, trace context in metadata, kept across retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque, Worker
from arque.worker import TaskContext
from arque.worker.tracing import TracingObserver
from helpers import split_record, wait_until

pytest.importorskip("opentelemetry.sdk")
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util._once import Once


def _reset_global_provider() -> None:
    # opentelemetry sets the global provider once per process; tests set and unset it.
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _reset_global_provider()
    trace.set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        provider.shutdown()
        _reset_global_provider()


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


async def meta_of(queue: Arque, task_id: str) -> dict[str, Any]:
    meta, _ = split_record(await queue.redis.hget(queue.keys.tasks, task_id))
    found = json.loads(meta)
    if isinstance(found, list):  # the compact form of a plain ready task: [t, e]
        return {"t": found[0], "e": found[1]}
    return dict(found)


async def test_nothing_happens_without_a_tracer_provider(
    redis: aioredis.Redis, queue_name: str,
) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue({"n": 1}, task_id="plain")
    await queue.enqueue_many([{"n": 2}], task_ids=["plain-2"])
    assert "tc" not in await meta_of(queue, "plain")
    assert "tc" not in await meta_of(queue, "plain-2")
    task_id, _ = await queue.dequeue()
    assert task_id is not None and task_id.trace == ""  # type: ignore[attr-defined]


async def test_enqueue_makes_a_producer_span_and_keeps_its_context_in_metadata(
    redis: aioredis.Redis, queue_name: str, spans: InMemorySpanExporter,
) -> None:
    queue = Arque(redis, queue=queue_name)
    tracer = trace.get_tracer("app")
    with tracer.start_as_current_span("http request") as outer:
        await queue.enqueue({"n": 1}, task_id="t1")
    [send] = named(spans, f"send {queue_name}")
    assert send.kind is SpanKind.PRODUCER
    assert send.parent is not None and send.parent.span_id == outer.get_span_context().span_id
    assert dict(send.attributes or {}) == {
        "messaging.system": "arque", "messaging.destination.name": queue_name,
        "messaging.operation.type": "send", "messaging.operation.name": "send",
        "messaging.message.id": "t1"}
    meta = await meta_of(queue, "t1")
    ctx = send.get_span_context()
    assert meta["tc"].startswith(f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-")
    _, payload = split_record(await redis.hget(queue.keys.tasks, "t1"))
    assert b"00-" not in payload


async def test_enqueue_many_and_sync_enqueue_are_traced(
    redis: aioredis.Redis, redis_url: str, queue_name: str, spans: InMemorySpanExporter,
) -> None:
    import redis as redis_py

    queue = Arque(redis, queue=queue_name)
    await queue.enqueue_many([{"n": i} for i in range(3)], task_ids=["a", "b", "c"], delay=60)
    [batch] = named(spans, f"send {queue_name}")
    assert (batch.attributes or {})["messaging.batch.message_count"] == 3
    contexts = {(await meta_of(queue, i))["tc"][:-3] for i in "abc"}
    assert contexts == {f"00-{batch.context.trace_id:032x}-{batch.context.span_id:016x}"}
    with redis_py.Redis.from_url(redis_url) as sync:
        Arque(sync, queue=queue_name).enqueue_sync({"n": 9}, task_id="s")
    assert len(named(spans, f"send {queue_name}")) == 2
    assert (await meta_of(queue, "s"))["tc"].startswith("00-")


async def _run_until(worker: Worker, done: Any) -> None:
    run = asyncio.ensure_future(worker.run())
    try:
        await wait_until(done)
    finally:
        worker.stop()
        await asyncio.wait_for(run, 30)


async def test_each_attempt_is_a_consumer_span_linked_to_the_producer_across_retries(
    redis: aioredis.Redis, queue_name: str, spans: InMemorySpanExporter,
) -> None:
    queue = Arque(redis, queue=queue_name)
    tracer = trace.get_tracer("app")
    inner: list[Any] = []

    async def handler(data: Any, ctx: TaskContext) -> None:
        with tracer.start_as_current_span("handler work") as span:
            inner.append(span.get_span_context())
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")

    from arque import Backoff

    await queue.enqueue({"n": 1}, task_id="retried")
    [send] = named(spans, f"send {queue_name}")
    worker = Worker(queue, handler, backoff=Backoff(base=0.01, max=0.01, jitter=False),
                    sweep_interval=0.05)
    await _run_until(worker, lambda: len(named(spans, f"process {queue_name}")) == 2)
    first, second = sorted(named(spans, f"process {queue_name}"),
                           key=lambda s: (s.attributes or {})["arque.attempt"])
    for span, attempt in ((first, 1), (second, 2)):
        assert span.kind is SpanKind.CONSUMER
        attrs = dict(span.attributes or {})
        assert attrs["messaging.system"] == "arque"
        assert attrs["messaging.destination.name"] == queue_name
        assert attrs["messaging.message.id"] == "retried" and attrs["arque.attempt"] == attempt
        assert [link.context.span_id for link in span.links] == [send.context.span_id]
        assert span.parent is None  # linked, not a child, by default
    assert [e.attributes["arque.outcome"] for e in first.events if e.name == "settle"] == [
        "retried"]
    assert first.status.status_code is StatusCode.ERROR
    assert any(e.name == "exception" for e in first.events)
    assert [e.attributes["arque.outcome"] for e in second.events if e.name == "settle"] == [
        "released"]
    # The handler's own spans nest under the attempt's span.
    handler_spans = named(spans, "handler work")
    assert {s.parent.span_id for s in handler_spans if s.parent} == {
        first.context.span_id, second.context.span_id}
    # Background loops (fetch, heartbeat, sweep: every 50 ms here) made no spans.
    assert {s.name for s in spans.get_finished_spans()} == {
        f"send {queue_name}", f"process {queue_name}", "handler work"}


async def test_child_of_makes_one_trace_from_enqueue_to_processing(
    redis: aioredis.Redis, queue_name: str, spans: InMemorySpanExporter,
) -> None:
    queue = Arque(redis, queue=queue_name)

    async def handler(data: Any, ctx: TaskContext) -> None:
        pass

    await queue.enqueue({"n": 1})
    [send] = named(spans, f"send {queue_name}")
    worker = Worker(queue, handler, observers=[TracingObserver(child_of=True)])
    await _run_until(worker, lambda: named(spans, f"process {queue_name}"))
    [process] = named(spans, f"process {queue_name}")
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert process.context.trace_id == send.context.trace_id and not process.links


async def test_tracestate_travels_with_the_task(
    redis: aioredis.Redis, queue_name: str, spans: InMemorySpanExporter,
) -> None:
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

    queue = Arque(redis, queue=queue_name)
    remote = SpanContext(trace_id=0x1234, span_id=0x5678, is_remote=True,
                         trace_flags=TraceFlags(1), trace_state=TraceState([("vendor", "v1")]))
    with trace.use_span(NonRecordingSpan(remote)):
        await queue.enqueue({"n": 1}, task_id="st")
    assert (await meta_of(queue, "st"))["tc"].endswith("|vendor=v1")
    task_id, _ = await queue.dequeue()
    assert task_id is not None and task_id.trace.endswith("|vendor=v1")  # type: ignore[attr-defined]
