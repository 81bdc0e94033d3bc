"""The least Redis ACL each role needs: the ``ACL SETUSER`` rules of a producer, worker, operator.

Redis checks every command a Lua script runs against the caller's ACL, so a
role needs the commands of the scripts it runs as well as those it sends
itself. The script commands are read from the script sources, so the rules
follow the scripts. Every role gets only its queues' keys (``~prefix:{queue}:*``)
and no Pub/Sub channel::

    producer   configure, enqueue, enqueue_one, result (arque.Arque.enqueue*)
    worker     configure, dequeue, release, requeue, extend, fail, sweep,
               register_worker, record_throughput (arque.Worker, arque worker)
    operator   every script                       (the arque CLI)

See ``docs/security.md``; ``arque acl`` prints the lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import InvalidArgument
from .keys import key_pattern
from .scripts import KEYS, source

__all__ = ["ROLES", "Role", "acl_rules", "script_commands", "setuser_line"]

_CALL = re.compile(r"redis\.p?call\(\s*'([A-Za-z]+)'")


@dataclass(frozen=True)
class Role:
    """What one kind of client runs: scripts (EVALSHA) and commands it sends itself."""

    scripts: frozenset[str]
    commands: frozenset[str]
    about: str


# Every client: EVALSHA, and SCRIPT LOAD after a NOSCRIPT (restarted or flushed server);
# PING: the CLI's first contact and the worker's health check.
_BASE = frozenset({"evalsha", "script|load", "ping"})

# Every Arque instance runs ``configure`` before its first script (queue settings).
ROLES: dict[str, Role] = {
    # ``result``: a producer may await what its tasks return (XREAD on the finished stream).
    "producer": Role(frozenset({"configure", "enqueue", "enqueue_one", "result"}), _BASE | {"xread"},
                     "enqueues tasks and awaits their results"),
    "worker": Role(
        frozenset({"configure", "dequeue", "release", "requeue", "extend", "fail", "sweep",
                   # Results' retention, handlers' progress, and firing due schedules.
                   "expire_results", "progress", "schedule_due", "schedule_fire",
                   # The live workers list and the throughput rollups (observability).
                   "register_worker", "record_throughput"}),
        # BZPOPMIN: an idle consumer blocks on the marker; ZADD: raises it for a due
        # wake-up; TIME: the worker reads the Redis clock once (lease deadlines).
        _BASE | {"bzpopmin", "zadd", "time"},
        "runs tasks (arque worker)",
    ),
    "operator": Role(frozenset(KEYS), _BASE, "inspects, replays and purges (the arque CLI)"),
}


def script_commands(name: str) -> frozenset[str]:
    """The commands script ``name`` calls (lower case), its includes counted."""
    return frozenset(command.lower() for command in _CALL.findall(source(name)))


def acl_rules(
    role: str, queues: Sequence[str], *, prefix: str = "arque", durable: bool = False,
    durable_aof: bool = False, cluster: bool = False,
) -> list[str]:
    """The ACL rules of ``role`` on ``queues`` (for ``ACL SETUSER``), without user or password.

    ``durable`` adds WAIT (a queue with ``Durability``), ``durable_aof``
    WAITAOF (Redis >= 7.2); ``cluster`` adds CLUSTER SLOTS (a cluster client
    reads the slot map with it).
    """
    if role not in ROLES:
        raise InvalidArgument(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not queues:
        raise InvalidArgument("give at least one queue")
    spec = ROLES[role]
    commands = set(spec.commands)
    for script in spec.scripts:
        commands |= script_commands(script)
    if durable and role in {"producer", "operator"}:  # replay waits too
        commands.add("waitaof" if durable_aof else "wait")
    if cluster:
        commands.add("cluster|slots")
    keys = [f"~{key_pattern(prefix, queue)}" for queue in dict.fromkeys(queues)]
    return ["resetkeys", *keys, "resetchannels", "-@all", *(f"+{c}" for c in sorted(commands))]


def setuser_line(user: str, rules: Iterable[str]) -> str:
    """``ACL SETUSER user on <rules>``: passwords are left as they are (add ``>secret``)."""
    if not user or any(c.isspace() for c in user):
        raise InvalidArgument(f"user must be a name without spaces, got {user!r}")
    return " ".join(["ACL", "SETUSER", user, "on", *rules])
