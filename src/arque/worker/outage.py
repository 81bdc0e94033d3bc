"""Riding out Redis episodes: log once, back off with jitter, go on.

An episode is a stretch of time in which some call of a worker fails because
of Redis: a lost connection, a timeout, or any error reply (BUSY, READONLY,
OOM, MISCONF, LOADING, NOPERM, ...). Every loop of a worker reports its calls
to the worker's one ``Episodes``: the first failure logs one line (a warning,
or an error when an operator must act: NOPERM or an unexpected reply), the
end of the episode (every loop that failed has succeeded again) logs one
line. In between, calls fail quietly and each loop waits a backoff that grows
from 50 ms to 2 s, with jitter so a fleet of workers does not retry in step.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter

from ..errors import (
    REDIS_ERRORS,
    ArqueError,
    PermissionDenied,
    RedisUnavailable,
    reply_code,
    translate,
)

__all__ = ["FAILURES", "Episodes", "Outage", "describe"]

FAILURES: tuple[type[BaseException], ...] = (ArqueError, *REDIS_ERRORS)
"""What a loop treats as "Redis cannot do this now": it waits and tries again."""

_FIRST_DELAY = 0.05
_MAX_DELAY = 2.0


def describe(exc: BaseException) -> tuple[int, str]:
    """The log level and the text that tell an operator what ``exc`` means."""
    if isinstance(exc, REDIS_ERRORS):
        exc = translate(exc)
    if isinstance(exc, PermissionDenied):
        missing = f"'{exc.permission}'" if exc.permission else "a command or key it uses"
        return logging.ERROR, (f"Redis refuses a command (NOPERM): the ACL user lacks "
                               f"{missing}; grant it and the worker resumes ({exc})")
    code = reply_code(exc)
    if isinstance(exc, RedisUnavailable):
        what = f"Redis cannot serve now ({code})" if code else "Redis unavailable"
        return logging.WARNING, f"{what}: {exc}"
    return logging.ERROR, f"Redis answered an error ({code or type(exc).__name__}): {exc}"


class Episodes:
    """The Redis episodes of one worker, shared by its loops (thread-safe)."""

    def __init__(self, logger: logging.Logger, name: str = "worker") -> None:
        self._logger = logger
        self._name = name
        self._lock = threading.Lock()
        self._failing: set[int] = set()
        self._since: float | None = None
        self._kinds: Counter[str] = Counter()
        self._loud = False
        self.count = 0
        """Episodes begun so far."""

    @property
    def down(self) -> bool:
        """Whether some loop's last call failed."""
        return self._since is not None

    def failed(self, loop: int, what: str, exc: BaseException) -> None:
        """Loop ``loop`` (an id) failed a call; logs only at the start of an episode."""
        level, text = describe(exc)
        kind = reply_code(exc) or "connection"
        with self._lock:
            self._failing.add(loop)
            self._kinds[kind] += 1
            first = self._since is None
            if first:
                self._since = time.monotonic()
                self._loud = level >= logging.ERROR
                self.count += 1
            elif level >= logging.ERROR and not self._loud:
                self._loud = True  # an operator must hear of this, even mid-episode
            else:
                return
        self._logger.log(level, "%s: %s: %s; retrying with backoff", self._name, what, text)

    def ok(self, loop: int) -> None:
        """Loop ``loop`` succeeded a call; logs the end of an episode when it was the last."""
        with self._lock:
            if loop not in self._failing:
                return
            self._failing.discard(loop)
            if self._failing or self._since is None:
                return
            took = time.monotonic() - self._since
            kinds = ", ".join(f"{kind} x{n}" for kind, n in self._kinds.most_common())
            self._since = None
            self._kinds.clear()
        self._logger.warning("%s: Redis answers again after %.1f s (failed calls: %s)",
                             self._name, took, kinds)


class Outage:
    """The backoff of one loop, reporting to its worker's ``Episodes``.

    ``failed(exc)`` returns how long to wait before trying again: exponential
    from 50 ms, capped at ``max_delay``, each wait drawn from [half, all] of
    it. Without ``episodes``, the loop logs its episodes on its own.
    """

    def __init__(self, what: str, logger: logging.Logger, max_delay: float = _MAX_DELAY,
                 episodes: Episodes | None = None) -> None:
        self._what = what
        self._max_delay = max_delay
        self._episodes = episodes or Episodes(logger, "arque")
        self._rng = random.Random()
        self._delay = 0.0
        self._down = False

    @property
    def down(self) -> bool:
        return self._down

    def failed(self, exc: BaseException) -> float:
        """Note a failed call; returns the seconds to wait before the next one."""
        self._episodes.failed(id(self), self._what, exc)
        self._down = True
        self._delay = min(self._delay * 2, self._max_delay) if self._delay else _FIRST_DELAY
        return self._delay * self._rng.uniform(0.5, 1.0)

    def ok(self) -> None:
        """Note a successful call; ends this loop's part of an episode."""
        if self._down:
            self._down = False
            self._delay = 0.0
            self._episodes.ok(id(self))

    def close(self) -> None:
        """This loop gives up (e.g. an outcome abandoned): no longer part of an episode."""
        self.ok()
