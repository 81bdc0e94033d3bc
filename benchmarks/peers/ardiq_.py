"""ardiq adapter: Ardiq(concurrency=100) and ``await app.run()``, the worker loop
running in ardiq's Rust core.  Batched enqueue uses Ardiq.enqueue_many with
task.prepare(); delays use task.options(delay_ms=...).  Defaults otherwise
(results kept 5 minutes, prefetch 2 x concurrency).  Needs Python >= 3.12.
"""

from __future__ import annotations

from _common import Adapter, main
from ardiq import Ardiq

HANDLER = None


def make_app(url: str, concurrency: int = 16):
    app = Ardiq(redis_url=url, queue_name="bench", concurrency=concurrency)

    @app.task()
    async def noop(payload: dict) -> None:
        await HANDLER(payload)

    return app, noop


class ArdiqAdapter(Adapter):
    name = "ardiq"
    dists = ("ardiq", "msgpack")

    async def setup(self) -> None:
        self.app, self.noop = make_app(self.url)

    async def enqueue(self, payload: dict, delay: float | None = None) -> None:
        if delay:
            await self.noop.options(delay_ms=int(delay * 1000)).enqueue(payload)
        else:
            await self.noop.enqueue(payload)

    async def enqueue_batch(self, payloads: list[dict]) -> None:  # type: ignore[override]
        await self.app.enqueue_many([self.noop.prepare(p) for p in payloads])

    async def run_worker(self, handler, concurrency: int) -> None:
        global HANDLER
        HANDLER = handler
        self.wapp, _ = make_app(self.url, concurrency)
        await self.wapp.run()

    async def stop_worker(self) -> None:
        self.wapp.stop()


if __name__ == "__main__":
    main(ArdiqAdapter)
