"""taskiq adapter, with taskiq-redis's RedisStreamBroker.

taskiq-redis recommends RedisStreamBroker when tasks must not be lost (messages
are acknowledged after execution; unacknowledged ones are reclaimed), so that is
the broker used here.  The worker is taskiq's own receiver loop, started the
documented programmatic way: taskiq.api.run_receiver_task(max_async_tasks=100).
No result backend is configured (taskiq's default).
Delayed tasks in taskiq need a separate scheduler process with a schedule
source; the broker itself has no delay, so that scenario is n/a here.
"""

from __future__ import annotations

from _common import Adapter, main
from taskiq.api import run_receiver_task
from taskiq_redis import RedisStreamBroker

HANDLER = None


def make_broker(url: str):
    broker = RedisStreamBroker(url=url, queue_name="bench")

    @broker.task(task_name="noop")
    async def noop(payload: dict) -> None:
        await HANDLER(payload)

    return broker, noop


class Taskiq(Adapter):
    name = "taskiq"
    dists = ("taskiq", "taskiq-redis", "redis", "hiredis")
    supports_delay = False
    delay_note = "needs a separate taskiq scheduler process"

    async def setup(self) -> None:
        self.broker, self.noop = make_broker(self.url)
        await self.broker.startup()  # declares the consumer group before anything is sent

    async def close(self) -> None:
        await self.broker.shutdown()

    async def enqueue(self, payload: dict, delay: float | None = None) -> None:
        await self.noop.kiq(payload)

    async def run_worker(self, handler, concurrency: int) -> None:
        global HANDLER
        HANDLER = handler
        self.wbroker, _ = make_broker(self.url)
        self.wbroker.is_worker_process = True
        await self.wbroker.startup()
        await run_receiver_task(self.wbroker, max_async_tasks=concurrency)


if __name__ == "__main__":
    main(Taskiq)
