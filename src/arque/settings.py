"""A queue's settings, stored with the queue, and the number checks every option uses.

The limits the scripts apply (``QueueSettings``) belong to the queue, not to
the caller: they live in the queue's ``config`` hash in Redis, and every
script reads them from there with one HMGET, falling back to the caller's
value when the queue stores none. Settings given explicitly to ``Arque(...)``
are the owner's and are written to the hash before that instance's first
script; settings left out are never written. So ``Arque(redis)`` in an ops
script, or a bare ``arque sweep``, applies the owner's limits. See
``docs/state-machine.md`` for where each limit comes from.

To add a setting: one line in ``QueueSettings`` (and the script that reads it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import InvalidArgument

__all__ = [
    "DEFAULTS", "QueueSettings", "check_integer", "check_number", "given", "parse_stored",
    "rate_pair",
]


def check_number(name: str, value: Any, *, zero: bool = False) -> float:
    """``value`` as a float: a finite number, positive (``zero``: or 0). Else InvalidArgument."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise InvalidArgument(f"{name} must be {'>= 0' if zero else 'positive'}, got {value!r}")
    return float(value)


def check_integer(name: str, value: Any, *, minimum: int = 1) -> int:
    """``value`` as an int: an integer (not a bool) of at least ``minimum``. Else InvalidArgument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_window(name: str, value: Any) -> float:
    """A rate window: positive, at least a millisecond (Redis keeps whole ms)."""
    seconds = check_number(name, value)
    if seconds < 0.001:
        raise InvalidArgument(f"{name} must be at least 0.001 s, got {value!r}")
    return seconds


def rate_pair(name: str, value: Any) -> dict[str, Any]:
    """``rate_limit=(count, seconds)`` as the two stored settings; None gives none.

    ``(0, ...)`` removes the limit. Anything but a pair of a count and a
    window raises ``InvalidArgument``.
    """
    if value is None:
        return {}
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise InvalidArgument(f"{name} must be (count, seconds), got {value!r}")
    count, window = value
    check_integer(f"{name} count", count, minimum=0)
    return {name: count, name.replace("_limit", "_window"): _check_window(f"{name} seconds", window)}


def _setting(default: float | None, *, minimum: int = 0, ms: bool = False) -> Any:
    """A field of ``QueueSettings``: its default, its lower bound, and whether Redis keeps ms.

    ``ms`` settings are seconds (floats) in Python and whole milliseconds in
    Redis; the others are integers.
    """
    return field(default=default, metadata={"minimum": minimum, "ms": ms})


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """The limits of one queue, as its scripts apply them.

    ``await queue.settings()`` returns the effective ones (stored, else the
    caller's); ``Arque(..., requeue_limit=6)`` or ``await queue.configure(...)``
    store them. Every field is checked: a bad value raises ``InvalidArgument``.
    """

    working_limit: int = _setting(1000)
    """At most this many tasks working at once, all consumers together (0: no limit)."""
    requeue_limit: int = _setting(3, minimum=1)
    """A task is handed out at most this many times."""
    recovery_limit: int | None = _setting(None, minimum=1)
    """A task whose lease expired this many times is a poison pill (None: requeue_limit)."""
    max_failed: int = _setting(10_000)
    """Dead letters kept, by count (0: unbounded)."""
    failed_ttl: float = _setting(7 * 24 * 3600.0, ms=True)
    """Seconds a dead letter is kept (0: for ever)."""
    result_ttl: float = _setting(0.0, ms=True)
    """Seconds a handler's result is kept for ``Arque.result`` (0: results off)."""
    max_results: int = _setting(100_000)
    """Results kept, by count: the oldest go first (0: unbounded)."""
    group_limit: int = _setting(0)
    """At most this many tasks of any one group working at once (0: no limit)."""
    rate_limit: int = _setting(0)
    """At most this many hand-outs in any window of ``rate_window`` seconds (0: no limit)."""
    rate_window: float = _setting(1.0, ms=True)
    """The sliding window of ``rate_limit``, in seconds."""
    group_rate_limit: int = _setting(0)
    """At most this many hand-outs of one group in any ``group_rate_window`` (0: no limit)."""
    group_rate_window: float = _setting(1.0, ms=True)
    """The sliding window of ``group_rate_limit``, in seconds."""

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None and spec.default is None:
                continue
            if spec.name.endswith("_window"):
                object.__setattr__(self, spec.name, _check_window(spec.name, value))
            elif spec.metadata["ms"]:
                object.__setattr__(self, spec.name, check_number(spec.name, value, zero=True))
            else:
                check_integer(spec.name, value, minimum=spec.metadata["minimum"])

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The names of the settings, as the config hash and the CLI spell them."""
        return tuple(spec.name for spec in fields(cls))

    def effective_recovery_limit(self) -> int:
        """``recovery_limit``, or ``requeue_limit`` when it is not set."""
        return self.requeue_limit if self.recovery_limit is None else self.recovery_limit

    def resolved(self) -> QueueSettings:
        """These settings with ``recovery_limit`` filled in (what the scripts apply)."""
        return replace(self, recovery_limit=self.effective_recovery_limit())

    def redis_value(self, name: str) -> int:
        """Setting ``name`` as the scripts read it: an integer, ms for durations, 0 for None."""
        value = getattr(self, name)
        if value is None:
            return 0
        return round(value * 1000) if _is_ms(name) else int(value)

    def merged(self, stored: Mapping[str, Any]) -> QueueSettings:
        """These settings overridden by ``stored`` (as ``parse_stored`` reads them)."""
        return replace(self, **stored)


def parse_stored(reply: Sequence[Any]) -> dict[str, float]:
    """The settings in ``configure.lua``'s reply (``[name, value, ...]``), in Python units.

    A name this version does not know, or a value that is not a valid one
    (written by hand), is left out: the scripts fall back to the caller's
    value for those too.
    """
    found: dict[str, float] = {}
    for raw_name, raw in zip(reply[::2], reply[1::2]):
        name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
        if name not in QueueSettings.names():
            continue  # a setting of a newer version: its own scripts apply it
        try:
            value: float = int(raw)
            if _is_ms(name):
                value /= 1000
            check: dict[str, Any] = {name: value}
            replace(DEFAULTS, **check)
        except (TypeError, ValueError):  # InvalidArgument is a ValueError
            continue
        found[name] = value
    return found


def _is_ms(name: str) -> bool:
    return bool(QueueSettings.__dataclass_fields__[name].metadata["ms"])


DEFAULTS = QueueSettings()
"""The built-in settings: what applies when neither the queue nor the caller sets one."""


def given(**values: Any) -> dict[str, Any]:
    """The settings among ``values`` that are not None, checked: the ones a caller gave.

    Unknown names raise ``InvalidArgument`` (a typo must not pass silently).
    """
    unknown = sorted(set(values) - set(QueueSettings.names()))
    if unknown:
        raise InvalidArgument(f"unknown setting(s) {', '.join(unknown)}; "
                              f"known: {', '.join(QueueSettings.names())}")
    chosen = {name: value for name, value in values.items() if value is not None}
    replace(DEFAULTS, **chosen)  # checks every value
    return chosen
