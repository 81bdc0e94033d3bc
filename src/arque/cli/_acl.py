"""``arque acl``: print the ``ACL SETUSER`` lines of the least privileges each role needs."""

from __future__ import annotations

import click

from ..acl import ROLES, acl_rules, setuser_line
from ._base import EXIT_CODES, Settings, connection_options

__all__ = ["acl"]


@click.command(epilog=EXIT_CODES)
@connection_options
@click.option("--role", "roles", type=click.Choice(list(ROLES)), multiple=True,
              help="producer, worker or operator; repeat it for several (default: all three).")
@click.option("--user", metavar="NAME", default=None,
              help="The ACL user name (default: PREFIX-QUEUE-ROLE); needs one --role.")
@click.option("--durable", is_flag=True,
              help="Allow WAIT, for queues made with durability=Durability(...).")
@click.option("--durable-aof", is_flag=True,
              help="Allow WAITAOF instead, for Durability(aof=True) (Redis >= 7.2).")
@click.option("--cluster", is_flag=True, help="Allow CLUSTER SLOTS, for cluster clients.")
def acl(
    settings: Settings, roles: tuple[str, ...], user: str | None, durable: bool,
    durable_aof: bool, cluster: bool,
) -> None:
    """Print ACL SETUSER lines granting each role exactly what it needs on the queues.

    Only the keys of the given queues (~PREFIX:{QUEUE}:*), no Pub/Sub
    channel, and only the commands the role sends or its scripts run.
    Passwords are left as they are: add one with `ACL SETUSER NAME >secret`.
    Nothing connects to Redis; pipe the lines to redis-cli.

    \b
    Example:
      arque acl --queue emails --role worker | redis-cli
    """
    chosen = roles or tuple(ROLES)
    if user is not None and len(chosen) != 1:
        raise click.UsageError("--user names one user: give exactly one --role with it")
    for role in chosen:
        rules = acl_rules(role, settings.queues, prefix=settings.prefix,
                          durable=durable or durable_aof, durable_aof=durable_aof,
                          cluster=cluster)
        name = user or f"{settings.prefix}-{'-'.join(dict.fromkeys(settings.queues))}-{role}"
        click.echo(setuser_line(name, rules))
