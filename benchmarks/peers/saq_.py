"""saq adapter: Worker(queue, functions, concurrency=100).start() as saq's docs show.

saq has no batch enqueue (Queue.map waits for results), so "batched" is n/a.
Scheduled jobs are moved by a timer that runs every second (timers['schedule']=1).
"""

from __future__ import annotations

import time

from _common import Adapter, main
from saq import Queue, Worker

HANDLER = None


async def noop(ctx, *, payload):
    await HANDLER(payload)


class Saq(Adapter):
    name = "saq"
    dists = ("saq", "redis", "hiredis")

    async def setup(self) -> None:
        self.queue = Queue.from_url(self.url, name="bench")
        await self.queue.connect()

    async def close(self) -> None:
        await self.queue.disconnect()

    async def enqueue(self, payload: dict, delay: float | None = None) -> None:
        if delay:
            await self.queue.enqueue("noop", payload=payload, scheduled=time.time() + delay)
        else:
            await self.queue.enqueue("noop", payload=payload)

    async def run_worker(self, handler, concurrency: int) -> None:
        global HANDLER
        HANDLER = handler
        self.worker = Worker(self.queue, functions=[noop], concurrency=concurrency)
        await self.worker.start()

    async def stop_worker(self) -> None:
        await self.worker.stop()


if __name__ == "__main__":
    main(Saq)
