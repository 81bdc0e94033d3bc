"""The handler of the Sentinel failover test: ``tests.sentinel_app:handler``.

It appends each task's ``n`` to the file named by ``$ARQUE_DONE_LOG`` (one
line per run, fsynced), so the test sees every task that completed.
"""

from __future__ import annotations

import os
from typing import Any

from arque.worker import TaskContext


async def handler(data: Any, ctx: TaskContext) -> None:
    with open(os.environ["ARQUE_DONE_LOG"], "a") as out:
        out.write(f"{data['n']}\n")
        out.flush()
        os.fsync(out.fileno())
