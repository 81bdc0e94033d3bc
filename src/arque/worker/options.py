"""Small frozen option objects of the worker: retry backoff and health signals."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgument
from ..settings import check_number

__all__ = ["Backoff", "Health"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff between attempts of a failing task.

    The cap of attempt ``n`` (1 for the first) is ``min(max, base * factor **
    (n - 1))`` seconds; with ``jitter`` the delay is drawn uniformly from
    ``[0, cap]`` ("full jitter"), so tasks that failed together do not retry
    together.
    """

    base: float = 1.0
    factor: float = 2.0
    max: float = 300.0
    jitter: bool = True

    def __post_init__(self) -> None:
        check_number("base", self.base, zero=True)
        check_number("max", self.max, zero=True)
        check_number("factor", self.factor)
        if self.factor < 1:
            raise InvalidArgument(f"factor must be >= 1, got {self.factor!r}")

    def cap(self, attempt: int) -> float:
        """The longest delay after a failure of attempt number ``attempt``."""
        exponent = max(attempt, 1) - 1
        try:
            grown = self.base * self.factor**exponent
        except OverflowError:
            grown = math.inf
        return min(self.max, grown)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay (seconds) before the next attempt after attempt ``attempt`` failed."""
        cap = self.cap(attempt)
        if not self.jitter:
            return cap
        return (rng or random).uniform(0.0, cap)


@dataclass(frozen=True, slots=True)
class Health:
    """How the worker tells an orchestrator that it is alive and consuming.

    ``file``: touched (mtime) at least every few seconds while the fetch loop
    turns, idle or busy, and also while Redis fails; a liveness probe checks
    its age. ``port``: serve ``GET /healthz`` (liveness: 200 while the last
    turn of the fetch loop is younger than ``unhealthy_after`` seconds, else
    503) and ``GET /readyz`` (readiness: 200 while alive, taking work and
    Redis answers; 503 while starting, shutting down or during a Redis
    episode) on ``host``. Port 0 picks a free port (see ``Worker.health_port``).
    """

    file: Path | str | None = None
    port: int | None = None
    host: str = "0.0.0.0"
    unhealthy_after: float = 30.0

    def __post_init__(self) -> None:
        check_number("unhealthy_after", self.unhealthy_after)
        if self.port is not None and (
            isinstance(self.port, bool) or not isinstance(self.port, int)
            or not 0 <= self.port <= 65535
        ):
            raise InvalidArgument(f"port must be an integer in 0..65535, got {self.port!r}")
