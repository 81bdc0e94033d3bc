"""streaq adapter: Worker(concurrency=100).run_async() as streaq's docs show.

The producer side is a second Worker object entered with ``async with`` (the
documented way to enqueue from another process).  Batched enqueue uses
Worker.enqueue_many.  Task results are kept 5 minutes by default (ttl).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from _common import Adapter, main
from streaq import Worker

HANDLER = None


def make_worker(url: str, concurrency: int = 16) -> tuple[Worker, object]:
    w = Worker(redis_url=url, queue_name="bench", concurrency=concurrency, handle_signals=False)

    @w.task()
    async def noop(payload: dict) -> None:
        await HANDLER(payload)

    return w, noop


class Streaq(Adapter):
    name = "streaq"
    dists = ("streaq", "coredis")

    async def setup(self) -> None:
        self.producer, self.noop = make_worker(self.url)
        await self.producer.__aenter__()

    async def close(self) -> None:
        await self.producer.__aexit__(None, None, None)

    async def enqueue(self, payload: dict, delay: float | None = None) -> None:
        if delay:
            await self.noop.enqueue(payload).start(delay=timedelta(seconds=delay))
        else:
            await self.noop.enqueue(payload)

    async def enqueue_batch(self, payloads: list[dict]) -> None:  # type: ignore[override]
        await self.producer.enqueue_many([self.noop.enqueue(p) for p in payloads])

    async def run_worker(self, handler, concurrency: int) -> None:
        global HANDLER
        HANDLER = handler
        self.worker, _ = make_worker(self.url, concurrency)
        self._task = asyncio.current_task()
        await self.worker.run_async()

    async def stop_worker(self) -> None:
        self._task.cancel()


if __name__ == "__main__":
    main(Streaq)
