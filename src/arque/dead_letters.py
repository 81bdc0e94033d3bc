"""Dead letters: pages by cursor, and replay or purge in bounded chunks.

Every dead letter is in the queue's ``failed`` set and in the index of its
reason (``failed:<reason>``, one per ``DeadReason``); the scripts that add and
remove dead letters keep both. So a page of one reason, a cursor deep inside
200,000 dead letters, and a replay of one reason each cost O(log n + page) in
Redis, never a scan. See docs/dead-letters.md.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from . import records
from .errors import InvalidArgument
from .keys import reason_value
from .records import DeadLetter, DeadReason
from .scripts import Scripts

__all__ = ["CHUNK", "DeadLetters", "FailedPage", "decode_cursor", "encode_cursor"]

CHUNK = 500
"""Dead letters replayed or purged per script call."""


class FailedPage(list[DeadLetter]):
    """A page of dead letters, newest first: a list, plus where the next page starts.

    ``next_cursor`` is None on the last page; ``total`` counts the dead
    letters listed from (all, or those of the reason asked for) when the page
    was read.
    """

    next_cursor: str | None
    total: int

    def __init__(self, letters: Iterable[DeadLetter], next_cursor: str | None, total: int) -> None:
        super().__init__(letters)
        self.next_cursor = next_cursor
        self.total = total


def encode_cursor(failed_ms: int, task_id: str) -> str:
    """The cursor after a dead letter: its time and id, URL-safe and shell-safe."""
    raw = f"{failed_ms}:{task_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """``(failed_ms, task_id)`` from a cursor made by ``encode_cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        failed_ms, task_id = raw.split(":", 1)
        return int(failed_ms), task_id
    except (TypeError, ValueError, binascii.Error) as exc:
        raise InvalidArgument(f"not a dead-letter cursor: {cursor!r}") from exc


def _reason_arg(reason: DeadReason | str | None) -> str:
    return "" if reason is None else reason_value(reason)


class DeadLetters:
    """The dead letters of one queue, over its scripts.

    ``load`` turns a stored payload into the task's data (the queue's
    serializer); a payload it cannot load is shown as stored.
    """

    def __init__(self, scripts: Scripts, load: Callable[[Any], Any]) -> None:
        self._scripts = scripts
        self._load = load

    def record(self, task_id: str, meta: dict[str, Any], payload: Any) -> DeadLetter:
        """The ``DeadLetter`` of a stored task."""
        try:
            data = self._load(payload)
        except Exception:  # noqa: BLE001 - show what is stored when it cannot be decoded
            data = payload
        return records.dead_letter(task_id, meta, data)

    async def page(
        self, limit: int = 100, offset: int = 0, *,
        reason: DeadReason | str | None = None, cursor: str | None = None,
    ) -> FailedPage:
        """Up to ``limit`` dead letters, newest first, after ``cursor`` (or ``offset``).

        ``limit`` (>= 1) and ``offset`` (>= 0) come checked: ``Arque.list_failed``
        is the public entry.
        """
        after_ms: int | str = ""
        after_id = ""
        if cursor is not None:
            if offset:
                raise InvalidArgument("give either offset or cursor, not both")
            after_ms, after_id = decode_cursor(cursor)
        args: list[str | int] = [offset, limit, _reason_arg(reason), after_ms, after_id]
        reply = await self._scripts.call("list_failed", args)
        total, more = int(reply[0]), int(reply[1])
        letters, last = [], None
        for i in range(2, len(reply), 4):
            raw_id, score, raw_meta, payload = reply[i : i + 4]
            task_id = records.text(raw_id)
            last = (int(float(score)), task_id)
            if raw_meta is not None:  # an index entry whose task is gone: nothing to show
                letters.append(self.record(task_id, records.parse_meta(raw_meta), payload))
        next_cursor = encode_cursor(*last) if more and last is not None else None
        return FailedPage(letters, next_cursor, total)

    async def act(
        self, script: str, task_id: str | None, reason: DeadReason | str | None
    ) -> int:
        """``replay`` or ``purge`` one dead letter, or all (of a reason); returns how many."""
        if task_id is not None:
            if reason is not None:
                raise InvalidArgument("give either task_id or reason, not both")
            return int(await self._scripts.call(script, [task_id, 1, ""]))
        done = 0
        async for count in self.chunks(script, reason):
            done += count
        return done

    async def chunks(
        self, script: str, reason: DeadReason | str | None = None, *, at_most: int | None = None
    ) -> AsyncIterator[int]:
        """``replay`` or ``purge`` the dead letters (of ``reason``), oldest first.

        One script call per chunk of ``CHUNK``; yields how many each did. It
        acts on at most ``at_most`` (default: as many as there are when it
        starts), so dead letters that arrive meanwhile (a replayed task that
        fails again) are left for the next call instead of keeping it going.
        """
        if script not in ("replay", "purge"):
            raise InvalidArgument(f"script must be 'replay' or 'purge', got {script!r}")
        why = _reason_arg(reason)
        left = (await self.page(1, 0, reason=reason)).total if at_most is None else at_most
        while left > 0:
            asked = min(CHUNK, left)
            count = int(await self._scripts.call(script, ["", asked, why]))
            if count:
                yield count
            if count < asked:
                return
            left -= count
