"""Handlers for the ``arque worker`` tests, imported as ``tests.cli_app:NAME``.

``handler`` sleeps ``data["sleep"]`` seconds (default 0) and dead-letters the
task when ``data["fail"]`` is true. The other names are wrong on purpose.
"""

from __future__ import annotations

import asyncio
from typing import Any

from arque.worker import Fail, TaskContext


async def handler(data: Any, ctx: TaskContext) -> None:
    await asyncio.sleep(data.get("sleep", 0))
    if data.get("fail"):
        raise Fail(f"asked to fail on attempt {ctx.attempt}")


def sync_handler(data: Any, ctx: TaskContext) -> None:
    """Not a coroutine function: the worker refuses it."""


async def one_argument(data: Any) -> None:
    """A coroutine function that cannot take (data, ctx)."""


not_callable = 42


class handlers:  # a namespace, as an app might group its handlers
    """``tests.cli_app:handlers.nested`` is a dotted MODULE:HANDLER."""

    nested = staticmethod(handler)
