"""The floor: a hand-written reliable list queue on redis.asyncio, no library.

Same round trips a reliable queue needs at minimum:
  enqueue  LPUSH pending <json>
  dequeue  BLMOVE pending processing RIGHT LEFT <timeout>   (blocks in Redis)
  ack      LREM processing 1 <json>
Delayed tasks are not part of this floor (no ZSET mover is written).

Variant ``pipelined``: each of a few consumer loops moves up to 100 tasks with
one pipeline of LMOVEs (falling back to one BLMOVE when the list is empty), runs
the handlers, then acknowledges them with one pipeline of LREMs.
"""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as redis
from _common import Adapter, main

PENDING = "floor:pending"
PROCESSING = "floor:processing"


class Floor(Adapter):
    name = "floor"
    dists = ("redis", "hiredis")
    supports_delay = False
    delay_note = "not implemented in the floor"

    async def setup(self) -> None:
        self.r = redis.Redis(host=self.host, port=self.port, max_connections=300)
        self._stop = asyncio.Event()

    async def close(self) -> None:
        await self.r.aclose()

    async def enqueue(self, payload: dict, delay: float | None = None) -> None:
        await self.r.lpush(PENDING, json.dumps(payload))

    async def enqueue_batch(self, payloads: list[dict]) -> None:  # type: ignore[override]
        await self.r.lpush(PENDING, *[json.dumps(p) for p in payloads])

    async def run_worker(self, handler, concurrency: int) -> None:
        if self.variant == "pipelined":
            await asyncio.gather(*(self._consume_batch(handler, 100) for _ in range(2)))
        else:
            await asyncio.gather(*(self._consume(handler) for _ in range(concurrency)))

    async def _consume(self, handler) -> None:
        r = self.r
        while not self._stop.is_set():
            raw = await r.blmove(PENDING, PROCESSING, 1, "RIGHT", "LEFT")
            if raw is None:
                continue
            await handler(json.loads(raw))
            await r.lrem(PROCESSING, 1, raw)

    async def _consume_batch(self, handler, size: int) -> None:
        r = self.r
        while not self._stop.is_set():
            async with r.pipeline(transaction=False) as p:
                for _ in range(size):
                    p.lmove(PENDING, PROCESSING, "RIGHT", "LEFT")
                got = [x for x in await p.execute() if x is not None]
            if not got:
                raw = await r.blmove(PENDING, PROCESSING, 1, "RIGHT", "LEFT")
                if raw is None:
                    continue
                got = [raw]
            await asyncio.gather(*(handler(json.loads(x)) for x in got))
            async with r.pipeline(transaction=False) as p:
                for x in got:
                    p.lrem(PROCESSING, 1, x)
                await p.execute()

    async def stop_worker(self) -> None:
        self._stop.set()


if __name__ == "__main__":
    main(Floor)
