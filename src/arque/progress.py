"""Progress: what a running handler reports of its work, fenced by its delivery token.

The value is kept as JSON text in the task's metadata, so it comes back as
it was sent (``0.5``, not ``"0.5"``): ``get_task_stats(task_id)['progress']``
and ``arque task ID`` show it. Its size is capped: progress is a note, not a
payload.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import InvalidArgument
from .scripts import Scripts

__all__ = ["MAX_PROGRESS", "encode", "report"]

MAX_PROGRESS = 16 * 1024
"""The largest progress, in bytes of JSON."""


def encode(value: Any) -> str:
    """``value`` as compact JSON; InvalidArgument when it is not JSON or too large."""
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"progress must be JSON-serialisable: {exc}") from exc
    if len(text.encode()) > MAX_PROGRESS:
        raise InvalidArgument(f"progress is {len(text.encode())} bytes of JSON, over "
                              f"{MAX_PROGRESS}")
    return text


async def report(scripts: Scripts, task_id: str, token: str, value: Any) -> int:
    """Keep ``value`` as the progress of the hand-out ``token`` of ``task_id``.

    Returns 1 kept, 0 refused (not working, or a stale hand-out), -1 kept but
    the task is being cancelled.
    """
    return int(await scripts.call("progress", [task_id, token, encode(value)]))
