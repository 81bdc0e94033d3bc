"""torrelque adapter.

Torrelque is a reliable-queue library with no worker runtime: its docs show a
consumer loop over dequeue()/release(), so this runs 100 such coroutines.
Delayed tasks return to "pending" only when the sweep runs; the sweep is
scheduled every 0.5 s here (the library default is 30 s).
Batched enqueue uses its documented ``pipeline=`` argument (one MULTI per batch).
"""

from __future__ import annotations

import asyncio

import redis.asyncio as redis
from _common import Adapter, main
from torrelque import Torrelque, TorrelqueTimeoutError

SWEEP_INTERVAL = 0.5


class Torr(Adapter):
    name = "torrelque"
    dists = ("torrelque", "redis", "hiredis")

    async def setup(self) -> None:
        # one connection per blocked consumer, plus the sweep and the producer side
        self.r = redis.Redis(host=self.host, port=self.port, max_connections=300)
        self.tq = Torrelque(self.r, queue="bench")
        self._stop = asyncio.Event()

    async def close(self) -> None:
        await self.r.aclose()

    async def enqueue(self, payload: dict, delay: float | None = None) -> None:
        await self.tq.enqueue(payload, delay=delay)

    async def enqueue_batch(self, payloads: list[dict]) -> None:  # type: ignore[override]
        async with self.r.pipeline(transaction=True) as p:
            for payload in payloads:
                await self.tq.enqueue(payload, pipeline=p)
            await p.execute()

    async def run_worker(self, handler, concurrency: int) -> None:
        self.tq.schedule_sweep(SWEEP_INTERVAL)
        try:
            await asyncio.gather(*(self._consume(handler) for _ in range(concurrency)))
        finally:
            self.tq.unschedule_sweep()

    async def _consume(self, handler) -> None:
        while not self._stop.is_set():
            try:
                task_id, data = await self.tq.dequeue(timeout=1)
            except TorrelqueTimeoutError:
                continue
            await handler(data)
            await self.tq.release(task_id)

    async def stop_worker(self) -> None:
        self._stop.set()


if __name__ == "__main__":
    main(Torr)
