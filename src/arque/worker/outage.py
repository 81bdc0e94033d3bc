"""Riding out a Redis outage: log once, back off, go on."""

from __future__ import annotations

import logging
import time

__all__ = ["Outage"]

_FIRST_DELAY = 0.05
_MAX_DELAY = 2.0


class Outage:
    """The outage state of one loop: a warning when it starts, one line when it ends.

    ``failed()`` returns how long to wait before trying again: exponential
    from 50 ms, capped at 2 s.
    """

    def __init__(self, what: str, logger: logging.Logger, max_delay: float = _MAX_DELAY) -> None:
        self._what = what
        self._logger = logger
        self._max_delay = max_delay
        self._since: float | None = None
        self._delay = _FIRST_DELAY

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> float:
        """Note a failed call; returns the seconds to wait before the next one."""
        if self._since is None:
            self._since = time.monotonic()
            self._delay = _FIRST_DELAY
            self._logger.warning("%s: Redis unavailable (%s); retrying", self._what, exc)
        else:
            self._delay = min(self._delay * 2, self._max_delay)
        return self._delay

    def ok(self) -> None:
        """Note a successful call; logs the end of an outage."""
        if self._since is not None:
            took = time.monotonic() - self._since
            self._since = None
            self._logger.warning("%s: Redis reachable again after %.1f s", self._what, took)
