"""docket (pydocket) adapter: Worker(docket, concurrency=100).run_forever().

Tasks are scheduled with docket.add(fn, when=...); batched enqueue uses
Docket.add_many with Docket.call.  Defaults otherwise, except the connection
pool limit raised to 300 through the Redis URL (see setup).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from _common import Adapter, main
from docket import Docket, Worker

HANDLER = None


async def noop(payload: dict) -> None:
    await HANDLER(payload)


class DocketAdapter(Adapter):
    name = "docket"
    dists = ("pydocket", "redis", "hiredis")

    async def setup(self) -> None:
        # redis-py 8 caps a pool at 100 connections by default, which concurrency 100
        # plus docket's own loops exceed ("Too many connections"); raise it in the URL.
        sep = "&" if "?" in self.url else "?"
        self.docket = Docket(name="bench", url=f"{self.url}{sep}max_connections=300")
        await self.docket.__aenter__()
        self.docket.register(noop)

    async def close(self) -> None:
        await self.docket.__aexit__(None, None, None)

    async def enqueue(self, payload: dict, delay: float | None = None) -> None:
        if delay:
            when = datetime.now(timezone.utc) + timedelta(seconds=delay)
            await self.docket.add(noop, when=when)(payload)
        else:
            await self.docket.add(noop)(payload)

    async def enqueue_batch(self, payloads: list[dict]) -> None:  # type: ignore[override]
        await self.docket.add_many([self.docket.call(noop)(p) for p in payloads])

    async def run_worker(self, handler, concurrency: int) -> None:
        global HANDLER
        HANDLER = handler
        self.worker = Worker(self.docket, concurrency=concurrency)
        async with self.worker:
            await self.worker.run_forever()


if __name__ == "__main__":
    main(DocketAdapter)
