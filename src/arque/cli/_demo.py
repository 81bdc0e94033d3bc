"""``arque demo``: producers, a worker and a live view on a queue of its own."""

from __future__ import annotations

import logging

import click

from ..demo import DemoOptions
from ..demo import run as run_demo
from ._base import group_redis_url

__all__ = ["demo"]


@click.command()
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Run this long (default: until Ctrl-C or SIGTERM).")
@click.option("--producers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--concurrency", "--consumers", "concurrency", type=click.IntRange(min=1),
              default=8, show_default=True, help="Handlers the worker runs at once.")
@click.option("--working-limit", type=click.IntRange(min=1), default=5, show_default=True,
              help="Global limit of tasks in execution.")
@click.option("--redis", "redis_url", metavar="URL", default=None,
              help="Redis to use (default: $REDIS_URL, else redis://127.0.0.1:6379 if it "
                   "answers, else an embedded redis-server).")
@click.option("--live/--lines", default=None,
              help="Redraw a panel in place, or print a line a second (default: a panel "
                   "when stdout is a terminal).")
@click.pass_context
def demo(
    ctx: click.Context, seconds: float | None, producers: int, concurrency: int,
    working_limit: int, redis_url: str | None, live: bool | None,
) -> None:
    """Producers, a worker and a live view of states and throughput, on a queue of its own.

    Some tasks fail at random and are retried after a backoff, poison ones
    reach dead letters after their last attempt, invalid ones at once. The
    queue's keys are deleted on exit.
    """
    # Retries and dead letters are the show here, not warnings about them.
    logging.basicConfig(level=logging.ERROR, format="%(name)s: %(levelname)s %(message)s")
    options = DemoOptions(seconds=seconds, producers=producers, concurrency=concurrency,
                          working_limit=working_limit,
                          redis_url=redis_url or group_redis_url(ctx), live=live)
    raise SystemExit(run_demo(options))
