"""What ``arque demo`` shows: the tasks per state and the worker's throughput.

``LiveView`` redraws a small panel in place on a terminal (ANSI cursor
moves); ``LineView`` prints one line a second, for logs and pipes.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from .records import QueueStats
from .worker import WorkerStats

__all__ = ["Counts", "LineView", "LiveView", "View"]

_HISTORY = 40  # seconds of throughput in the sparkline
_BAR_WIDTH = 30
_SPARKS = " ▁▂▃▄▅▆▇█"
_EIGHTHS = " ▏▎▍▌▋▊▉"


@dataclass
class Counts:
    """Totals of the demo and of its worker, and how they moved in the last second."""

    produced: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    rates: dict[str, int] = field(default_factory=dict)
    history: deque[int] = field(default_factory=lambda: deque(maxlen=_HISTORY))
    """Processed per second, oldest first."""

    def take(self, stats: WorkerStats) -> None:
        """Note the worker's counters, once a second."""
        now = {"enqueued": self.produced, "processed": stats.processed,
               "retried": stats.retried, "dead-lettered": stats.dead_lettered,
               "timed out": stats.timed_out}
        self.rates = {name: value - self.totals.get(name, 0) for name, value in now.items()}
        self.totals = now
        self.history.append(self.rates["processed"])


class View(Protocol):
    def show(self, tick: int, stats: QueueStats, counts: Counts) -> None:
        """Show the state after ``tick`` seconds."""

    def close(self) -> None:
        """The demo is stopping: leave the terminal as it was."""


class LineView:
    """One line a second."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say

    @staticmethod
    def line(when: str, stats: QueueStats) -> str:
        """The tasks per state, after a label of 6 columns."""
        return (f"{when:>6}  pending {stats.pending:5d}  delayed {stats.delayed:5d}  "
                f"working {stats.working:5d}  failed {stats.failed:5d}")

    def show(self, tick: int, stats: QueueStats, counts: Counts) -> None:
        rates = counts.rates
        self._say(f"{self.line(f'{tick:5d}s', stats)}  processed/s {rates['processed']:5d}  "
                  f"retried/s {rates['retried']:4d}  dead/s {rates['dead-lettered']:4d}")

    def close(self) -> None:
        pass


class LiveView:
    """A panel redrawn in place: states with bars, throughput with a sparkline."""

    def __init__(self, queue: str, working_limit: int, out: TextIO | None = None) -> None:
        self._queue = queue
        self._working_limit = working_limit
        self._out = out or sys.stdout
        self._drawn = 0

    def show(self, tick: int, stats: QueueStats, counts: Counts) -> None:
        lines = self.panel(tick, stats, counts)
        up = f"\x1b[{self._drawn}F" if self._drawn else "\x1b[?25l"  # up; or hide the cursor
        self._out.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
        self._out.flush()
        self._drawn = len(lines)

    def close(self) -> None:
        if self._drawn:
            self._out.write("\x1b[?25h")  # the cursor again
            self._out.flush()

    def panel(self, tick: int, stats: QueueStats, counts: Counts) -> list[str]:
        """The lines of the panel."""
        states = [("pending", stats.pending, ""), ("delayed", stats.delayed, "backoff, scheduled"),
                  ("working", stats.working, f"working_limit {self._working_limit}"),
                  ("failed", stats.failed, "dead letters")]
        top = max(1, *(n for _, n, _ in states))
        lines = [f"{tick:5d} s  queue {self._queue!r}  (Ctrl-C to stop)", ""]
        lines += [f"  {name:<13} {n:6d}  {_bar(n / top):<{_BAR_WIDTH}}  {note}".rstrip()
                  for name, n, note in states]
        lines += ["", f"  {'':<13} {'/s':>6}  {'total':>7}"]
        for name, total in counts.totals.items():
            line = f"  {name:<13} {counts.rates[name]:6d}  {total:7d}"
            if name == "processed":
                line += f"  {_sparkline(list(counts.history))}  last {_HISTORY} s"
            lines.append(line)
        return lines


def _bar(fraction: float) -> str:
    eighths = round(max(0.0, min(1.0, fraction)) * _BAR_WIDTH * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def _sparkline(values: list[int]) -> str:
    top = max(values, default=0) or 1
    line = "".join(_SPARKS[round(v / top * (len(_SPARKS) - 1))] for v in values)
    return line.rjust(_HISTORY)
