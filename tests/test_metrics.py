"""Prometheus metrics: queue gauges, worker counters and histograms, /metrics, multiprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py
import redis.asyncio as aioredis

from arque import Arque, Health, Worker
from arque.metrics import queue_gauges, serve_queue_metrics
from arque.testing import free_port
from arque.worker import Fail, TaskContext
from helpers import wait_until

prometheus = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families

SRC = str(Path(__file__).parents[1] / "src")


def scrape(port: int) -> dict[str, Any]:
    """name -> (type, {labels tuple: value}) of every sample family."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(text):
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
        out[family.name] = (family.type, samples)
    return out


def value(found: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    return float(found[family][1][(sample, tuple(sorted(labels.items())))])


async def test_gauges_count_states_and_age_only_ready_tasks(
    redis: aioredis.Redis, queue_name: str,
) -> None:
    queue = Arque(redis, queue=queue_name, working_limit=7)
    g = await queue_gauges(queue)
    assert (g.pending, g.delayed, g.working, g.failed, g.workers) == (0, 0, 0, 0, 0)
    assert g.oldest_ready_age is None and g.oldest_lease_age is None and g.working_limit == 7
    await queue.enqueue({"n": 1}, delay=3600)
    g = await queue_gauges(queue)
    assert g.delayed == 1 and g.oldest_ready_age is None  # a delayed task is not backlog
    await queue.enqueue({"n": 2}, task_id="ready-1")
    await queue.enqueue({"n": 3}, task_id="ready-2")
    await asyncio.sleep(0.3)
    g = await queue_gauges(queue)
    assert g.pending == 2 and g.oldest_ready_age is not None and g.oldest_ready_age >= 0.25
    task_id, _ = await queue.dequeue()
    assert task_id == "ready-1"
    await asyncio.sleep(0.2)
    g = await queue_gauges(queue)
    assert g.working == 1 and g.oldest_lease_age is not None and g.oldest_lease_age >= 0.15
    # A backoff requeue is not backlog either; the other ready task still is.
    assert await queue.requeue(task_id, delay=3600)
    g = await queue_gauges(queue)
    assert (g.pending, g.delayed, g.working) == (1, 2, 0)
    assert g.oldest_ready_age is not None and g.oldest_ready_age >= 0.45
    last, _ = await queue.dequeue()
    assert last is not None and await queue.fail(last, "nope")
    g = await queue_gauges(queue)
    assert g.failed == 1 and g.pending == 0 and g.oldest_ready_age is None


async def test_a_requeued_task_is_ready_from_its_requeue(
    redis: aioredis.Redis, queue_name: str,
) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue({"n": 1})
    await asyncio.sleep(0.5)
    task_id, _ = await queue.dequeue()
    assert task_id is not None and task_id.waited >= 0.45  # type: ignore[attr-defined]
    assert await queue.requeue(task_id)
    g = await queue_gauges(queue)
    assert g.oldest_ready_age is not None and g.oldest_ready_age < 0.45
    again, _ = await queue.dequeue()
    assert again.waited < 0.45  # type: ignore[union-attr]


async def _worker_outcomes(queue: Arque) -> Worker:
    async def handler(data: Any, ctx: TaskContext) -> None:
        if data["do"] == "fail":
            raise Fail("nope")
        if data["do"] == "raise" and ctx.attempt == 1:
            raise RuntimeError("once")

    worker = Worker(queue, handler, concurrency=4, metrics=True,
                    health=Health(port=0, host="127.0.0.1"), name="metrics-w")
    await queue.enqueue_many([{"do": "ok"}] * 3 + [{"do": "fail"}, {"do": "raise"}])
    return worker


async def test_worker_serves_counters_and_histograms_on_its_health_port(
    redis: aioredis.Redis, queue_name: str,
) -> None:
    queue = Arque(redis, queue=queue_name)
    worker = await _worker_outcomes(queue)
    worker_backoff_free = worker
    run = asyncio.ensure_future(worker_backoff_free.run())
    try:
        await wait_until(lambda: worker.stats().released == 4 and worker.stats().failed == 2)
        assert worker.health_port is not None
        found = await asyncio.to_thread(scrape, worker.health_port)
    finally:
        worker.stop()
        await asyncio.wait_for(run, 30)
    q = queue_name
    total = "arque_tasks_processed_total"
    assert found["arque_tasks_processed"][0] == "counter"
    assert value(found, "arque_tasks_processed", total, queue=q, outcome="released") == 4
    assert value(found, "arque_tasks_processed", total, queue=q, outcome="dead_lettered") == 1
    assert value(found, "arque_tasks_processed", total, queue=q, outcome="retried") == 1
    assert found["arque_task_duration_seconds"][0] == "histogram"
    assert value(found, "arque_task_duration_seconds", "arque_task_duration_seconds_count",
                 queue=q) == 6
    assert value(found, "arque_task_wait_seconds", "arque_task_wait_seconds_count", queue=q) == 6
    assert found["arque_fencing_refusals"][0] == "counter"
    assert found["arque_redis_errors"][0] == "counter"
    for family in found.values():  # labels stay bounded: queue and outcome only
        for _, labels in family[1]:
            assert {k for k, _ in labels} <= {"queue", "outcome", "le"}


def test_exporter_serves_the_queue_gauges(redis_url: str, queue_name: str) -> None:
    client = redis_py.Redis.from_url(redis_url)
    queue = Arque(client, queue=queue_name, working_limit=9)
    queue.enqueue_sync({"n": 1})
    queue.enqueue_sync({"n": 2}, delay=600)
    server = serve_queue_metrics([queue], 0, "127.0.0.1")
    try:
        found = scrape(server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        client.close()
    q = queue_name
    assert found["arque_tasks"][0] == "gauge"
    assert value(found, "arque_tasks", "arque_tasks", queue=q, state="pending") == 1
    assert value(found, "arque_tasks", "arque_tasks", queue=q, state="delayed") == 1
    assert value(found, "arque_tasks", "arque_tasks", queue=q, state="failed") == 0
    assert value(found, "arque_working_limit", "arque_working_limit", queue=q) == 9
    assert value(found, "arque_workers", "arque_workers", queue=q) == 0
    assert value(found, "arque_oldest_ready_age_seconds", "arque_oldest_ready_age_seconds",
                 queue=q) >= 0
    assert "arque_oldest_lease_age_seconds" in found


_CHILD = textwrap.dedent("""
    import asyncio, sys
    import redis.asyncio as aioredis
    from arque import Arque, Health, Worker

    async def handler(data, ctx):
        pass

    async def main():
        client = aioredis.Redis.from_url(sys.argv[1])
        worker = Worker(Arque(client, queue=sys.argv[2]), handler, metrics=True,
                        health=Health(port=int(sys.argv[3]), host="127.0.0.1"))
        await worker.serve()

    asyncio.run(main())
""")


@pytest.mark.slow
async def test_multiprocess_mode_sums_the_workers_of_a_host(
    redis: aioredis.Redis, redis_url: str, queue_name: str, tmp_path: Path,
) -> None:
    queue = Arque(redis, queue=queue_name)
    env = {**os.environ, "PYTHONPATH": SRC, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen(  # noqa: ASYNC220 - a fast fork
                 [sys.executable, "-c", _CHILD, redis_url, queue_name, str(p)],
                              env=env) for p in ports]
    try:
        await wait_until(lambda: _listening(ports))
        await queue.enqueue_many([{"n": i} for i in range(40)])
        await wait_until(lambda: _released(ports[0], queue_name) == 40)
        # The other process serves the same sum: any worker's port gives the host's totals.
        await wait_until(lambda: _released(ports[1], queue_name) == 40, 10)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)


def _listening(ports: list[int]) -> bool:
    try:
        for port in ports:
            scrape(port)
    except OSError:
        return False
    return True


def _released(port: int, queue: str) -> float:
    """The host's released count served on ``port``; -1 when a scrape failed (a loaded
    machine may drop one), for the caller to poll again."""
    try:
        found = scrape(port)
    except OSError:  # http.client.RemoteDisconnected among them
        return -1.0
    try:
        return value(found, "arque_tasks_processed", "arque_tasks_processed_total", queue=queue,
                     outcome="released")
    except KeyError:
        return 0.0


async def test_cli_exporter_runs_until_sigterm(redis_url: str, queue_name: str) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(  # noqa: ASYNC220 - a fast fork
        [sys.executable, "-m", "arque", "metrics", "--redis", redis_url,
                             "--queue", queue_name, "--port", str(port), "--host", "127.0.0.1"],
                            env=env, stderr=subprocess.PIPE)
    try:
        await wait_until(lambda: _listening([port]))
        found = await asyncio.to_thread(scrape, port)
        assert value(found, "arque_tasks", "arque_tasks", queue=queue_name, state="pending") == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert b"/metrics" in err


EXPORTED = {
    "arque_tasks", "arque_oldest_ready_age_seconds", "arque_oldest_lease_age_seconds",
    "arque_working_limit", "arque_workers", "arque_tasks_processed_total",
    "arque_task_duration_seconds_bucket", "arque_task_wait_seconds_bucket",
    "arque_fencing_refusals_total", "arque_redis_errors_total",
}


def test_deploy_files_use_only_exported_metrics() -> None:
    import json
    import re

    deploy = Path(__file__).parents[1] / "deploy"
    dashboard = json.loads((deploy / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = (deploy / "prometheus-alerts.yml").read_text()
    exprs += re.findall(r"expr: >?\n?((?:.|\n)*?)\n\s+(?:for|labels):", rules)
    used = {name for e in exprs for name in re.findall(r"\barque_[a-z_]+", e)}
    assert used and used <= EXPORTED, used - EXPORTED
    # Every metric the issue names has a panel, and the four alerts exist.
    assert {n.removesuffix("_bucket") for n in EXPORTED} <= {
        n.removesuffix("_bucket") for n in re.findall(r"\barque_[a-z_]+", " ".join(exprs))}
    for alert in ("ArqueBacklogOld", "ArqueDeadLettersRising", "ArqueNoWorkers",
                  "ArqueLeaseLosses"):
        assert f"alert: {alert}" in rules


async def test_the_working_limit_shown_is_the_one_the_queue_stores(
    redis: aioredis.Redis, redis_url: str, queue_name: str,
) -> None:
    client = redis_py.Redis.from_url(redis_url)
    reader = Arque(client, queue=queue_name)  # gives no settings: never writes the config
    server = serve_queue_metrics([reader], 0, "127.0.0.1")
    try:
        def shown() -> float:
            return value(scrape(server.server_port), "arque_working_limit",
                         "arque_working_limit", queue=queue_name)

        assert await asyncio.to_thread(shown) == Arque.working_limit  # nothing stored
        await Arque(redis, queue=queue_name).configure(working_limit=42)
        assert await asyncio.to_thread(shown) == 42
        assert (await queue_gauges(Arque(redis, queue=queue_name))).working_limit == 42
    finally:
        server.shutdown()
        server.server_close()
        client.close()
    assert await redis.hget(Arque(redis, queue=queue_name).keys.config, "working_limit") in (
        b"42", "42")


async def test_pending_gauge_counts_priorities_and_groups(
    redis: aioredis.Redis, queue_name: str
) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue("plain")
    await queue.enqueue("high", priority=5)
    await queue.enqueue("tenant", group="t-1")
    gauges = await queue_gauges(queue)
    assert gauges.pending == 3
