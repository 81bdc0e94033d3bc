"""The dashboard app, through its ASGI interface: pages, cursors, search, guards, mounting."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from arque import Arque

pytest.importorskip("starlette")
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from arque.web import create_app
from arque.web.security import BasicAuth


def client_for(app: Any, **kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", **kw)


@pytest.fixture
async def filled(redis: aioredis.Redis, queue_name: str) -> AsyncIterator[Arque]:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue_many([{"n": i} for i in range(5)], task_ids=[f"p{i}" for i in range(5)])
    await queue.enqueue({"later": True}, task_id="d0", delay=3600)
    for i in range(3):
        await queue.enqueue({"bad": i}, task_id=f"f{i}")
    for i in range(3):
        task_id, _ = await queue.dequeue()
        assert task_id is not None
    # p0, p1, p2 were first out: dead-letter two with distinct errors, keep one working.
    await queue.fail("p0", "boom: disk full\ntraceback line", reason="rejected")
    await queue.fail("p1", "ValueError: bad input", reason="rejected")
    yield queue


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the form"
    return found.group(1)


async def test_overview_shows_the_counts_of_stats(filled: Arque) -> None:
    stats = await filled.stats()
    async with client_for(create_app(filled.redis, queues=[filled.queue])) as client:
        page = await client.get("/")
    assert page.status_code == 200
    row = re.search(rf'<tr data-queue="{filled.queue}">(.*?)</tr>', page.text, re.DOTALL)
    assert row
    for state in ("pending", "delayed", "working", "failed"):
        cell = re.search(rf'data-state="{state}"><a [^>]*>(\d+)</a>', row.group(1))
        assert cell and int(cell.group(1)) == getattr(stats, state), state
    assert "<svg" in page.text  # the throughput chart


async def test_queues_are_discovered_under_the_prefix(filled: Arque) -> None:
    async with client_for(create_app(filled.redis)) as client:
        page = await client.get("/")
    assert f'data-queue="{filled.queue}"' in page.text


async def test_queue_page_lists_by_cursor_next_out_first(filled: Arque) -> None:
    async with client_for(create_app(filled.redis, queues=[filled.queue])) as client:
        page = await client.get(f"/queues/{filled.queue}", params={"state": "pending"})
        ids = re.findall(r'/tasks/([\w-]+)">', page.text)
        assert ids[:5] == ["p3", "p4", "f0", "f1", "f2"]
        working = await client.get(f"/queues/{filled.queue}", params={"state": "working"})
        assert "p2" in working.text and "time left" in working.text
        delayed = await client.get(f"/queues/{filled.queue}", params={"state": "delayed"})
        assert "d0" in delayed.text
        bad = await client.get(f"/queues/{filled.queue}", params={"state": "nope"})
        assert bad.status_code == 400


async def test_pages_follow_the_cursor(redis: aioredis.Redis, queue_name: str) -> None:
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue_many([{"n": i} for i in range(120)],
                             task_ids=[f"t{i:03d}" for i in range(120)])
    seen: list[str] = []
    async with client_for(create_app(redis, queues=[queue_name])) as client:
        url: str | None = f"/queues/{queue_name}?state=pending"
        while url:
            page = await client.get(url)
            seen += re.findall(r'/tasks/(t\d+)">', page.text)
            nxt = re.search(r'id="next" href="([^"]+)"', page.text)
            url = nxt.group(1).replace("&amp;", "&") if nxt else None
    assert seen == [f"t{i:03d}" for i in range(120)]


async def test_pending_pages_hold_every_ready_task(redis: aioredis.Redis, queue_name: str) -> None:
    """Prioritized and grouped tasks are pending too: the pages list them all, once each."""
    queue = Arque(redis, queue=queue_name)
    await queue.enqueue_many([{"n": i} for i in range(3)], task_ids=["plain0", "plain1", "plain2"])
    await queue.enqueue({"n": 0}, task_id="urgent", priority=5)
    await queue.enqueue({"n": 0}, task_id="later", priority=-5)
    await queue.enqueue_many([{"n": i} for i in range(2)], task_ids=["a0", "a1"], group="acme")
    await queue.enqueue({"n": 0}, task_id="b0", group="bolt", priority=3)
    order = ["urgent", "plain0", "plain1", "plain2", "later", "a0", "a1", "b0"]
    from arque.web.data import page_tasks
    seen: list[str] = []
    cursor: int | None = 0
    while cursor is not None:  # pages of 3 cross from one structure to the next
        found = await page_tasks(queue, "pending", cursor, 3)
        assert found.total == len(order)
        seen += [row.task_id for row in found.rows]
        cursor = found.next_cursor
    async with client_for(create_app(redis, queues=[queue_name])) as client:
        first = await client.get(f"/queues/{queue_name}?state=pending")
    assert re.findall(r'/tasks/([\w-]+)">', first.text) == order
    assert seen == order and (await queue.stats()).pending == len(order)
    assert f"{len(order)} pending" in first.text
    row = re.search(r'/tasks/urgent">urgent</a></td>\s*<td class="n">(-?\d+)</td>', first.text)
    assert row and row.group(1) == "5"


async def test_task_page_shows_error_and_pretty_payload(filled: Arque) -> None:
    async with client_for(create_app(filled.redis, queues=[filled.queue])) as client:
        page = await client.get(f"/queues/{filled.queue}/tasks/p0")
        missing = await client.get(f"/queues/{filled.queue}/tasks/nope")
    assert page.status_code == 200 and 'id="state">failed<' in page.text
    assert "boom: disk full" in page.text and "traceback line" in page.text
    assert '&#34;n&#34;: 0' in page.text or '"n": 0' in page.text
    assert missing.status_code == 404


async def test_dead_letters_search_by_id_reason_and_text(filled: Arque) -> None:
    async with client_for(create_app(filled.redis, queues=[filled.queue])) as client:
        base = f"/queues/{filled.queue}/failed"
        every = await client.get(base)
        by_id = await client.get(base, params={"id": "p1"})
        by_text = await client.get(base, params={"q": "disk full"})
        by_reason = await client.get(base, params={"reason": "poison_pill"})
        rejected = await client.get(base, params={"reason": "rejected", "q": "disk"})
        unknown = await client.get(base, params={"reason": "no such reason"})
        groups = await client.get(base, params={"view": "groups"})
    ids = lambda r: re.findall(r'<tr data-id="([^"]+)"', r.text)
    assert ids(every) == ["p1", "p0"]  # newest first
    assert ids(by_id) == ["p1"] and ids(by_text) == ["p0"] and ids(by_reason) == []
    assert ids(rejected) == ["p0"] and unknown.status_code == 200 and ids(unknown) == []
    assert "boom: disk full" in groups.text and "ValueError: bad input" in groups.text
    assert "traceback line" not in groups.text  # grouped by the error's first line


async def test_read_only_has_no_buttons_and_refuses_forced_writes(filled: Arque) -> None:
    app = create_app(filled.redis, queues=[filled.queue])
    async with client_for(app, cookies={"arque_csrf": "x" * 40}) as client:
        page = await client.get(f"/queues/{filled.queue}/failed")
        assert "Replay" not in page.text and "Purge" not in page.text
        forced = await client.post(f"/queues/{filled.queue}/failed/actions",
                                   data={"action": "replay", "ids": "p0", "csrf": "x" * 40})
    assert forced.status_code == 403
    assert (await filled.stats()).failed == 2


async def test_replay_and_purge_need_the_csrf_token(filled: Arque) -> None:
    app = create_app(filled.redis, queues=[filled.queue], allow_writes=True)
    async with client_for(app) as client:
        page = await client.get(f"/queues/{filled.queue}/failed")
        token = csrf_of(page.text)
        url = f"/queues/{filled.queue}/failed/actions"
        without = await client.post(url, data={"action": "replay", "ids": "p0"})
        assert without.status_code == 403
        done = await client.post(url, data={"action": "replay", "ids": ["p0", "p1"],
                                            "csrf": token})
        assert done.status_code == 303 and "2+of+2+replayed" in done.headers["location"]
    stats = await filled.stats()
    assert stats.failed == 0 and stats.pending == 7


async def test_authorize_is_asked_for_views_and_writes(filled: Arque) -> None:
    asked: list[str] = []

    async def authorize(request: Request, action: str) -> bool:
        asked.append(action)
        return action != "purge" and request.headers.get("x-user") == "admin"

    app = create_app(filled.redis, queues=[filled.queue], allow_writes=True, authorize=authorize)
    async with client_for(app, headers={"x-user": "admin"}) as client:
        page = await client.get(f"/queues/{filled.queue}/failed")
        token = csrf_of(page.text)
        url = f"/queues/{filled.queue}/failed/actions"
        purge = await client.post(url, data={"action": "purge", "ids": "p0", "csrf": token})
        replay = await client.post(url, data={"action": "replay", "ids": "p0", "csrf": token})
    async with client_for(app) as stranger:
        assert (await stranger.get("/")).status_code == 403
    assert purge.status_code == 403 and replay.status_code == 303
    assert asked[:3] == ["view", "purge", "replay"]


async def test_mounted_under_a_path_links_stay_inside_it(filled: Arque) -> None:
    outer = Starlette(routes=[Mount("/ops/queues", create_app(filled.redis,
                                                              queues=[filled.queue]))])
    async with client_for(outer) as client:
        page = await client.get("/ops/queues/")
        css = await client.get("/ops/queues/static/arque.css")
    assert page.status_code == 200 and css.status_code == 200
    links = re.findall(r'href="([^"]+)"', page.text)
    assert links and all(link.startswith("http://t/ops/queues/") for link in links), links


async def test_basic_auth(filled: Arque) -> None:
    app = BasicAuth(create_app(filled.redis, queues=[filled.queue]), "ops", "s3cret")
    async with client_for(app) as client:
        assert (await client.get("/")).status_code == 401
        assert (await client.get("/", auth=("ops", "wrong"))).status_code == 401
        assert (await client.get("/", auth=("ops", "s3cret"))).status_code == 200


async def test_workers_page_lists_live_workers(filled: Arque) -> None:
    import asyncio

    from arque import Worker
    from helpers import wait_until

    async def handler(data: Any, ctx: Any) -> None:
        await asyncio.sleep(0)

    worker = Worker(Arque(filled.redis, queue=filled.queue), handler, name="web-w",
                    registry_ttl=3)
    run = asyncio.ensure_future(worker.run())
    try:
        async with client_for(create_app(filled.redis, queues=[filled.queue])) as client:
            async def listed() -> bool:
                return "web-w" in (await client.get("/workers")).text
            await wait_until(listed)
    finally:
        worker.stop()
        await asyncio.wait_for(run, 30)


async def test_arque_web_serves_with_basic_auth_until_sigterm(
    filled: Arque, redis_url: str,
) -> None:
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from arque.testing import free_port
    from helpers import wait_until

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"),
           "ARQUE_WEB_AUTH": "ops:s3cret"}
    proc = subprocess.Popen(  # noqa: ASYNC220 - a fast fork
        [sys.executable, "-m", "arque", "web", "--redis", redis_url, "--discover",
         "--port", str(port)], env=env, stderr=subprocess.PIPE)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async def up() -> bool:
                try:
                    return (await client.get("/")).status_code == 401
                except httpx.TransportError:
                    return False
            await wait_until(up)
            page = await client.get("/", auth=("ops", "s3cret"))
            assert page.status_code == 200 and f'data-queue="{filled.queue}"' in page.text
            assert "read-only" in page.text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert b"read-only, basic auth" in err
