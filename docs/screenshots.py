"""Make the README's dashboard screenshots: docs/img/dashboard.png and docs/img/dead-letters.png.

    .venv/bin/python docs/screenshots.py

Starts a private redis-server, fills three queues with real tasks in every
state (enqueued, handed out, dead-lettered) and a live worker, and writes
three hours of per-minute throughput history straight into the rollups hash
(demo data: no one waits three hours for a screenshot). Then headless
Chromium (Debian's chromium + chromedriver) takes the pictures.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from arque import Arque, Worker
from arque.testing import RedisServer, free_port
from arque.web import create_app

OUT = Path(__file__).parent / "img"
QUEUES = {"emails": 180, "sms": 40, "reports": 12}
LIMITS = {"emails": 200, "sms": 50, "reports": 0}


async def fill(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    rng = random.Random(7)
    for name, size in QUEUES.items():
        queue = Arque(client, queue=name, working_limit=LIMITS[name])
        await queue.enqueue_many([{"to": f"user{i}@example.com", "template": "welcome"}
                                  for i in range(size)])
        await queue.enqueue_many([{"digest": i} for i in range(size // 10)], delay=3600)
        taken = await queue.dequeue_many(size // 6)
        for task_id, _ in taken[: max(1, len(taken) // 3)]:
            error = rng.choice([
                "ConnectionError: smtp.example.com:25 refused\n  File \"mail.py\", line 41",
                "ValueError: no such customer 'c-1042'\n  File \"orders.py\", line 12",
            ])
            await queue.fail(task_id, error)
        now_minute = int((await client.time())[0]) // 60
        for m in range(now_minute - 179, now_minute + 1):
            wave = 1 + 0.6 * math.sin((m - now_minute) / 25)
            ok = int(size * 3 * wave * rng.uniform(0.7, 1.1))
            await client.hset(queue.keys.throughput, mapping={
                str(m): 1, f"{m}:released": ok, f"{m}:retried": rng.randint(0, size // 8),
                f"{m}:dead_lettered": rng.choice([0, 0, 0, 1, 2])})
    await client.aclose()


def main() -> None:
    with RedisServer() as server:
        asyncio.run(fill(server.url))
        stop = threading.Event()

        def worker() -> None:
            async def run() -> None:
                client = aioredis.Redis.from_url(server.url)

                async def handler(data: Any, ctx: Any) -> None:
                    await asyncio.sleep(3600)

                queues = [Arque(client, queue=q, working_limit=LIMITS[q]) for q in QUEUES]
                w = Worker(queues, handler, concurrency=8,
                           name="web-1:4242", registry_ttl=3, grace_period=0)
                task = asyncio.ensure_future(w.run())
                while not stop.is_set():
                    await asyncio.sleep(0.1)
                w.stop()
                await task
                await client.aclose()
            asyncio.run(run())

        thread = threading.Thread(target=worker)
        thread.start()
        port = free_port()
        app = create_app(aioredis.Redis.from_url(server.url), queues=list(QUEUES), refresh=0,
                         allow_writes=True, close_client=True)
        web = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
        web_thread = threading.Thread(target=web.run)
        web_thread.start()
        time.sleep(3)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,1000"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        try:
            OUT.mkdir(exist_ok=True)
            driver.get(f"http://127.0.0.1:{port}/")
            driver.set_window_size(1280, 1000)
            driver.save_screenshot(str(OUT / "dashboard.png"))
            driver.get(f"http://127.0.0.1:{port}/queues/emails/failed")
            driver.set_window_size(1280, 620)
            driver.save_screenshot(str(OUT / "dead-letters.png"))
        finally:
            driver.quit()
            web.should_exit = True
            web_thread.join()
            stop.set()
            thread.join()


if __name__ == "__main__":
    main()
