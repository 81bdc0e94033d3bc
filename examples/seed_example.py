# ruff: noqa  -- the seed's code as its README had it, style included
"""The arque 1.1.0 README example, on ``redis.asyncio`` instead of ``aioredis``.

Producers, five consumers under a working limit of 3, the sweeper and a stats
loop, stopped by SIGHUP/SIGTERM/SIGINT/SIGUSR1. Apart from the Redis client
and the event loop set-up it is the seed's code, kept as the compatibility
contract. Redis is ``$REDIS_URL`` (default ``redis://localhost``); the queue is
the default one (prefix ``arque``, queue ``default``).

The shutdown is 1.1.0's with its flaws mended: 1.1.0's gather() re-raised
the first CancelledError, so "Flushing metrics" was never logged, the script
ended with that traceback (exit status 1) and the loop could close before
every client had. Here shutdown() waits for every cancelled task to finish
(``return_exceptions=True``), and the main block lets it end before closing
the loop: the script exits with status 0 and no traceback.

    REDIS_URL=redis://localhost:6379 python examples/seed_example.py
"""

import signal, random, logging, asyncio, os, time
from functools import wraps

import redis.asyncio as aioredis

from arque import Arque

logger = logging.getLogger(__name__)

REDIS_URL = os.environ.get('REDIS_URL', 'redis://localhost')


async def shutdown(signal, loop):
    logging.info(f"Received exit signal {signal.name}...")
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    [task.cancel() for task in tasks]
    logging.info(f"Cancelling {len(tasks)} outstanding tasks")
    # Wait for each to finish its clean-up (clients closed); a cancellation is no error here.
    await asyncio.gather(*tasks, return_exceptions=True)
    logging.info(f"Flushing metrics")


def aioredis_pool(host=REDIS_URL, encoding='utf8'):
    def wrapper(func):
        @wraps(func)
        async def wrapped():
            # aioredis.create_redis_pool(host, encoding=encoding) in 1.1.0
            redis = aioredis.from_url(host, encoding=encoding, decode_responses=True)
            try:
                return await func(redis=redis)
            finally:
                await redis.aclose()
        return wrapped
    return wrapper


@aioredis_pool(host=REDIS_URL, encoding='utf8')
async def produce_task(redis=None):
    logger.info('Starting producing...')
    queue = Arque(redis=redis)
    while True:
        for _ in range(1):
            task = {'value': random.randint(0, 99)}
            task_id = f"custom_{task['value']}_{time.time()}"
            logger.debug('Produced task %s', task)
            await queue.enqueue(task, task_id=task_id, task_timeout=10, delay=1)
        await asyncio.sleep(1)


async def process(task_data):
    logger.debug('Consumed task %s', task_data)
    await asyncio.sleep(1)


@aioredis_pool(host=REDIS_URL, encoding='utf8')
async def consume_task(redis=None):
    logger.info('Starting consuming...')
    queue = Arque(redis=redis, working_limit=3)
    while True:
        task_id, task_data = await queue.dequeue()
        if task_id == '__not_found__':
            continue
        if task_id == '__overloaded__':
            print(f'TASK ID: {task_id}')
            await asyncio.sleep(1)
            continue
        if task_id == '__marked_as_failed___':
            print(f'FAILED  ID: {task_id}')
            continue
        try:
            await process(task_data)
            await queue.release(task_id)
        except Exception:
            logger.exception('Job processing has failed')
            await queue.requeue(task_id, delay=5)
            stats = await queue.get_stats()
            logger.info(stats)


@aioredis_pool(host=REDIS_URL, encoding='utf8')
async def sweep_task(redis=None):
    logger.info('Starting sweeping...')
    queue = Arque(redis=redis, sweep_interval=5)
    await queue.schedule_sweep()


@aioredis_pool(host=REDIS_URL, encoding='utf8')
async def stats_task(redis=None):
    logger.info('Starting stats...')
    queue = Arque(redis=redis)
    while True:
        stats = await queue.get_stats()
        logger.info(stats)
        await asyncio.sleep(5)


async def example():
    tasks = []
    for _ in range(5):
        tasks.append(consume_task())
    tasks.append(produce_task())
    tasks.append(sweep_task())
    tasks.append(stats_task())
    await asyncio.gather(*tasks)


if __name__ == '__main__':
    logging.basicConfig(level=logging.DEBUG, format='%(asctime)s %(message)s')
    # 1.1.0 called asyncio.get_event_loop(), which warns without a running
    # loop since Python 3.12 and fails since 3.14: make the loop explicitly.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    signals = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
    stopping = []
    for s in signals:
        loop.add_signal_handler(
            s, lambda s=s: stopping.append(loop.create_task(shutdown(s, loop))))
    try:
        loop.run_until_complete(example())
    except asyncio.CancelledError:
        # shutdown() cancelled example() with the rest: let shutdown() itself finish.
        loop.run_until_complete(asyncio.gather(*stopping))
    finally:
        loop.close()
        logging.info("Successfully shutdown...")
