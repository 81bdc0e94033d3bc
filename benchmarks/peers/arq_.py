"""arq adapter: Worker(max_jobs=100) as arq's docs show, defaults otherwise.

arq polls its queue (poll_delay 0.5 s by default), so pickup latency is slow
by design; results are kept for an hour by default (keep_result=3600).
"""

from __future__ import annotations

from _common import Adapter, main
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker, func

HANDLER = None


async def noop(ctx, payload):
    await HANDLER(payload)


class Arq(Adapter):
    name = "arq"
    dists = ("arq", "redis", "hiredis")

    async def setup(self) -> None:
        self.settings = RedisSettings(host=self.host, port=self.port)
        self.pool = await create_pool(self.settings)

    async def close(self) -> None:
        await self.pool.aclose()

    async def enqueue(self, payload: dict, delay: float | None = None) -> None:
        await self.pool.enqueue_job("noop", payload, _defer_by=delay)

    async def run_worker(self, handler, concurrency: int) -> None:
        global HANDLER
        HANDLER = handler
        self.worker = Worker(
            functions=[func(noop, name="noop")],
            redis_settings=self.settings,
            max_jobs=concurrency,
            handle_signals=False,
        )
        await self.worker.async_run()

    async def stop_worker(self) -> None:
        await self.worker.close()


if __name__ == "__main__":
    main(Arq)
