"""The handler of the ``arque worker`` processes in tests/test_redis_errors.py.

    arque worker tests.redis_errors_app:handler ...

Each task's data is ``{"sleep": seconds}``, and ``"retry": true`` for a task
whose first attempt asks to be retried at once (a requeue, which writes).
After sleeping, the handler
appends ``done <task id> <attempt> <pid>`` to the file named by
``$ARQUE_TEST_RESULTS`` (one ``write`` on an ``O_APPEND`` descriptor, so the
lines of several processes never mix), outside Redis: the list survives
whatever Redis answers.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from arque.worker import Retry, TaskContext


async def handler(data: Any, ctx: TaskContext) -> None:
    await asyncio.sleep(data.get("sleep", 0))
    if data.get("retry") and ctx.attempt == 1:
        raise Retry(0)
    line = f"done {ctx.task_id} {ctx.attempt} {os.getpid()}\n".encode()
    fd = os.open(os.environ["ARQUE_TEST_RESULTS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
