"""arque adapter (this repository), written against arque's public API.

* default variant: arque's own ``Worker(queue, handler, concurrency=100)``,
  as each peer runs its own worker;
* ``loop`` variant: a hand-written consumer loop, 100 coroutines, each
  ``dequeue(timeout=1.0)`` (blocks in Redis) then ``release(task_id)``;
* ``batch`` variant: a few loops, each ``dequeue_many(100, timeout=1.0)``, runs the
  handlers concurrently, then ``release_many(ids)``.

Batched enqueue uses ``enqueue_many`` when the installed arque has it.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as redis
from _common import Adapter, main

from arque import Arque

try:
    from arque import Worker
except ImportError:  # an arque from before the worker runtime
    Worker = None

BATCH_LOOPS = 2
BATCH = 100


class ArqueAdapter(Adapter):
    name = "arque"
    dists = ("arque", "redis", "hiredis")

    async def setup(self) -> None:
        # one connection per blocked consumer, plus producers
        self.r = redis.Redis(host=self.host, port=self.port, max_connections=300)
        self.q = Arque(redis=self.r, prefix="arque", queue="bench", working_limit=None)
        self._stop = asyncio.Event()
        if hasattr(self.q, "enqueue_many"):
            self.enqueue_batch = self._enqueue_many  # type: ignore[assignment]

    async def close(self) -> None:
        await self.r.aclose()

    async def enqueue(self, payload: dict, delay: float | None = None) -> None:
        await self.q.enqueue(payload, task_timeout=30, delay=delay)

    async def _enqueue_many(self, payloads: list[dict]) -> None:
        await self.q.enqueue_many(payloads)

    async def run_worker(self, handler, concurrency: int) -> None:
        if not self.variant:
            if Worker is None:
                raise RuntimeError("this arque has no Worker yet")

            async def job(data, ctx) -> None:
                await handler(data)

            self._worker = Worker(self.q, job, concurrency=concurrency)
            await self._worker.run()
            return
        if self.variant == "batch":
            if not hasattr(self.q, "dequeue_many") or not hasattr(self.q, "release_many"):
                raise RuntimeError("this arque has no dequeue_many/release_many yet")
            await asyncio.gather(*(self._consume_many(handler) for _ in range(BATCH_LOOPS)))
        else:
            await asyncio.gather(*(self._consume(handler) for _ in range(concurrency)))

    async def _consume(self, handler) -> None:
        q = self.q
        while not self._stop.is_set():
            task_id, data = await q.dequeue(timeout=1.0)
            if task_id is None:
                continue
            await handler(data)
            await q.release(task_id)

    async def _consume_many(self, handler) -> None:
        q = self.q
        while not self._stop.is_set():
            got = await q.dequeue_many(BATCH, timeout=1.0)
            if not got:
                continue
            await asyncio.gather(*(handler(data) for _, data in got))
            await q.release_many([task_id for task_id, _ in got])

    async def stop_worker(self) -> None:
        self._stop.set()
        if getattr(self, "_worker", None) is not None:
            self._worker.stop()


if __name__ == "__main__":
    main(ArqueAdapter)
