"""bullmq (BullMQ's Python port) adapter: Worker(name, processor, {"concurrency": 100}).

Default job options, as in BullMQ's docs: completed jobs are kept
(removeOnComplete not set), which shows in the residue figures.
Batched enqueue uses Queue.addBulk.
"""

from __future__ import annotations

from _common import Adapter, main
from bullmq import Queue, Worker


class Bullmq(Adapter):
    name = "bullmq"
    dists = ("bullmq", "redis", "hiredis")

    async def setup(self) -> None:
        self.queue = Queue("bench", {"connection": self.url})

    async def close(self) -> None:
        await self.queue.close()

    async def enqueue(self, payload: dict, delay: float | None = None) -> None:
        opts = {"delay": int(delay * 1000)} if delay else {}
        await self.queue.add("noop", payload, opts)

    async def enqueue_batch(self, payloads: list[dict]) -> None:  # type: ignore[override]
        await self.queue.addBulk([{"name": "noop", "data": p} for p in payloads])

    async def run_worker(self, handler, concurrency: int) -> None:
        async def process(job, token):
            await handler(job.data)

        self.worker = Worker("bench", process, {"connection": self.url, "concurrency": concurrency})
        await self.worker.run()

    async def stop_worker(self) -> None:
        await self.worker.close()


if __name__ == "__main__":
    main(Bullmq)
