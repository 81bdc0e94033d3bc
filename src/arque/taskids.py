"""What a task id may be: the sentinels ``dequeue`` returns are not ids.

``dequeue`` answers with a sentinel string in place of an id when it took
nothing (or an undecodable task); a task named like one would be read as that
answer by every consumer, so such ids are refused. Ids are capped in length:
each is stored several times (pending list, metadata, lease) and printed in
logs and the CLI.

An id left to arque is 14 characters of ``[A-Za-z0-9_-]``: 84 random bits
in base64url. Redis keeps a string of up to 14 bytes in a 16-byte
allocation (1 byte of header, the NUL), so a pending task's two copies of
its id (the record's field, the pending list's element) take 24 B less than
at 22 characters (128 bits) and about 50 B less than uuid4's 32 hex digits;
see benchmarks/MEMORY.md. Uniqueness does not rest on the draw alone: a drawn id
that meets a live task is drawn again by the enqueue (``queue.py``), where a
given id is left as it is. One in 64 draws would start with ``-`` and read as
an option on a command line (``arque task -x…``): those are made again too,
which leaves about 83.98 bits.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from .errors import InvalidArgument

__all__ = [
    "MARKED_AS_FAILED", "MAX_TASK_ID_BYTES", "NOT_FOUND", "OVERLOADED", "check_task_id", "new_task_id",
]

NOT_FOUND = "__not_found__"
"""dequeue() found nothing to take after all: call again."""
OVERLOADED = "__overloaded__"
"""dequeue() found working_limit reached: back off."""
MARKED_AS_FAILED = "__marked_as_failed___"
"""dequeue() took a task it could not decode: it went to dead letters. (Spelling kept from 1.1.0.)"""

MAX_TASK_ID_BYTES = 1024
"""The longest task id, in bytes of its UTF-8 encoding."""

_SENTINELS = frozenset({NOT_FOUND, OVERLOADED, MARKED_AS_FAILED})


def check_task_id(task_id: Any) -> str:
    """``task_id`` if it may name a new task, else :class:`InvalidArgument`."""
    if not isinstance(task_id, str) or not task_id:
        raise InvalidArgument(f"task_id must be a non-empty string, got {task_id!r}")
    if task_id in _SENTINELS:
        raise InvalidArgument(f"task_id {task_id!r} is a sentinel dequeue returns, not an id")
    try:
        size = len(task_id.encode())
    except UnicodeEncodeError as exc:  # a lone surrogate: Redis could not store it as sent
        raise InvalidArgument(f"task_id {task_id!r} is not valid Unicode: {exc}") from exc
    if size > MAX_TASK_ID_BYTES:
        raise InvalidArgument(
            f"task_id is {size} bytes encoded, over the limit of {MAX_TASK_ID_BYTES}")
    return task_id


def new_task_id() -> str:
    """A fresh random id: 84 bits as 14 characters of base64url, never starting with ``-``."""
    while True:
        task_id = base64.urlsafe_b64encode(os.urandom(12))[:14].decode()  # 16 characters, 96 bits
        if task_id[0] != "-":
            return task_id
