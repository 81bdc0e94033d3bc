"""The dashboard in a real headless Chromium (Debian's chromium + chromedriver, via Selenium).

A uvicorn server runs the app in a thread against the session's Redis; the
browser walks the pages. A screenshot of each page goes to
``$ARQUE_ARTIFACTS`` (default ``build/screenshots``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from arque import Arque, Worker
from arque.testing import free_port

pytest.importorskip("starlette")
pytest.importorskip("selenium")
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from arque.web import create_app

CHROMIUM = os.environ.get("ARQUE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ARQUE_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("ARQUE_ARTIFACTS",
                                Path(__file__).parents[1] / "build" / "screenshots"))

if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
    pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver;"
                " .ci/run installs them)", allow_module_level=True)


class Served:
    """A dashboard served by uvicorn in a thread of its own."""

    def __init__(self, url: str, queue: str, **options: Any) -> None:
        self.port = free_port()
        options.setdefault("refresh", 0)
        app = create_app(aioredis.Redis.from_url(url), queues=[queue], close_client=True,
                         **options)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


async def _fill(url: str, name: str, run_worker: bool) -> Any:
    """Tasks in every state, two kinds of dead letters, and (maybe) a live worker."""
    client = aioredis.Redis.from_url(url)
    queue = Arque(client, queue=name)
    await queue.enqueue_many([{"order": i, "items": [1, 2]} for i in range(6)],
                             task_ids=[f"order-{i}" for i in range(6)])
    await queue.enqueue({"later": True}, task_id="later-1", delay=3600)
    for _ in range(4):
        await queue.dequeue()
    await queue.fail("order-0", "ConnectionError: smtp down\n  File \"send.py\", line 3",
                     reason="rejected")
    await queue.fail("order-1", "ValueError: no such customer", reason="rejected")
    await queue.fail("order-2", "ValueError: no such customer", reason="rejected")
    await client.aclose()


@pytest.fixture
def queue_name_b() -> str:
    return f"web-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: webdriver.Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, max(600, min(int(height) + 40, 3000)))
    assert driver.save_screenshot(str(path)), f"no screenshot for {name}"
    return path


_CELLS_JS = """
const row = document.querySelector('tr[data-queue="' + arguments[0] + '"]');
if (!row) { return null; }
const out = {};
for (const cell of row.querySelectorAll('td[data-state]')) {
  out[cell.getAttribute('data-state')] = cell.textContent.trim();
}
return out;
"""


def cells(driver: webdriver.Chrome, queue: str) -> dict[str, int]:
    # Read the row in one script run: the live part of the page is swapped in every
    # few hundred ms, and element handles taken one by one can go stale in between.
    found = driver.execute_script(_CELLS_JS, queue)
    assert found is not None, f"no row for queue {queue!r}"
    return {state: int(text) for state, text in found.items()}


def test_every_page_in_read_only_mode(redis_url: str, queue_name_b: str,
                                      browser: webdriver.Chrome) -> None:
    asyncio.run(_fill(redis_url, queue_name_b, run_worker=False))

    async def handler(data: Any, ctx: Any) -> None:
        await asyncio.sleep(3600)

    worker_box: dict[str, Any] = {}

    def run_worker() -> None:  # a live worker for the workers page, on its own loop
        async def main() -> None:
            client = aioredis.Redis.from_url(redis_url)
            worker = Worker(Arque(client, queue=queue_name_b), handler, concurrency=1,
                            name="browser-worker", registry_ttl=3, grace_period=0)
            worker_box["worker"], worker_box["loop"] = worker, asyncio.get_running_loop()
            await worker.run()
            await client.aclose()
        asyncio.run(main())

    thread = threading.Thread(target=run_worker, daemon=True)
    thread.start()
    try:
        with Served(redis_url, queue_name_b) as served:
            _walk_read_only(browser, served, redis_url, queue_name_b)
    finally:
        deadline = time.monotonic() + 10
        while "worker" not in worker_box and time.monotonic() < deadline:
            time.sleep(0.05)
        if "worker" in worker_box:
            worker_box["worker"].stop()
        thread.join(30)


def _stats(url: str, name: str) -> Any:
    async def read() -> Any:
        client = aioredis.Redis.from_url(url)
        try:
            return await Arque(client, queue=name).stats()
        finally:
            await client.aclose()
    return asyncio.run(read())


def _walk_read_only(browser: webdriver.Chrome, served: Served, url: str, queue: str) -> None:
    wait = WebDriverWait(browser, 30)
    # The workers page: the worker shows up once it has registered.
    browser.get(served.url("/workers"))
    deadline = time.monotonic() + 30
    while "browser-worker" not in browser.page_source:
        assert time.monotonic() < deadline, "the live worker never showed"
        time.sleep(0.3)
        browser.refresh()
    # The worker took one more task; its entry names it from its next refresh (every
    # registry_ttl / 3), so wait until the working page names the lease holder.
    browser.get(served.url(f"/queues/{queue}?state=working"))
    deadline = time.monotonic() + 30
    while "browser-worker" not in browser.find_element(By.ID, "tasks").text:
        assert time.monotonic() < deadline, "the lease holder was never named"
        time.sleep(0.3)
        browser.refresh()
    stats = _stats(url, queue)
    browser.get(served.url("/"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-queue="{queue}"]'))
    shown = cells(browser, queue)
    assert {k: shown[k] for k in ("pending", "delayed", "working", "failed")} == {
        "pending": stats.pending, "delayed": stats.delayed, "working": stats.working,
        "failed": stats.failed}
    assert shown["workers"] == 1
    assert browser.find_element(By.ID, "mode").text == "read-only"
    shot(browser, "overview")
    browser.get(served.url("/workers"))
    shot(browser, "workers")
    for state in ("pending", "delayed", "working"):
        browser.get(served.url(f"/queues/{queue}?state={state}"))
        rows = browser.find_elements(By.CSS_SELECTOR, "#tasks tbody tr")
        assert len(rows) == getattr(stats, state)
        shot(browser, f"queue-{state}")
    working = browser.find_element(By.ID, "tasks").text
    assert "browser-worker" in working and "unknown" in working  # order-3 was taken by hand
    browser.get(served.url(f"/queues/{queue}/tasks/order-0"))
    assert browser.find_element(By.ID, "state").text == "failed"
    assert "smtp down" in browser.page_source
    assert '"order": 0' in browser.find_element(By.ID, "payload").text
    shot(browser, "task")
    browser.get(served.url(f"/queues/{queue}/failed"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#failed tbody tr")) == 3
    assert not browser.find_elements(By.TAG_NAME, "button") or all(
        b.text == "Search" for b in browser.find_elements(By.TAG_NAME, "button"))
    shot(browser, "dead-letters")
    # A forced write from the page is refused by the server.
    status = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const body = new URLSearchParams({action: 'replay', ids: 'order-0', csrf: 'x'});
        fetch(arguments[0], {method: 'POST', body}).then(r => done(r.status));
    """, served.url(f"/queues/{queue}/failed/actions"))
    assert status == 403
    assert _stats(url, queue).failed == 3
    browser.get(served.url(f"/queues/{queue}/failed?view=groups"))
    groups = browser.find_element(By.ID, "groups").text
    assert "ValueError: no such customer" in groups and "ConnectionError: smtp down" in groups
    shot(browser, "dead-letters-grouped")


def test_a_dead_letter_found_by_search_is_replayed_and_leaves_the_list(
    redis_url: str, queue_name_b: str, browser: webdriver.Chrome,
) -> None:
    asyncio.run(_fill(redis_url, queue_name_b, run_worker=False))
    with Served(redis_url, queue_name_b, allow_writes=True) as served:
        browser.get(served.url(f"/queues/{queue_name_b}/failed"))
        assert browser.find_element(By.ID, "mode").text == "writes allowed"
        search = browser.find_element(By.NAME, "q")
        search.send_keys("smtp down")
        search.submit()
        WebDriverWait(browser, 30).until(lambda d: "q=smtp" in d.current_url)
        rows = browser.find_elements(By.CSS_SELECTOR, "#failed tbody tr")
        assert [r.get_attribute("data-id") for r in rows] == ["order-0"]
        shot(browser, "dead-letters-search")
        rows[0].find_element(By.CSS_SELECTOR, "button.replay-one").click()
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "message"))
        assert browser.find_element(By.ID, "message").text == "1 of 1 replayed"
        left = [r.get_attribute("data-id")
                for r in browser.find_elements(By.CSS_SELECTOR, "#failed tbody tr")]
        assert left == ["order-2", "order-1"]
        # Select both that are left and purge them together.
        browser.find_element(By.ID, "all").click()
        browser.find_element(By.ID, "purge-selected").click()
        WebDriverWait(browser, 30, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: d.find_element(By.ID, "message").text == "2 of 2 purged")
        assert browser.find_elements(By.ID, "none")
        shot(browser, "dead-letters-after-purge")
    stats = _stats(redis_url, queue_name_b)
    assert stats.failed == 0 and stats.pending == 3  # order-4, order-5 and the replayed one


def test_the_overview_updates_itself(redis_url: str, queue_name_b: str,
                                     browser: webdriver.Chrome) -> None:
    async def enqueue(count: int) -> None:
        client = aioredis.Redis.from_url(redis_url)
        await Arque(client, queue=queue_name_b).enqueue_many([{"n": i} for i in range(count)])
        await client.aclose()

    asyncio.run(enqueue(2))
    with Served(redis_url, queue_name_b, refresh=0.3) as served:
        browser.get(served.url("/"))
        # The page swaps its live part every 0.3 s: a read may meet a replaced (stale) cell.
        WebDriverWait(browser, 30, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: cells(d, queue_name_b)["pending"] == 2)
        asyncio.run(enqueue(5))
        # No reload: the page's script polls the live part and swaps it in.
        WebDriverWait(browser, 30, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: cells(d, queue_name_b)["pending"] == 7)
