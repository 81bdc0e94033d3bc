"""A permission error of a script, told in terms of the ACL rule that is missing.

Redis answers a script that calls a command the ACL user may not run with
"can't run this command ... @user_script:LINE", without naming it, and a
script given a key outside the user's patterns with "one of the keys". The
script's source at that line, and the queue's key pattern, tell which.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["explain_permission"]

# What Redis 6.2 and 7 answer (redis-py may strip the leading code).
_SCRIPT_NOPERM = "can't run this command"
_SCRIPT_LINE = re.compile(r"@user_script:\s*(\d+)")
_KEY_NOPERM = "no permissions to access one of the keys"
_CALL = re.compile(r"redis\.p?call\(\s*'([A-Za-z]+)'")
# A refusal a script caught (redis.pcall) and passed on with the command named.
_NAMED = re.compile(r"can't run this command[^(]*\(([a-z|]+)\)")


def explain_permission(name: str, pattern: str, exc: Any) -> Any:
    """``exc`` with the missing rule named first, when it is a permission error; else ``exc``.

    ``name`` is the script that ran, ``pattern`` the queue's key pattern.
    """
    message = str(exc)
    if _SCRIPT_NOPERM in message:
        command = _called_at(name, message)
        if command:
            what = f"'+{command}', which script {name} calls"
            return type(exc)(f"the ACL user lacks {what}: {message}")
    elif _KEY_NOPERM in message:
        return type(exc)(f"the ACL user lacks the keys of this queue, '~{pattern}': {message}")
    return exc


def _called_at(name: str, message: str) -> str | None:
    """The command a script's permission error is about: named in it, or at the line it gives."""
    from . import source  # the package imports this module first

    named = _NAMED.search(message)
    if named:
        return named.group(1)
    line = _SCRIPT_LINE.search(message)
    lines = source(name).splitlines()
    if line and 0 < int(line.group(1)) <= len(lines):
        called = _CALL.search(lines[int(line.group(1)) - 1])
        if called:
            return called.group(1).lower()
    return None
