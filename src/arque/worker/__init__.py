"""The worker runtime: run a handler on the tasks of one or more queues.

::

    async def handler(data, ctx):
        ...                      # return: released; raise: retried with backoff

    worker = Worker(queue, handler, concurrency=20)
    sys.exit(worker.run_forever())   # SIGTERM / SIGINT: graceful shutdown

See ``docs/workers.md`` for running workers in production.
"""

from .context import TaskContext as TaskContext
from .control import Fail as Fail
from .control import Retry as Retry
from .control import WorkerSignal as WorkerSignal
from .health import file_is_fresh as file_is_fresh
from .launcher import Worker as Worker
from .options import Backoff as Backoff
from .options import Health as Health
from .process import Handler as Handler
from .process import error_text as error_text
from .state import WorkerStats as WorkerStats

__all__ = [
    "Backoff",
    "Fail",
    "Handler",
    "Health",
    "Retry",
    "TaskContext",
    "Worker",
    "WorkerSignal",
    "WorkerStats",
    "error_text",
    "file_is_fresh",
]
