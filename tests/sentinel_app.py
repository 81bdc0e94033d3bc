"""The handler of the Sentinel failover test: ``tests.sentinel_app:handler``.

It appends ``<pid> <n>`` to the file named by ``$ARQUE_DONE_LOG`` (one line
per run, fsynced), so the test sees every task that completed, and by whom.
"""

from __future__ import annotations

import os
from typing import Any

from arque.worker import TaskContext


def _record(n: int) -> None:
    # Blocking on purpose: the line is on disk before the task is released.
    with open(os.environ["ARQUE_DONE_LOG"], "a") as out:
        out.write(f"{os.getpid()} {n}\n")
        out.flush()
        os.fsync(out.fileno())


async def handler(data: Any, ctx: TaskContext) -> None:
    _record(data["n"])
